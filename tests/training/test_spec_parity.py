"""training.spec (torch) matches engine.dsp.stft (pyFFTW), the STFT the player uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.dsp import stft as engine_stft
from training import spec


@pytest.fixture(params=[2 * 44100 + 123, 191 * 1024])
def audio(request: pytest.FixtureRequest) -> np.ndarray:
    rng = np.random.default_rng(request.param)
    return (0.3 * rng.standard_normal((2, request.param))).astype(np.float32)


def test_stft_matches_engine(audio: np.ndarray) -> None:
    ref = engine_stft.stft(audio)
    got = spec.stft(torch.from_numpy(audio)).numpy()
    assert got.shape == ref.shape
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() / scale < 1e-5


def test_istft_matches_engine(audio: np.ndarray) -> None:
    full = engine_stft.stft(audio)
    n = audio.shape[1]
    ref = engine_stft.istft(full, n)
    got = spec.istft(torch.from_numpy(full), n).numpy()
    assert np.abs(got - ref).max() < 1e-5
    assert np.abs(got - audio).max() < 1e-5  # and both are a round trip


def test_model_layout_matches_engine(audio: np.ndarray) -> None:
    full = engine_stft.stft(audio)
    ref = engine_stft.spec_to_model(full, 1024)
    got = spec.to_model(torch.from_numpy(full), 1024).numpy()
    np.testing.assert_array_equal(got, ref)
    back = spec.from_model(torch.from_numpy(ref)).numpy()
    np.testing.assert_array_equal(back, engine_stft.model_to_spec(ref))


def test_band_limited_istft_zeroes_the_high_band() -> None:
    t = np.arange(44100) / 44100
    low = np.sin(2 * np.pi * 440 * t)
    high = np.sin(2 * np.pi * 15000 * t)  # above bin 1024 (~11 kHz)
    x = torch.from_numpy(np.stack([low + high, low]).astype(np.float32))
    y = spec.istft(spec.stft(x)[..., :1024, :], x.shape[-1]).numpy()
    mid = slice(4096, -4096)
    assert np.abs(y[0, mid] - low[mid]).max() < 1e-3
