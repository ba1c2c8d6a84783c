# Mouthpiece: `make demo` renders a sample talking video, `make test` runs the test suite.
# Both install what is missing: Debian packages (ffmpeg, espeak-ng, redis-server) and a
# virtual environment in .venv with the project and its extras.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := ffmpeg espeak-ng redis-server build-essential
# llama.cpp built for any x86-64 CPU, not only this one (pip caches the wheel).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1
EXTRAS ?= bot,dev,neutts,diff2lip,musetalk,watermark,asr,pocket
# NeuTTS Air's phonemes come from the espeak-ng 1.52.0.1 inside the neutts 1.4.1 wheel: only the
# library and its data are taken out of the downloaded wheel (GPL-3.0; neutts is not installed).
NEUTTS_ESPEAK := $(VENV)/share/mouthpiece/neutts-espeak-ng

.PHONY: demo test bench lint typecheck clean system-deps

demo: system-deps $(VENV)/.core
	$(PY) -m engine.cli render \
		--script-file data/samples/script.txt \
		--voice data/samples/voice.ogg --voice-text "$$(cat data/samples/voice.txt)" \
		--photo data/samples/portrait.jpg -o data/out/demo.mp4
	@echo "demo video: $(CURDIR)/data/out/demo.mp4"

# the tests also validate docker-compose.yml with a Compose CLI (`config -q`, no daemon)
test: APT_PACKAGES += docker-compose chromium chromium-driver postgresql
# One test process more than there are cores, each taking whole files (a file's fixtures are
# built once): many tests wait on redis-server, workers, ffmpeg and timeouts, so a third process
# on two cores fills those waits (measured 2026-12-06, 2 cores: 557 s, against 650 s with two).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: system-deps $(VENV)/.full $(NEUTTS_ESPEAK)/SOURCE
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: system-deps $(VENV)/.full $(NEUTTS_ESPEAK)/SOURCE
	$(PY) bench/render.py

lint: $(VENV)/.full
	$(PY) -m ruff check engine bot spoken_text job_marks tests bench
	$(PY) -m mypy engine bot spoken_text job_marks

system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q 'setuptools<81' wheel

# The light install: the engine with its embedded CPU backends and the speech watermark.
$(VENV)/.core: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[watermark]'
	touch $@

# What the test suite exercises: the engine, the bot service, test tools. pocket-tts goes in
# without its declared dependencies: it asks numpy>=2, mediapipe numpy<2, and its code runs on
# 1.26 (the pocket extra lists what it imports).
$(VENV)/.full: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[$(EXTRAS)]'
	$(PIP) install -q --no-deps 'pocket-tts==4.0.1'
	$(PIP) install -q 'setuptools<81'
	touch $@ $(VENV)/.core

$(NEUTTS_ESPEAK)/SOURCE: | $(VENV)/.full
	$(PY) -m engine.tts.neutts_espeak --target $(NEUTTS_ESPEAK)

clean:
	rm -rf $(VENV) data/out build *.egg-info
