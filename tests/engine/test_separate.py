"""engine.separate: exact band split, identity, streaming == offline, consistency, edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.model import load_model
from engine.separate import FIRST_FRAMES, StreamSeparator, segment_weights, separate
from tests import tinymodels as tm
from tests.conftest import make_music


def rms_db(x: np.ndarray, ref: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(ref.astype(np.float64) ** 2))


@pytest.mark.parametrize("frames", [192, "dynamic", 16])
def test_band_split_equals_expected_bands(tmp_path: Path, music: np.ndarray, frames) -> None:
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=frames))
    stems = separate(model, music)
    assert stems.shape == (4, 2, music.shape[1])
    expected = tm.expected_band_split(music)
    assert np.abs(stems - expected).max() < 1e-5
    # the bands really differ: vocals (lowest band) holds the 110 Hz tone, other the highs
    assert rms_db(stems[0], music) > -10 and rms_db(stems[3], music) < -10


def test_identity_returns_its_input(tmp_path: Path, music: np.ndarray) -> None:
    model = load_model(tm.identity_model(tmp_path / "i.onnx"))
    (only,) = separate(model, music)
    assert np.abs(only - music).max() / np.abs(music).max() < 1e-5


@pytest.mark.parametrize("position", [0, 1, 3000, 44100 * 2 + 5, 44100 * 4 + 999])
def test_streaming_from_any_reset_equals_offline(
    tmp_path: Path, music: np.ndarray, position: int
) -> None:
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=16))
    offline = separate(model, music)
    sep = StreamSeparator(model)
    feed_from = sep.reset(position)
    assert 0 <= feed_from <= position and feed_from % 1024 == 0
    rng = np.random.default_rng(position)
    parts, pos = [], feed_from
    while pos < music.shape[1]:
        size = int(rng.integers(1, 40000))
        parts.append(sep.feed(music[:, pos : pos + size]))
        pos += size
    parts.append(sep.finish())
    out = np.concatenate(parts, axis=2)
    assert out.shape == (4, 2, music.shape[1] - position)
    assert np.abs(out - offline[:, :, position:]).max() < 1e-5


def test_after_a_reset_the_first_sound_comes_before_the_whole_segment_is_made(
    tmp_path: Path, music: np.ndarray
) -> None:
    # a seek: the mixture up to the end of the segments covering the position is fed at once;
    # the first output is short (the rest follows with the next feed) and equals offline
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=192))
    offline = separate(model, music)
    sep = StreamSeparator(model)
    position = 44100 + 999  # inside the first segment (192 frames, 4.5 s)
    feed_from = sep.reset(position)
    first = sep.feed(music[:, feed_from:])
    assert 0 < first.shape[2] <= FIRST_FRAMES * 1024
    rest = sep.finish()
    out = np.concatenate([first, rest], axis=2)
    assert out.shape == (4, 2, music.shape[1] - position)
    assert np.abs(out - offline[:, :, position:]).max() < 1e-5


class ContextModel:
    """A band split whose vocals gain depends on the whole segment it sees (as a real model's
    output depends on its context), counting its runs."""

    def __init__(self, inner) -> None:
        self.inner, self.runs = inner, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def run(self, x: np.ndarray, **kw) -> np.ndarray:
        self.runs += 1
        y = self.inner.run(x, **kw)
        # one number per segment: how loud its first frames are against the whole of it
        head = np.abs(x[..., :4]).mean(axis=(1, 2, 3)) + 1e-9
        level = np.abs(x).mean(axis=(1, 2, 3)) + 1e-9
        y[:, 0] *= (1.0 + 0.5 * np.tanh(10 * np.log(head / level)))[:, None, None, None]
        return y


def runs_before_first_sound(sep: StreamSeparator, model: ContextModel, music: np.ndarray,
                            position: int, quick: bool) -> tuple[np.ndarray, int]:
    pos = sep.reset(position, quick=quick)
    model.runs, parts, runs = 0, [], None
    while pos < music.shape[1]:
        parts.append(sep.feed(music[:, pos : pos + 4096]))
        pos += 4096
        if runs is None and parts[-1].shape[2]:
            runs = model.runs
    parts.append(sep.finish())
    return np.concatenate(parts, axis=2), runs


def assert_quick_then_exact(sep: StreamSeparator, exact: np.ndarray, quick: np.ndarray,
                            offline: np.ndarray, music: np.ndarray, position: int) -> None:
    """``exact`` (a plain reset) is the whole-file separation from ``position``; ``quick`` is
    too from frame ``sep.exact_from`` on, not before it (a model with context), and still sums
    to the mixture."""
    n = music.shape[1] - position
    assert exact.shape == quick.shape == (4, 2, n)
    assert np.abs(exact - offline[:, :, position:]).max() < 1e-5
    since = sep.exact_from * 1024 + 4096 - position  # samples from frames >= exact_from only
    assert np.abs(quick[:, :, since:] - offline[:, :, position + since:]).max() < 1e-5
    assert np.abs(quick[:, :, :since] - offline[:, :, position:position + since]).max() > 1e-3
    assert np.abs(quick.sum(axis=0) - music[:, position:]).max() < 1e-4  # still the mixture


def test_a_quick_start_needs_one_model_run_and_is_exact_after_one_overlap(
    tmp_path: Path, music: np.ndarray
) -> None:
    """A seek (``quick``) to where two segments overlap: the first sound after one model run,
    not two; the audio is the whole-file separation's again from ``exact_from`` on, and a
    context-free model gives it exactly throughout (the seams are right)."""
    band = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=16))
    model = ContextModel(band)
    sep = StreamSeparator(model)
    offline = separate(model, music)
    band_offline = separate(band, music)
    step = sep.step
    position = (3 * step + 2) * 1024  # frame 3 * step + 2 lies in the overlap of segments 2, 3
    exact, runs_exact = runs_before_first_sound(sep, model, music, position, quick=False)
    assert sep.exact_from == (position - 2048) // 1024 + 1
    quick, runs_quick = runs_before_first_sound(sep, model, music, position, quick=True)
    assert (runs_exact, runs_quick) == (2, 1)
    assert sep.exact_from == 3 * step + sep.overlap
    assert_quick_then_exact(sep, exact, quick, offline, music, position)
    # outside an overlap, or with a context-free model, quick changes nothing
    sep_band = StreamSeparator(band)
    sep_band.reset(position, quick=True)
    got = np.concatenate([sep_band.feed(music[:, sep_band.feed_from:]), sep_band.finish()], 2)
    assert np.abs(got - band_offline[:, :, position:]).max() < 1e-5
    # outside an overlap, FIRST_FRAMES or more before the next segment: exact from the start
    sep64 = StreamSeparator(load_model(tm.band_split_model(tmp_path / "b64.onnx", frames=64)))
    t_first = 2 * sep64.step + sep64.overlap
    assert (3 * sep64.step - t_first, sep64.step) == (FIRST_FRAMES, 48)
    sep64.reset((t_first + 1) * 1024, quick=True)
    assert sep64.exact_from == t_first


def test_a_quick_start_just_before_the_next_segment_needs_one_model_run(
    tmp_path: Path, music: np.ndarray
) -> None:
    """A seek to just before where the next segment starts: that segment's frames are needed
    for the first samples, but a quick start makes the first ones from the segment that covers
    the position alone, and the next one fades in over the rest of the overlap: one model run
    before the first sound (not two), at least FIRST_FRAMES of it, exact again from
    ``exact_from``, and a context-free model gives the whole-file separation throughout."""
    band = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=64))
    model = ContextModel(band)
    sep = StreamSeparator(model)
    step, ov = sep.step, sep.overlap
    offline = separate(model, music)
    t_first = 3 * step - 2  # segment 2 alone covers it; segment 3 starts two frames later
    position = (t_first + 1) * 1024 + 7  # t_first is the first frame touching it
    exact, runs_exact = runs_before_first_sound(sep, model, music, position, quick=False)
    quick, runs_quick = runs_before_first_sound(sep, model, music, position, quick=True)
    assert (runs_exact, runs_quick) == (2, 1)
    assert sep.exact_from == 3 * step + ov
    sep.reset(position, quick=True)
    first = sep.feed(music[:, sep.feed_from : sep.feed_from + 5 * step * 1024])
    assert first.shape[2] > (FIRST_FRAMES - 4) * 1024  # not just the frames before segment 3
    assert_quick_then_exact(sep, exact, quick, offline, music, position)
    band_offline, sep_band = separate(band, music), StreamSeparator(band)
    for t in [*range(2 * step, 3 * step, 5), 3 * step - 1]:  # wherever a seek lands
        position = (t + 1) * 1024 + 7
        sep_band.reset(position, quick=True)
        pos = sep_band.feed_from + sep_band.samples_to_next_segment()
        got = [sep_band.feed(music[:, sep_band.feed_from : pos])]
        assert got[0].shape[2] > 0  # the first segment alone gives the first sound
        assert sep_band.samples_to_next_segment() > 0
        got += [sep_band.feed(music[:, pos:]), sep_band.finish()]
        got = np.concatenate(got, axis=2)
        assert np.abs(got - band_offline[:, :, position:]).max() < 1e-5, t


def test_consistency_with_stems_not_summing_to_mix(tmp_path: Path, music: np.ndarray) -> None:
    gains = (0.9, 0.9, 0.1, 0.4)  # sums to 2.3: the model's stems are inconsistent
    model = load_model(tm.gain_model(tmp_path / "g.onnx", gains))
    stems = separate(model, music)
    assert rms_db(stems.sum(axis=0) - music, music) < -60
    # the residual went to "other"; vocals keep the model's 0.9 in the modelled band
    np.testing.assert_allclose(stems, tm.expected_gain(music, gains), atol=1e-5)


def test_consistency_without_other_spreads_by_energy(tmp_path: Path, music: np.ndarray) -> None:
    model = load_model(tm.gain_model(tmp_path / "g.onnx", (0.3, 0.3), stems=("a", "b")))
    a, b = separate(model, music)
    assert rms_db(a + b - music, music) < -60
    np.testing.assert_allclose(a, b, atol=1e-6)  # equal energies → equal shares


def test_high_band_follows_top_modelled_bins(tmp_path: Path) -> None:
    music = make_music(3.0)
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", bins=512))
    stems = separate(model, music)
    np.testing.assert_allclose(stems, tm.expected_band_split(music, bins=512), atol=1e-5)
    # the 14 kHz tone (above bin 512 = 5.5 kHz) goes to the stem owning the top bins
    spec = np.abs(np.fft.rfft(stems[:, 0], axis=-1))
    k = round(14000 * stems.shape[-1] / 44100)
    assert spec[3, k] > 100 * spec[:3, k].max()


@pytest.mark.parametrize("n", [1, 100, 4095, 5000])
def test_short_files(tmp_path: Path, n: int) -> None:
    model = load_model(tm.band_split_model(tmp_path / "b.onnx"))
    x = make_music(0.2)[:, :n]
    stems = separate(model, x)
    assert stems.shape == (4, 2, n)
    assert np.abs(stems.sum(axis=0) - x).max() < 1e-6


def test_silence_and_empty(tmp_path: Path) -> None:
    model = load_model(tm.band_split_model(tmp_path / "b.onnx"))
    assert np.all(separate(model, np.zeros((2, 30000), np.float32)) == 0)
    assert separate(model, np.zeros((2, 0), np.float32)).shape == (4, 2, 0)


def test_segment_weights_sum_to_one() -> None:
    frames, overlap = 192, 48
    step = frames - overlap
    total = np.zeros(step * 5 + frames)
    for j in range(6):
        total[j * step : j * step + frames] += segment_weights(frames, overlap, first=j == 0)
    np.testing.assert_allclose(total[: step * 5 + overlap], 1.0, atol=1e-12)


class _OwnArrays:
    """The model, but every run returns an array of its own (ignores ``out``)."""

    def __init__(self, model) -> None:
        self._model = model
        self.outs: list[np.ndarray] = []  # each ``out`` buffer the separator offered (kept
        #                                   alive, so that two distinct ones never share an id)

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def run(self, x: np.ndarray, **kwargs) -> np.ndarray:
        out = kwargs.pop("out", None)
        if out is not None:
            self.outs.append(out)
        return self._model.run(x, **kwargs)


def test_model_writes_into_a_few_reused_buffers(tmp_path: Path) -> None:
    # onnxruntime writes each segment's output into one of a few buffers the separator keeps
    # (no fresh 12 MB per run): over a 30-s stream the same few are used again, and the stems
    # are those of a model that returns fresh arrays
    music = make_music(30.0)
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=192))
    runs: list[np.ndarray] = []  # kept alive: distinct buffers have distinct ids
    real_run = model.run

    def counting_run(x: np.ndarray, **kwargs) -> np.ndarray:
        y = real_run(x, **kwargs)
        assert y is kwargs["out"]
        runs.append(y)
        return y

    model.run = counting_run  # type: ignore[method-assign]
    sep = StreamSeparator(model)
    parts = [sep.feed(music[:, i : i + 16384]) for i in range(0, music.shape[1], 16384)]
    parts.append(sep.finish())
    ours = np.concatenate(parts, axis=2)
    assert len(runs) >= 9 and len({id(y) for y in runs}) <= 3
    fresh = _OwnArrays(load_model(tmp_path / "b.onnx"))
    sep = StreamSeparator(fresh)  # type: ignore[arg-type]
    parts = [sep.feed(music[:, i : i + 16384]) for i in range(0, music.shape[1], 16384)]
    parts.append(sep.finish())
    np.testing.assert_array_equal(ours, np.concatenate(parts, axis=2))
    assert len({id(b) for b in fresh.outs}) == 1  # the buffer it did not use went back
