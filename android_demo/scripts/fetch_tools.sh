#!/usr/bin/env bash
# Fetch what the Gradle-free checks need; idempotent, and quick once everything is cached.
#   1. apt (Debian bookworm): JDK, aapt, zipalign, apksigner, dexdump, JUnit 4/5, hamcrest.
#   2. android.jar (API 23) and dx from two arch-all Debian *bullseye* .debs: downloaded with a private apt
#      configuration (the system's sources stay untouched), sha256-checked, cached in .tools/debs, extracted.
#   3. The ExecuTorch Java API jar from npm react-native-executorch@0.9.3 (compile-only), sha256-checked.
# Environment: DEBIAN_MIRROR (default: the mirror in the system's apt sources), ANDROID_DEBS_DIR (a folder
# that already holds the two .debs, for machines that cannot reach bullseye).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
mkdir -p "$TOOLS"

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local m
  m=$( (grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}';
        grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed 's/\[[^]]*\]//' | awk '{print $2}') \
      | grep -E '/debian/?$' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

install_apt_packages() {
  local missing=() p
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then echo "apt packages: all present"; return; fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]}"; sudo=sudo; fi
  echo "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

download() {  # download URL FILE (curl comes with the apt packages above)
  curl -fsSL --retry 2 -o "$2" "$1"
}

fetch_bullseye_debs() {
  local debs=$TOOLS/debs p need=()
  mkdir -p "$debs"
  for p in $BULLSEYE_DEBS; do
    local f=$debs/$(basename "${DEB_FILE[$p]}")
    if ! check_sha256 "$f" "${DEB_SHA256[$p]}" && [ -n "${ANDROID_DEBS_DIR:-}" ] && [ -f "$ANDROID_DEBS_DIR/$(basename "$f")" ]; then
      cp "$ANDROID_DEBS_DIR/$(basename "$f")" "$f"
    fi
    check_sha256 "$f" "${DEB_SHA256[$p]}" || { rm -f "$f"; need+=("$p"); }
  done
  if [ ${#need[@]} -gt 0 ]; then
    local mirror alt=$TOOLS/aptalt
    mirror=$(debian_mirror)
    echo "downloading ${need[*]} from $mirror (bullseye)"
    mkdir -p "$alt/lists/partial" "$alt/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bullseye main" > "$alt/sources.list"
    local apto=(-o "Dir::Etc::SourceList=$alt/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$alt/lists" -o "Dir::Cache=$alt/cache" -o Dir::State::status=/dev/null)
    if apt-get "${apto[@]}" update -qq 2>/dev/null; then
      (cd "$debs" && apt-get "${apto[@]}" download "${need[@]}" >/dev/null 2>&1) || true
    fi
    for p in "${need[@]}"; do  # fallback: the pool files themselves (the current mirror, then the archive)
      local f=$debs/$(basename "${DEB_FILE[$p]}") base
      for base in "$mirror" http://archive.debian.org/debian; do
        check_sha256 "$f" "${DEB_SHA256[$p]}" && break
        download "$base/${DEB_FILE[$p]}" "$f.part" 2>/dev/null && mv "$f.part" "$f" || rm -f "$f.part"
      done
      check_sha256 "$f" "${DEB_SHA256[$p]}" ||
        die "could not get $(basename "$f") with sha256 ${DEB_SHA256[$p]} (set ANDROID_DEBS_DIR to a folder holding it)"
    done
  fi
  if ! check_sha256 "$ANDROID_JAR" "$ANDROID_JAR_SHA256" || ! check_sha256 "$DX_JAR" "$DX_JAR_SHA256"; then
    rm -rf "$TOOLS/sdkroot"
    for p in $BULLSEYE_DEBS; do dpkg-deb -x "$debs/$(basename "${DEB_FILE[$p]}")" "$TOOLS/sdkroot"; done
  fi
  check_sha256 "$ANDROID_JAR" "$ANDROID_JAR_SHA256" || die "$ANDROID_JAR: unexpected sha256"
  check_sha256 "$DX_JAR" "$DX_JAR_SHA256" || die "$DX_JAR: unexpected sha256"
  echo "android.jar (API 23) and dx: ok"
}

fetch_executorch_api_jar() {
  if check_sha256 "$ET_API_JAR" "$ET_API_JAR_SHA256"; then echo "ExecuTorch API jar: cached"; return; fi
  mkdir -p "$(dirname "$ET_NPM_TGZ")" "$(dirname "$ET_API_JAR")"
  if ! check_sha256 "$ET_NPM_TGZ" "$ET_NPM_TGZ_SHA256"; then
    rm -f "$ET_NPM_TGZ"
    echo "npm pack $ET_NPM_SPEC (38 MB)"
    if command -v npm >/dev/null; then
      (cd "$(dirname "$ET_NPM_TGZ")" && npm pack --silent "$ET_NPM_SPEC" >/dev/null)
    else  # no npm on this machine: the same tarball straight from the registry
      download "https://registry.npmjs.org/react-native-executorch/-/$(basename "$ET_NPM_TGZ")" "$ET_NPM_TGZ"
    fi
    check_sha256 "$ET_NPM_TGZ" "$ET_NPM_TGZ_SHA256" || die "$ET_NPM_TGZ: unexpected sha256 (want $ET_NPM_TGZ_SHA256)"
  fi
  tar -xzf "$ET_NPM_TGZ" -C "$(dirname "$ET_API_JAR")" --strip-components=3 package/android/libs/classes.jar
  check_sha256 "$ET_API_JAR" "$ET_API_JAR_SHA256" || die "$ET_API_JAR: unexpected sha256 (want $ET_API_JAR_SHA256)"
  echo "ExecuTorch API jar: ok"
}

step "fetch tools into $TOOLS"
install_apt_packages
fetch_bullseye_debs
fetch_executorch_api_jar
