"""``stemplay play --tempo --pitch --pan`` as a user runs them, into the paced capture device."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audiosink import alsa_sink, first_sound
from tests.tinymodels import band_split_model

SR = 44100


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 440 Hz tone (the band-split model's "vocals") and a 7 kHz tone (its "bass")."""
    d = tmp_path_factory.mktemp("practice-cli")
    t = np.arange(4 * SR) / SR
    x = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 7000 * t)
    sf.write(d / "song.wav", np.stack([x, x], 1).astype(np.float32), SR, subtype="FLOAT")
    return {"song": d / "song.wav", "model": band_split_model(d / "bs.onnx", frames=16)}


def peak(x: np.ndarray, f: float) -> tuple[float, float]:
    n = 1 << 19
    w = np.hanning(x.size)
    spec = np.abs(np.fft.rfft(x * w, n)) * 2 / w.sum()
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = np.flatnonzero((freqs > f * 0.9) & (freqs < f * 1.1))
    k = band[np.argmax(spec[band])]
    return float(freqs[k]), float(spec[k])


def play(tmp: Path, *args: str) -> np.ndarray:
    with alsa_sink(tmp / "sink", paced=True) as sink:
        proc = sink.run([sys.executable, "-m", "engine.cli", "play", *args], timeout=90)
        assert proc.returncode == 0, proc.stderr
        return sink.captured()


def test_play_half_tempo_two_semitones_up_vocals_left(tmp_path: Path, files) -> None:
    cap = play(tmp_path, str(files["song"]), "--model", str(files["model"]), "--start", "1.0",
               "--duration", "2.0", "--tempo", "0.5", "--pitch", "2", "--pan", "vocals=-100")
    i0 = first_sound(cap, 1e-3)
    loud = np.flatnonzero(np.abs(cap[:, 0]) > 0.02)
    played = (loud[-1] - i0) / SR
    assert 3.9 <= played <= 4.0 + 0.4  # two seconds of song at half speed (the poll stops late)
    # the end of the slice: separated by then (the plain mix plays until the stems are ready)
    mid = cap[loud[-1] - round(0.9 * SR) : loud[-1] - round(0.2 * SR)]
    f, amp = peak(mid[:, 0], 440 * 2 ** (2 / 12))
    assert 1200 * math.log2(f / 440) == pytest.approx(200, abs=5)
    assert amp == pytest.approx(0.2 * math.sqrt(2), rel=0.1)  # all of the vocals on the left
    assert peak(mid[:, 1], 440 * 2 ** (2 / 12))[1] < 1e-3  # and none on the right
    assert peak(mid[:, 1], 7000 * 2 ** (2 / 12))[1] == pytest.approx(0.1, rel=0.1)
