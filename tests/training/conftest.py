"""Fixtures for the training tests: a tiny MUSDB-style dataset of toy songs written to a
temporary folder (no real recordings are ever used by tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.config import DEFAULT_STEMS, SAMPLE_RATE


def toy_song(seed: int, seconds: float) -> np.ndarray:
    """Four distinguishable stems ``(stems, 2, samples)``: a vibrato voice, noise-burst drums,
    a low sine bass and a sustained chord."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(220, 440)
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / SAMPLE_RATE
    vocals = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(t * 3) ** 2)
    drums = np.zeros(n)
    period = int(SAMPLE_RATE * rng.uniform(0.2, 0.3))
    for start in range(0, n, period):
        m = min(n - start, 4000)
        drums[start : start + m] += rng.standard_normal(m) * np.exp(-np.arange(m) / 600)
    bass = np.sin(2 * np.pi * rng.uniform(50, 90) * t)
    other = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(500, 2000, 3)) / 3
    stems = np.stack([vocals, drums, bass, other]) * 0.15
    pan = rng.uniform(0.6, 1.0, (4, 2))
    return (stems[:, None, :] * pan[:, :, None]).astype(np.float32)


def write_toy_dataset(root: Path, tracks: int = 2, seconds: float = 3.0) -> Path:
    """``root/<track>/{mixture,vocals,drums,bass,other}.wav`` (float WAV, mixture = sum)."""
    for i in range(tracks):
        stems = toy_song(i, seconds)
        folder = root / f"toy{i}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / "mixture.wav", stems.sum(0).T, SAMPLE_RATE, subtype="FLOAT")
        for name, x in zip(DEFAULT_STEMS, stems):
            sf.write(folder / f"{name}.wav", x.T, SAMPLE_RATE, subtype="FLOAT")
    return root


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy_musdb"))
