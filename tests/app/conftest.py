"""Fixtures of the GUI tests: offscreen Qt, private settings, a short song with true stems."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import soundfile as sf

SR = 44100
STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture
def settings(tmp_path):
    from app.settings import AppSettings

    return AppSettings(tmp_path / "settings.ini")


def tone_song(folder: Path, seconds: float = 6.0) -> Path:
    """A MUSDB-style folder: ``mixture.wav`` plus one file per stem, each stem a distinct tone
    in its own frequency band (vocals 150 Hz... other 8 kHz), so a band-split model separates
    them exactly. Returns the mixture's path."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    freqs = {"vocals": 150.0, "drums": 2500.0, "bass": 5300.0, "other": 8200.0}
    mix = np.zeros((t.size, 2), np.float32)
    for stem, f in freqs.items():
        y = (0.15 * np.sin(2 * np.pi * f * t)).astype(np.float32)
        st = np.stack([y, y], axis=1)
        sf.write(folder / f"{stem}.wav", st, SR, subtype="FLOAT")
        mix += st
    sf.write(folder / "mixture.wav", mix, SR, subtype="FLOAT")
    return folder / "mixture.wav"


@pytest.fixture
def song(tmp_path) -> Path:
    return tone_song(tmp_path / "Tone Song")
