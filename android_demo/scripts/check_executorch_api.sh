#!/usr/bin/env bash
# Compile-only check of the app's ExecuTorch calls against the ExecuTorch Java API (classes.jar from npm
# react-native-executorch@0.9.3, sha256-pinned): all main sources, Java 8, API 23, -Werror. Then a negative
# controls: a deliberate ExecuTorch API misuse, and a call to an API-24 method, must both fail to compile, which
# proves the check has teeth.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for f in "$ANDROID_JAR" "$ET_API_JAR"; do require_file "$f"; done
check_sha256 "$ET_API_JAR" "$ET_API_JAR_SHA256" || die "$ET_API_JAR: unexpected sha256"

OUT=$BUILD/api-check
rm -rf "$OUT"
mkdir -p "$OUT/obj" "$OUT/misuse/src"
gen_r_java "$OUT"

# shellcheck disable=SC2046
javac_android -d "$OUT/obj" $(all_main_sources) $(find "$OUT/gen" -name '*.java')
uses=$(javap -c -p -classpath "$OUT/obj" $(cd "$OUT/obj" && find . -name 'ExecuTorchModel*.class' | sed 's|^\./||; s|\.class$||; s|/|.|g') \
  | grep -o 'org/pytorch/executorch/[A-Za-z]*\.[A-Za-z]*' | sort -u | tr '\n' ' ')
echo "ExecuTorch API calls compiled: $uses"

cat > "$OUT/misuse/src/Misuse.java" <<'JAVA'
class Misuse {
    Object m() {
        return org.pytorch.executorch.Module.load("model.pte", "mmap"); // load mode is an int constant
    }
}
JAVA
if javac_android -d "$OUT/misuse" "$OUT/misuse/src/Misuse.java" > "$OUT/misuse/log" 2>&1; then
  die "negative control: a wrong Module.load call compiled, so the API jar is not being enforced"
fi
grep -q "incompatible types" "$OUT/misuse/log" || { cat "$OUT/misuse/log"; die "negative control failed for another reason"; }
echo "negative control: Module.load(String, String) is rejected (incompatible types), as it must be"

cat > "$OUT/misuse/src/NewApi.java" <<'JAVA'
class NewApi {
    String m(java.util.Map<String, String> m) {
        return m.getOrDefault("a", "b"); // Java 8, but Android API 24: must not compile for minSdk 23
    }
}
JAVA
if javac_android -d "$OUT/misuse" "$OUT/misuse/src/NewApi.java" > "$OUT/misuse/log" 2>&1; then
  die "negative control: an API-24 call compiled, so android.jar (API $MIN_SDK) is not being enforced"
fi
grep -q "cannot find symbol" "$OUT/misuse/log" || { cat "$OUT/misuse/log"; die "API-level control failed for another reason"; }
echo "negative control: Map.getOrDefault (API 24) is rejected (cannot find symbol), as it must be for minSdk $MIN_SDK"
