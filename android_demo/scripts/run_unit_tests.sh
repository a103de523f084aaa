#!/usr/bin/env bash
# JUnit tests of the Android-free core on the host JVM (the same tests Gradle runs as testDebugUnitTest).
# Needs a JDK and Debian's junit4 + junit5 (scripts/fetch_tools.sh). Prints "N passed, N failed" last.
# MYQASR_ANDROID_FIXTURES=DIR points the parity tests at other fixtures (tests/test_android_parity.py does);
# MYQASR_PHONE_STATS_OUT / MYQASR_PHONE_STATS_FIXTURES: see PhoneStatsTest (tests/test_phone_stats.py sets them).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for f in "$JUNIT_CONSOLE" "$JUNIT4_JAR" "$HAMCREST_JAR"; do require_file "$f"; done

OUT=$BUILD/unit-tests
rm -rf "$OUT"
mkdir -p "$OUT/classes"
CP="$JUNIT4_JAR:$HAMCREST_JAR"
# One javac for the core and its tests (the core compiles alone too: build_apk_debian.sh checks it for API 23).
# shellcheck disable=SC2046
javac -J-XX:TieredStopAtLevel=1 --release 8 -encoding UTF-8 -Xlint:all -Xlint:-options -Werror -classpath "$CP" \
  -d "$OUT/classes" $(core_sources) $(find "$TEST_JAVA" -name '*.java' | sort)

props=()
if [ -n "${MYQASR_ANDROID_FIXTURES:-}" ]; then props+=("-Dmyqasr.fixtures=$MYQASR_ANDROID_FIXTURES"); fi
# tests/test_phone_stats.py: where PhoneStatsTest writes its statistics files, and one more fixture set to aggregate
if [ -n "${MYQASR_PHONE_STATS_OUT:-}" ]; then props+=("-Dmyqasr.phonestats.out=$MYQASR_PHONE_STATS_OUT"); fi
if [ -n "${MYQASR_PHONE_STATS_FIXTURES:-}" ]; then props+=("-Dmyqasr.phonestats.fixtures=$MYQASR_PHONE_STATS_FIXTURES"); fi
set +e
java -XX:TieredStopAtLevel=1 "${props[@]}" -jar "$JUNIT_CONSOLE" --disable-banner --details=summary \
  --details-theme=ascii --class-path "$OUT/classes:$TEST_RES:$CP" --scan-classpath "$OUT/classes" \
  > "$OUT/report.txt" 2>&1
rc=$?
set -e
cat "$OUT/report.txt"
passed=$(sed -n 's/.*\[ *\([0-9]*\) tests successful *\].*/\1/p' "$OUT/report.txt" | tail -n1)
failed=$(sed -n 's/.*\[ *\([0-9]*\) tests failed *\].*/\1/p' "$OUT/report.txt" | tail -n1)
echo "${passed:-0} passed, ${failed:-0} failed"
[ "$rc" -eq 0 ] && [ "${failed:-1}" -eq 0 ] && [ "${passed:-0}" -gt 0 ]
