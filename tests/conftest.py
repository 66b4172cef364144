"""Shared pytest fixtures (kept small): test audio, tiny models and a private models/ folder.

Everything runs headless on the CPU; audio files and models are written under tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import tinymodels

SR = 44100


def make_music(seconds: float, seed: int = 0, level: float = 0.2) -> np.ndarray:
    """A deterministic stereo test signal ``(2, samples)`` float32 with energy across the whole
    spectrum: a few harmonic tones, a bass line and quiet noise (so every band is busy)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    left = sum(np.sin(2 * np.pi * f * t + p) / k
               for k, (f, p) in enumerate(zip((110, 440, 1320, 5000, 14000),
                                              rng.uniform(0, 6, 5), strict=True), start=1))
    right = np.roll(left, 37) + 0.3 * np.sin(2 * np.pi * 220 * t)
    audio = np.stack([left, right]) + 0.05 * rng.standard_normal((2, n))
    audio *= level / np.abs(audio).max()
    return audio.astype(np.float32)


@pytest.fixture
def music() -> np.ndarray:
    """Six seconds of :func:`make_music` (2, 264600)."""
    return make_music(6.0)


@pytest.fixture
def song_wav(tmp_path: Path, music: np.ndarray) -> Path:
    """``music`` written as a 44.1 kHz float WAV file named ``song.wav``."""
    import soundfile as sf

    path = tmp_path / "song.wav"
    sf.write(path, music.T, SR, subtype="FLOAT")
    return path


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty private models/ folder the engine uses instead of the shipped one."""
    from engine import config

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(config, "MODELS_DIR", folder)
    monkeypatch.setenv("STEMPLAY_MODELS", str(folder))
    return folder


@pytest.fixture
def band_split_path(models_dir: Path) -> Path:
    """``models/bandsplit.onnx``: the 4-stem band-split model (F=1024, T=192)."""
    return tinymodels.band_split_model(models_dir / "bandsplit.onnx")
