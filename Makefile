# myqasr: every target sets itself up on a fresh machine (Debian 12, Python 3.11, root for apt).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-0.1.0
APT_STAMP := $(VENV)/.apt-installed
OUT     ?= out
BUDGET  ?= 45
THREADS ?= 2

.PHONY: setup system-deps demo test test-python test-android bench clean

$(STAMP): setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0          # the CPU wheel; an unpinned torch pulls a CUDA build
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: $(STAMP)

# Debian tools the tests use: voices to synthesize test speech, sox/ffmpeg for audio formats, a JDK for the app.
$(APT_STAMP): | $(STAMP)
	if ! command -v espeak-ng >/dev/null || ! command -v flite >/dev/null || ! command -v sox >/dev/null \
	   || ! command -v ffmpeg >/dev/null || ! command -v javac >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    espeak-ng flite sox libsox-fmt-all ffmpeg default-jdk-headless; fi
	touch $@

system-deps: $(APT_STAMP)

# The main job on the embedded default: bundled Whisper tiny.en + the sample user's clips -> .pte + report.
demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/myqasr personalize --budget-mb $(BUDGET) --out $(OUT)/model.pte --threads $(THREADS)

# The Android app: JUnit + ExecuTorch API compile check + signed APK with Debian tools (fetches its own tools).
test-android:
	bash android_demo/scripts/run_all_checks.sh

test: $(STAMP) $(APT_STAMP) test-android
	$(BIN)/python -m pytest -q tests

bench: $(STAMP) $(APT_STAMP)
	$(BIN)/python -m benchmarks all

clean:
	rm -rf $(OUT) build *.egg-info .pytest_cache
