#!/usr/bin/env bash
# The Android demo's CI entry point (no Gradle, no device): fetch tools -> JUnit tests -> compile against the
# ExecuTorch Java API -> build, sign and verify the APK. Works as root on a fresh Debian 12 with network to
# Debian and npm only; idempotent (downloads are cached in android_demo/.tools/, outputs go to android_demo/build/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
summary=()
run_step() {
  local name=$1 script=$2 t0 ms
  echo
  echo "#### $name"
  t0=$(date +%s%N)
  bash "$here/$script"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  summary+=("$(printf '%-30s %4d.%d s' "$name" $((ms / 1000)) $((ms % 1000 / 100)))")
}
run_step "fetch tools" fetch_tools.sh
run_step "JUnit tests (host JVM)" run_unit_tests.sh
run_step "ExecuTorch API compile check" check_executorch_api.sh
run_step "APK build + sign + verify" build_apk_debian.sh
echo
echo "#### android_demo: all checks passed"
printf '%s\n' "${summary[@]}"
