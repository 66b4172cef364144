"""engine.dsp.stft: round trip, agreement with numpy's reference, streaming == batch."""

from __future__ import annotations

import numpy as np
import pytest

from engine.dsp import stft as S


def reference_stft(x: np.ndarray) -> np.ndarray:
    """Straightforward float64 centred STFT (reflect pad, periodic Hann, numpy rfft)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (S.PAD, S.PAD)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(xp, S.N_FFT, axis=1)[:, :: S.HOP]
    return np.fft.rfft(frames * S.WINDOW.astype(np.float64), axis=-1).transpose(0, 2, 1)


@pytest.mark.parametrize("n", [1, 100, 2048, 2049, 4096, 44100 + 17])
def test_round_trip_below_1e6(n: int) -> None:
    x = np.random.default_rng(n).uniform(-1, 1, (2, n)).astype(np.float32)
    spec = S.stft(x)
    assert spec.shape == (2, S.NB_BINS, 1 + n // S.HOP)
    assert spec.dtype == np.complex64
    y = S.istft(spec, n)
    assert y.shape == (2, n)
    assert np.abs(y - x).max() < 1e-6


@pytest.mark.parametrize("n", [3000, 30000])
def test_matches_numpy_reference(n: int) -> None:
    x = np.random.default_rng(1).uniform(-1, 1, (2, n)).astype(np.float32)
    ref = reference_stft(x)
    assert np.abs(S.stft(x) - ref).max() / np.abs(ref).max() < 1e-5


def test_window_is_periodic_hann() -> None:
    n = np.arange(S.N_FFT)
    assert np.allclose(S.WINDOW, 0.5 - 0.5 * np.cos(2 * np.pi * n / S.N_FFT), atol=1e-7)
    assert S.WINDOW[0] == 0.0 and S.WINDOW[S.N_FFT // 2] == pytest.approx(1.0)


@pytest.mark.parametrize("start_frame", [0, 2, 9])
def test_streaming_equals_batch_from_any_frame(start_frame: int) -> None:
    n = 50000
    x = np.random.default_rng(2).uniform(-1, 1, (2, n)).astype(np.float32)
    spec = S.stft(x)
    stream = S.StftStream(2, start_frame)
    pos = stream.first_sample
    parts = []
    for size in (1, 999, 7000, 3, 20000):  # odd block sizes, including tiny ones
        stream.feed(x[:, pos : pos + size])
        pos += size
        parts.append(stream.pull())
    stream.feed(x[:, pos:])
    stream.finish()
    parts.append(stream.pull())
    got = np.concatenate(parts, axis=2)
    np.testing.assert_allclose(got, spec[:, :, start_frame:], atol=1e-5)

    emit_from = 0 if start_frame == 0 else (start_frame - 1) * S.HOP + S.PAD
    ola = S.OverlapAdd(2, start_frame, emit_from)
    out = [ola.push(spec[:, :, i : i + 5]) for i in range(start_frame, spec.shape[2], 5)]
    out.append(ola.finish(n))
    y = np.concatenate(out, axis=1)
    assert y.shape == (2, n - emit_from)
    assert np.abs(y - x[:, emit_from:]).max() < 1e-6


def test_model_layout_round_trip() -> None:
    spec = S.stft(np.random.default_rng(3).uniform(-1, 1, (2, 9000)).astype(np.float32))
    x = S.spec_to_model(spec, 1024)
    assert x.shape == (4, 1024, spec.shape[2]) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], spec[0, :1024].real)
    np.testing.assert_array_equal(x[3], spec[1, :1024].imag)
    np.testing.assert_array_equal(S.model_to_spec(x), spec[:, :1024])


def test_plans_are_per_thread() -> None:
    import threading

    seen = []
    t = threading.Thread(target=lambda: seen.append(S.Stft.for_thread()))
    t.start()
    t.join()
    assert seen[0] is not S.Stft.for_thread()


@pytest.mark.parametrize("writable", [True, False])
def test_wisdom_cache_saved_or_silently_skipped(tmp_path, writable: bool) -> None:
    """FFTW wisdom lands in the cache; an unusable cache (here: a file where the folder should
    be) costs nothing but planning time."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    cache = tmp_path / "cache"
    if not writable:
        cache.write_text("not a folder")
    code = ("import numpy as np\nfrom engine.dsp.stft import stft, istft\n"
            "x = np.ones((2, 5000), np.float32)\n"
            "print(float(abs(istft(stft(x), 5000) - x).max()))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert float(done.stdout) < 1e-6
    assert "Traceback" not in done.stderr
    assert (cache / "stemplay" / "fftw-wisdom.pickle").is_file() == writable
