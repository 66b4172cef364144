"""engine.separate fast paths: stem orders, `other` made in the time domain, buffer growth.

The separator keeps its spectra frame-major in preallocated buffers and, when the model has an
``other`` stem, makes it as the mixture minus the other stems in the time domain. These tests
check what a listener relies on whatever the stem order: each stem is its band (the exact
expectation of ``tests.tinymodels``), all stems sum to the input, and large or tiny feeds give
the same audio as the offline separation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.model import load_model
from engine.separate import StreamSeparator, separate
from tests import tinymodels as tm


@pytest.mark.parametrize(
    "stems",
    [
        ("other", "vocals", "bass"),  # `other` first: the stems are reordered internally
        ("vocals", "other", "drums", "bass"),  # `other` in the middle
        ("vocals", "drums"),  # no `other`: the residual is spread by energy in the spectrum
        ("other",),  # only `other`: it is the whole mixture
    ],
)
def test_any_stem_order_gives_the_bands_and_sums_to_the_input(
    tmp_path: Path, music: np.ndarray, stems: tuple[str, ...]
) -> None:
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", stems=stems, bins=512))
    out = separate(model, music)
    assert out.shape == (len(stems), 2, music.shape[1])
    np.testing.assert_allclose(out, tm.expected_band_split(music, stems, bins=512), atol=1e-5)
    assert np.abs(out.sum(axis=0) - music).max() < 1e-6  # "all faders up" is the original


def test_huge_and_tiny_feeds_equal_offline(tmp_path: Path, music: np.ndarray) -> None:
    """One feed larger than several segments (buffers grow) and one-sample feeds after a
    reset in the middle give the offline audio."""
    model = load_model(tm.band_split_model(tmp_path / "b.onnx", frames=16))
    offline = separate(model, music)
    sep = StreamSeparator(model)
    sep.reset(0)
    whole = np.concatenate([sep.feed(music), sep.finish()], axis=2)
    assert np.abs(whole - offline).max() < 1e-6
    position = music.shape[1] - 20000
    pos = sep.reset(position)
    parts = []
    for size in (1, 1, 5, 1023, 1):
        parts.append(sep.feed(music[:, pos : pos + size]))
        pos += size
    parts.append(sep.feed(music[:, pos:]))
    parts.append(sep.finish())
    tail = np.concatenate(parts, axis=2)
    assert tail.shape == (4, 2, 20000)
    assert np.abs(tail - offline[:, :, position:]).max() < 1e-5


@pytest.mark.parametrize("past_end", [0, 1, 10000, 150000])
def test_reset_at_or_past_the_end_gives_nothing(
    tmp_path: Path, music: np.ndarray, past_end: int
) -> None:
    """A restart at the end of the song (or beyond it) yields no audio and no error."""
    model = load_model(tm.band_split_model(tmp_path / "b.onnx"))
    sep = StreamSeparator(model)
    n = music.shape[1]
    feed_from = sep.reset(n + past_end)
    parts = [sep.feed(music[:, feed_from:])] if feed_from < n else []
    parts.append(sep.finish())
    out = np.concatenate(parts, axis=2)
    assert out.shape == (4, 2, 0)
