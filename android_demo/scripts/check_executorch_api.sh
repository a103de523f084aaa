#!/usr/bin/env bash
# Compile-only check of the app's ExecuTorch calls against the ExecuTorch Java API (classes.jar from npm
# react-native-executorch@0.9.3, sha256-pinned): all main sources, Java 8, API 23, -Werror. Both app paths are
# covered: the generic Module (ExecuTorchModel) and ExecuTorch's ASR runner, AsrModule + AsrTranscribeConfig +
# AsrCallback (ExecuTorchAsrRunner); the jar must carry those classes and the compiled app must call them. Then
# negative controls: deliberate ExecuTorch API misuses (Module and AsrModule), and a call to an API-24 method,
# must fail to compile, which proves the check has teeth.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for f in "$ANDROID_JAR" "$ET_API_JAR"; do require_file "$f"; done
check_sha256 "$ET_API_JAR" "$ET_API_JAR_SHA256" || die "$ET_API_JAR: unexpected sha256"

OUT=$BUILD/api-check
rm -rf "$OUT"
mkdir -p "$OUT/obj" "$OUT/misuse/src"
gen_r_java "$OUT"

# The ASR runner's Java API (ExecuTorch >= 1.4, Kotlin): the jar must have it, or the check below proves nothing.
ASR=org/pytorch/executorch/extension/asr
for c in AsrModule AsrTranscribeConfig AsrCallback; do
  unzip -l "$ET_API_JAR" "$ASR/$c.class" > /dev/null 2>&1 || die "$ET_API_JAR lacks $ASR/$c.class"
done
echo "API jar has: $(unzip -Z1 "$ET_API_JAR" "$ASR/*" | grep -v '/$' | sed 's|.*/||; s|\.class$||' | tr '\n' ' ')"
javap -classpath "$ET_API_JAR" org.pytorch.executorch.extension.asr.AsrModule | grep -E '\.AsrModule\(|transcribe\(|load\(' \
  | grep -v 'DefaultConstructorMarker\|\$default' | sed 's/^ */  /'

# shellcheck disable=SC2046
javac_android -d "$OUT/obj" $(all_main_sources) $(find "$OUT/gen" -name '*.java')
bytecode=$(javap -c -p -classpath "$OUT/obj" $(cd "$OUT/obj" && find . -name 'ExecuTorch*.class' | sed 's|^\./||; s|\.class$||; s|/|.|g'))
uses=$(echo "$bytecode" | grep -o 'org/pytorch/executorch/[A-Za-z/]*\.[A-Za-z"<>]*' | sort -u | tr '\n' ' ')
echo "ExecuTorch API calls compiled: $uses"
for call in "$ASR/AsrModule.\"<init>\"" "$ASR/AsrModule.load" "$ASR/AsrModule.transcribe" "$ASR/AsrModule.close" \
            "$ASR/AsrTranscribeConfig.\"<init>\"" "org/pytorch/executorch/Module.load"; do
  echo "$uses" | grep -qF "$call" || die "the app no longer compiles a call to $call"
done
javap -p -classpath "$OUT/obj:$ET_API_JAR" $(cd "$OUT/obj" && find . -name 'ExecuTorchAsrRunner*.class' | sed 's|^\./||; s|\.class$||; s|/|.|g') \
  | grep -q 'implements org.pytorch.executorch.extension.asr.AsrCallback' || die "no class implements AsrCallback"
echo "AsrModule path: constructor, load, transcribe(wav, AsrTranscribeConfig, AsrCallback), close compiled"

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

cat > "$OUT/misuse/src/AsrMisuse.java" <<'JAVA'
class AsrMisuse {
    Object m() {
        // Kotlin's default arguments (dataPath, preprocessorPath) do not exist for Java callers: all four are needed
        return new org.pytorch.executorch.extension.asr.AsrModule("model.pte", "tokenizer.json");
    }
}
JAVA
if javac_android -d "$OUT/misuse" "$OUT/misuse/src/AsrMisuse.java" > "$OUT/misuse/log" 2>&1; then
  die "negative control: a wrong AsrModule constructor call compiled, so the ASR API is not being enforced"
fi
grep -q "cannot be applied\|no suitable constructor" "$OUT/misuse/log" || { cat "$OUT/misuse/log"; die "AsrModule control failed for another reason"; }
echo "negative control: new AsrModule(String, String) is rejected (Kotlin defaults are not Java overloads), as it must be"

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
