# Shared paths, pins and helpers for the Gradle-free checks. Sourced by the other scripts, not run.
# Everything downloaded lives under android_demo/.tools/ (git-ignored); every build output under android_demo/build/.
set -euo pipefail

DEMO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${MYQASR_ANDROID_TOOLS:-$DEMO_DIR/.tools}
BUILD=${MYQASR_ANDROID_BUILD:-$DEMO_DIR/build}
APP=$DEMO_DIR/app
MAIN_JAVA=$APP/src/main/java
TEST_JAVA=$APP/src/test/java
TEST_RES=$APP/src/test/resources
PKG_DIR=org/myqasr/demo
APP_ID=org.myqasr.demo
MIN_SDK=23
TARGET_SDK=34
VERSION_CODE=1
VERSION_NAME=0.1

# Android platform jar (API 23) and dx: arch-all .debs from Debian bullseye, extracted, never installed.
BULLSEYE_DEBS="libandroid-23-java dalvik-exchange"
declare -A DEB_FILE=(
  [libandroid-23-java]=pool/main/a/android-framework-23/libandroid-23-java_6.0.1+r72-6_all.deb
  [dalvik-exchange]=pool/main/a/android-platform-dalvik/dalvik-exchange_10.0.0+r36-1_all.deb
)
declare -A DEB_SHA256=(
  [libandroid-23-java]=8af1b6df556971dda0a6da3536ea526a838e0c363afcdd454213d8bce94793e3
  [dalvik-exchange]=8fc128db7c27253d963eb9b33de79b197162a4749d2ba69019b2fd0664cbd7fe
)
ANDROID_JAR=$TOOLS/sdkroot/usr/share/java/com.android.android-23.jar
ANDROID_JAR_SHA256=4475aa3fe1fc28bdb87ae6351d6ccff58f344a1b9e2fe685f7a6fee41ba68613
DX_JAR=$TOOLS/sdkroot/usr/share/java/com.android.dx-10.0.0.jar
DX_JAR_SHA256=33fa9ae74e3fec5472170bde4e69e96d1fa46408ea4e4c3b657d255ab9199ee5

# The ExecuTorch Java API, compile-only: react-native-executorch ships it as android/libs/classes.jar.
ET_NPM_SPEC=react-native-executorch@0.9.3
ET_NPM_TGZ=$TOOLS/npm/react-native-executorch-0.9.3.tgz
ET_NPM_TGZ_SHA256=70a20a865b82f47ac46c82711d93c2038cf99eccbb9b287494219063f2217622
ET_API_JAR=$TOOLS/executorch-api/classes.jar
ET_API_JAR_SHA256=d6b63816ac0831759ee79835ee1546191551bc0b58ac8f85396b8a6d121320b1

# Debian bookworm packages (apt): a JDK, the build tools, JUnit; curl for the fallbacks (a machine without npm).
APT_PACKAGES="openjdk-17-jdk-headless aapt zipalign apksigner dexdump junit4 junit5 libhamcrest-java curl ca-certificates"
JUNIT_CONSOLE=/usr/share/java/junit-platform-console-standalone.jar
JUNIT4_JAR=/usr/share/java/junit4.jar
HAMCREST_JAR=/usr/share/java/hamcrest.jar

die() { echo "android_demo: error: $*" >&2; exit 1; }
step() { echo "== $*"; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# check_sha256 FILE EXPECTED: true when FILE exists and has that digest.
check_sha256() { [ -f "$1" ] && [ "$(sha256_of "$1")" = "$2" ]; }

require_file() { [ -f "$1" ] || die "$1 is missing: run android_demo/scripts/fetch_tools.sh first"; }

# The main (non-test) Java sources, split into the Android-free core and the app layer.
core_sources() { find "$MAIN_JAVA/$PKG_DIR/core" -name '*.java' | sort; }
all_main_sources() { find "$MAIN_JAVA" -name '*.java' | sort; }

# gen_r_java DIR: DIR/AndroidManifest.xml (the source manifest plus package=, which AGP takes from the namespace)
# and DIR/gen/.../R.java from the resources.
gen_r_java() {
  mkdir -p "$1/gen"
  sed "s|<manifest |<manifest package=\"$APP_ID\" |" "$APP/src/main/AndroidManifest.xml" > "$1/AndroidManifest.xml"
  aapt package -f -m -J "$1/gen" -M "$1/AndroidManifest.xml" -S "$APP/src/main/res" -I "$ANDROID_JAR" \
    --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK"
}

# javac_android ARGS...: Java 8 bytecode (dx reads nothing newer), API 23 classes only, the ExecuTorch API on the
# compile classpath, every lint warning an error. -Xlint:-classfile: the API jar's Kotlin classes (AsrModule, ...)
# carry kotlin.Metadata annotations whose class (kotlin-stdlib) is not on the compile path and is not needed to
# call them; that lint is about the jar's class files, never about the app's sources.
javac_android() {
  javac -source 8 -target 8 -encoding UTF-8 -Xlint:all -Xlint:-options -Xlint:-classfile -Werror \
    -bootclasspath "$ANDROID_JAR" -classpath "$ET_API_JAR" "$@"
}
