# The two set-up commands of README: `make run` and `make test`.
# Each creates .venv when missing, installs missing Debian libraries when run as root,
# installs the project (and for tests its dev/train extras), then does its job.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

# Debian libraries the player needs at run time (PortAudio, Qt's X11/EGL plumbing).
RUN_DEBS := libportaudio2 libsndfile1 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
	libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xkb1 libfontconfig1 \
	libdbus-1-3 libglib2.0-0
# Extra ones for the headless test suite (ALSA file sink paced by a dummy JACK server, Xvfb)
# and for the training data generator (synths, soundfonts, real drum kits, voices).
TEST_DEBS := alsa-utils libasound2-plugins jackd2 xvfb xauth ffmpeg sox fluidsynth \
	musescore-general-soundfont-small fluidr3mono-gm-soundfont timgm6mb-soundfont \
	hydrogen-drumkits sonic-pi-samples festival espeak-ng

.PHONY: run test setup setup-dev debs-run debs-test bundle lint clean demo data

run: setup
	$(VENV)/bin/stemplay

test: setup-dev
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests

setup: debs-run $(VENV)/.stamp-run
setup-dev: debs-run debs-test $(VENV)/.stamp-dev

# Install only what is missing; without root, say what is missing and carry on.
define install_debs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $$missing >/dev/null; \
		else \
			echo "warning: missing Debian packages (run as root to install):$$missing" >&2; \
		fi; \
	fi
endef

debs-run:
	$(call install_debs,$(RUN_DEBS))

debs-test:
	$(call install_debs,$(TEST_DEBS))

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-run: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e ".[train,dev]"
	touch $@ $(VENV)/.stamp-run

# The training data cache from nothing (training/DATA.md): the screened real-music bank, the
# generated songs (4.1 h, resumable), the synthetic test split, the real validation songs.
# Hours of CPU on a 2-core machine; every step keeps what is already there. /work/data is the
# cache the training configs read.
data: setup-dev
	$(PY) -m training realmusic fetch
	$(PY) -m training realmusic build
	$(PY) -m training synth -o /work/data/synth/train --songs 330 --seconds 45 --seed 0 --jobs 2 --format flac
	$(PY) -m training synth -o /work/data/synth/test --songs 6 --seconds 30 --seed 2 --split test
	$(PY) -m training.data.splits --write-valid

bundle: setup-dev
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec
	@du -sh dist/stemplay

lint: setup-dev
	$(VENV)/bin/ruff check app engine training tests
	$(VENV)/bin/mypy

clean:
	rm -rf build dist .pytest_cache
