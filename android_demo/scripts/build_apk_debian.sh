#!/usr/bin/env bash
# Build app/src/main into a signed APK with Debian tools only (aapt, javac, dx, zipalign, apksigner) and check
# it. Same sources as the Gradle build; the ExecuTorch API jar is on the compile classpath only, so the APK has
# no runtime and says so on screen. Output: build/myqasr-demo-debian.apk.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for f in "$ANDROID_JAR" "$DX_JAR" "$ET_API_JAR"; do require_file "$f"; done

OUT=$BUILD/apk
APK=$BUILD/myqasr-demo-debian.apk
KEYSTORE=$TOOLS/debug.keystore
rm -rf "$OUT" "$APK"
mkdir -p "$OUT/obj" "$OUT/dex"

step "Gradle project = this build (app/build.gradle.kts vs common.sh; one ExecuTorch version everywhere)"
GRADLE=$APP/build.gradle.kts
gradle_value() { sed -n "s/^ *$1 = \"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$GRADLE" | head -n1; }
for pair in "namespace=$APP_ID" "applicationId=$APP_ID" "minSdk=$MIN_SDK" "targetSdk=$TARGET_SDK" \
            "versionCode=$VERSION_CODE" "versionName=$VERSION_NAME"; do
  key=${pair%%=*}; want=${pair#*=}; got=$(gradle_value "$key")
  [ "$got" = "$want" ] || die "$GRADLE: $key is '$got', but this build uses '$want'"
done
et_gradle=$(sed -n 's/.*"org\.pytorch:executorch-android:\([^"]*\)".*/\1/p' "$GRADLE")
et_app=$(sed -n 's/.*EXECUTORCH_VERSION = "\([^"]*\)".*/\1/p' "$MAIN_JAVA/$PKG_DIR/core/RuntimeCheck.java")
et_pip=$(grep -o '"executorch==[^"]*"' "$DEMO_DIR/../setup.py" | sort -u | sed 's/"executorch==\(.*\)"/\1/')
[ -n "$et_gradle" ] && [ "$et_gradle" = "$et_app" ] && [ "$et_gradle" = "$et_pip" ] ||
  die "ExecuTorch versions differ: Gradle executorch-android '$et_gradle', RuntimeCheck '$et_app', setup.py '$et_pip'"
echo "Gradle: $APP_ID, minSdk $MIN_SDK, targetSdk $TARGET_SDK, org.pytorch:executorch-android:$et_gradle (= pip executorch)"

step "aapt: resources and R.java"
gen_r_java "$OUT"

step "javac: Java 8 bytecode against android.jar (API $MIN_SDK) + the ExecuTorch API, -Werror"
# shellcheck disable=SC2046
javac_android -d "$OUT/obj" $(all_main_sources) $(find "$OUT/gen" -name '*.java')

step "dx: classes.dex"
java -jar "$DX_JAR" --dex --min-sdk-version="$MIN_SDK" --output="$OUT/dex/classes.dex" "$OUT/obj"

step "aapt + zipalign + apksigner"
aapt package -f -M "$OUT/AndroidManifest.xml" -S "$APP/src/main/res" -I "$ANDROID_JAR" \
  --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK" --version-code "$VERSION_CODE" \
  --version-name "$VERSION_NAME" -F "$OUT/unaligned.apk"
(cd "$OUT/dex" && aapt add ../unaligned.apk classes.dex >/dev/null)
zipalign -f -p 4 "$OUT/unaligned.apk" "$OUT/aligned.apk"
if [ ! -f "$KEYSTORE" ]; then
  keytool -genkeypair -keystore "$KEYSTORE.tmp" -storepass android -keypass android -alias androiddebugkey \
    -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=Android Debug,O=Android,C=US" 2>/dev/null
  mv "$KEYSTORE.tmp" "$KEYSTORE"
fi
apksigner sign --ks "$KEYSTORE" --ks-pass pass:android --key-pass pass:android --ks-key-alias androiddebugkey \
  --out "$APK" "$OUT/aligned.apk"

step "verify"
verify=$(apksigner verify --verbose "$APK")
echo "$verify" | grep -E '^Verified using v[123]'
echo "$verify" | grep -q '^Verified using v2 scheme (APK Signature Scheme v2): true' || die "apksigner: no v2 signature"
zipalign -c -p 4 "$APK" || die "zipalign -c failed"
badging=$(aapt dump badging "$APK")
echo "$badging" | grep -E "^(package|sdkVersion|targetSdkVersion|application-label|launchable-activity|uses-permission):"
expect() { echo "$badging" | grep -qF "$1" || die "aapt dump badging: missing $1"; }
expect "package: name='$APP_ID' versionCode='$VERSION_CODE' versionName='$VERSION_NAME'"
expect "sdkVersion:'$MIN_SDK'"
expect "targetSdkVersion:'$TARGET_SDK'"
expect "launchable-activity: name='$APP_ID.MainActivity'"
expect "uses-permission: name='android.permission.RECORD_AUDIO'"
dex=$(dexdump "$APK" 2>/dev/null | grep 'Class descriptor' || true)
echo "$dex" | grep -qF "'Lorg/myqasr/demo/MainActivity;'" || die "classes.dex lacks MainActivity"
echo "$dex" | grep -qF "'Lorg/myqasr/demo/core/WhisperTranscriber;'" || die "classes.dex lacks the core classes"
echo "$dex" | grep -qF "'Lorg/myqasr/demo/BenchActivity;'" || die "classes.dex lacks BenchActivity"
echo "$dex" | grep -qF "'Lorg/myqasr/demo/ExecuTorchAsrRunner;'" || die "classes.dex lacks ExecuTorchAsrRunner (AsrModule path)"
echo "$dex" | grep -qF "'Lorg/myqasr/demo/core/AsrRunnerSession;'" || die "classes.dex lacks AsrRunnerSession"
manifest=$(aapt dump xmltree "$APK" AndroidManifest.xml)
echo "$manifest" | grep -qF '".BenchActivity"' || die "the manifest lacks BenchActivity (adb benchmark)"
# issue 13's screens: "Personalize on this phone" and "Compare" (launcher entries), the share-sheet provider
for cls in PersonalizeActivity CompareActivity StatsShareProvider core/PteModel; do
  echo "$dex" | grep -qF "'Lorg/myqasr/demo/$cls;'" || die "classes.dex lacks $cls"
done
for act in PersonalizeActivity CompareActivity; do
  expect "launchable-activity: name='$APP_ID.$act'"
done
authority=$(sed -n 's/.*String AUTHORITY = "\([^"]*\)".*/\1/p' "$MAIN_JAVA/$PKG_DIR/core/ShareSpec.java")
provider=$(echo "$manifest" | grep -A8 'E: provider')
echo "$provider" | grep -qF "\"$authority\"" || die "the manifest's provider authority is not ShareSpec.AUTHORITY ($authority)"
echo "$provider" | grep -qE 'grantUriPermissions.*=\(type 0x12\)0xffffffff' || die "the provider must grant URI permissions"
echo "$provider" | grep -qE 'exported.*=\(type 0x12\)0x0' || die "the share provider must not be exported"
if echo "$badging" | grep -qF "launchable-activity: name='$APP_ID.BenchActivity'"; then
  die "BenchActivity must not have a launcher icon"
fi
if echo "$dex" | grep -qF "Lorg/pytorch/"; then die "the APK unexpectedly contains ExecuTorch classes"; fi
grep -aqF "The ExecuTorch runtime is not bundled in this APK" "$OUT/dex/classes.dex" ||
  die "classes.dex lacks the runtime-not-bundled message"
echo "APK: $APK ($(stat -c %s "$APK") bytes, $(echo "$dex" | wc -l) classes, ExecuTorch runtime not bundled)"
