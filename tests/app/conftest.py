"""Fixtures of the GUI tests: offscreen Qt, private settings, a short song with true stems, and
the real main window on the real engine playing into the device-less, real-time-paced "null"
output (``window``: the band-split model; ``two_models``: "hybrid" and "unet" for A/B)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import soundfile as sf

from tests import tinymodels

SR = 44100
STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture
def settings(tmp_path):
    from app.settings import AppSettings

    return AppSettings(tmp_path / "settings.ini")


def null_engine(settings):
    """The window's engine factory: no sound card, the models chosen by the window."""
    from engine.player import Engine, EngineConfig

    return Engine(
        EngineConfig(device="null", blocksize=settings.blocksize, latency=settings.latency,
                     model=None, ahead_s=3.0)
    )


def open_window(qtbot, settings, factory=null_engine):
    """The main window shown and active, its models loaded as at start; the caller closes it."""
    from app.alerts import ErrorPresenter
    from app.main_window import MainWindow

    w = MainWindow(settings, factory, ErrorPresenter())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    w.load_initial_models()
    return w


@pytest.fixture
def bandsplit(models_dir):
    """``models/bandsplit.onnx``: the 4-band band-split model (stem k keeps band k)."""
    return tinymodels.band_split_model(models_dir / "bandsplit.onnx", name="bandsplit")


@pytest.fixture
def two_models(models_dir):
    """Two band-split models named like the shipped ones, so B defaults to the other."""
    tinymodels.band_split_model(models_dir / "hybrid.onnx", name="hybrid")
    tinymodels.band_split_model(models_dir / "unet.onnx", name="unet")
    return models_dir


@pytest.fixture
def window(qtbot, settings, bandsplit):
    w = open_window(qtbot, settings)
    yield w
    w.close()


#: One tone per stem, each inside the band that the 4-band band-split test model gives that
#: stem (bands of 256 bins = 2756 Hz): the model separates them exactly. Multiples of 10 Hz,
#: so a 0.1 s window holds whole periods.
TONES = {"vocals": 1000.0, "drums": 4000.0, "bass": 6800.0, "other": 9600.0}
TONE_LEVEL = 0.15


def other_level(t: np.ndarray | float) -> np.ndarray | float:
    """The "other" tone's amplitude rises with time, so the captured audio tells where in the
    song the player was (seek checks)."""
    return 0.02 + 0.03 * np.asarray(t)


def tone_song(folder: Path, seconds: float = 8.0) -> Path:
    """A MUSDB-style folder: ``mixture.wav`` plus one file per stem (true stems, so the song
    has a reference). Returns the mixture's path."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    mix = np.zeros((t.size, 2), np.float32)
    for stem, f in TONES.items():
        level = other_level(t) if stem == "other" else TONE_LEVEL
        y = (level * np.sin(2 * np.pi * f * t)).astype(np.float32)
        st = np.stack([y, y], axis=1)
        sf.write(folder / f"{stem}.wav", st, SR, subtype="FLOAT")
        mix += st
    sf.write(folder / "mixture.wav", mix, SR, subtype="FLOAT")
    return folder / "mixture.wav"


def tone_levels(audio: np.ndarray, window: int = 4410) -> dict[str, np.ndarray]:
    """Amplitude of each stem's tone in consecutive windows of ``audio`` ``(frames, 2)``
    (left channel; Hann-windowed FFT, exact bins): ``{stem: (windows,)}``."""
    n = len(audio) // window
    frames = audio[: n * window, 0].reshape(n, window)
    w = np.hanning(window)
    spec = np.abs(np.fft.rfft(frames * w, axis=1)) * 2 / w.sum()
    return {s: spec[:, round(f * window / SR)] for s, f in TONES.items()}


@pytest.fixture
def song(tmp_path) -> Path:
    return tone_song(tmp_path / "Tone Song")
