"""Ring buffer: absolute positions, wrap-around, back-pressure, stale generations."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ring import StemRing


def ramp_block(start: int, n: int, stems: int = 2) -> np.ndarray:
    """(stems, channels, n): sample value = stream position (+0.5 on the right, +1000·stem)."""
    pos = np.arange(start, start + n, dtype=np.float32)
    block = np.empty((stems, 2, n), dtype=np.float32)
    for k in range(stems):
        block[k, 0] = pos + 1000 * k
        block[k, 1] = pos + 1000 * k + 0.5
    return block


def expected(start: int, n: int, stems: int = 2) -> np.ndarray:
    """The same samples in the ring's read layout (stems, n, channels)."""
    return ramp_block(start, n, stems).transpose(0, 2, 1)


def test_wrap_around_returns_samples_in_order() -> None:
    ring = StemRing(stems=2, capacity=100)
    ring.reset(generation=1, position=0)
    out = np.zeros((2, 30, 2), dtype=np.float32)
    pos = 0
    written = 0
    for _ in range(20):  # 600 samples through a 100-sample ring: wraps six times
        written += ring.write(ramp_block(written, 45)[:, :, : ring.free()])
        n = ring.read_into(out, 1, pos)
        assert n == 30
        np.testing.assert_array_equal(out, expected(pos, 30))
        pos += n
        ring.publish_read(1, pos)
    assert pos == 600


def test_writer_never_overwrites_unread_samples() -> None:
    ring = StemRing(stems=1, capacity=64)
    ring.reset(1, 1000)
    assert ring.write(ramp_block(1000, 100, stems=1)) == 64  # back-pressure: only what fits
    assert ring.free() == 0
    ring.publish_read(1, 1010)
    assert ring.free() == 10
    assert ring.write(ramp_block(1064, 100, stems=1)) == 10
    out = np.zeros((1, 64, 2), dtype=np.float32)
    assert ring.read_into(out, 1, 1010) == 64
    np.testing.assert_array_equal(out, expected(1010, 64, stems=1))


def test_underrun_reports_only_what_is_there() -> None:
    ring = StemRing(stems=1, capacity=64)
    ring.reset(3, 0)
    ring.write(ramp_block(0, 20, stems=1))
    out = np.full((1, 32, 2), 7.0, dtype=np.float32)
    assert ring.read_into(out, 3, 10) == 10
    np.testing.assert_array_equal(out[:, :10], expected(10, 10, stems=1))
    assert ring.read_into(out, 3, 20) == 0
    assert ring.available(3, 5) == 15


def test_stale_generation_is_dropped() -> None:
    ring = StemRing(stems=2, capacity=128)
    ring.reset(1, 0)
    ring.write(ramp_block(0, 100))
    out = np.zeros((2, 16, 2), dtype=np.float32)
    assert ring.read_into(out, 1, 0) == 16
    ring.reset(2, 5000)  # seek: the worker starts generation 2 elsewhere
    assert ring.read_into(out, 1, 16) == 0  # the callback still at generation 1 gets nothing
    ring.write(ramp_block(5000, 50))
    assert ring.read_into(out, 1, 5000) == 0
    assert ring.read_into(out, 2, 5000) == 16
    np.testing.assert_array_equal(out, expected(5000, 16))
    # The reader's published position of an old generation does not block the writer.
    ring.publish_read(1, 16)
    assert ring.free() == 128 - 50


def test_truncate_and_eof() -> None:
    ring = StemRing(stems=1, capacity=256)
    ring.reset(1, 0)
    ring.write(ramp_block(0, 200, stems=1))
    ring.truncate(120)
    assert ring.end == 120
    ring.write(ramp_block(9000, 30, stems=1))  # a new timeline piece continues at 120
    out = np.zeros((1, 40, 2), dtype=np.float32)
    assert ring.read_into(out, 1, 100) == 40
    np.testing.assert_array_equal(out[:, :20], expected(100, 20, stems=1))
    np.testing.assert_array_equal(out[:, 20:], expected(9000, 20, stems=1))
    ring.mark_eof()
    assert not ring.at_eof(1, 149)
    assert ring.at_eof(1, 150)
    assert not ring.at_eof(2, 150)


def test_block_shape_is_checked() -> None:
    ring = StemRing(stems=4, capacity=32)
    with pytest.raises(ValueError):
        ring.write(np.zeros((2, 2, 8), dtype=np.float32))


def test_rebase_keeps_the_audio_from_a_position_as_the_new_generation() -> None:
    ring = StemRing(stems=2, capacity=100)
    ring.reset(generation=1, position=0)
    ring.write(ramp_block(0, 80))
    ring.mark_eof()
    assert not ring.rebase(2, 30, 3)  # another generation: nothing kept
    assert ring.rebase(1, 30, 2, until=60)  # a cut past the end keeps the end of track
    out = np.zeros((2, 50, 2), dtype=np.float32)
    assert ring.read_into(out, 1, 30) == 0  # the old generation is gone
    assert ring.read_into(out, 2, 0) == 50
    np.testing.assert_array_equal(out, expected(30, 50))
    assert ring.at_eof(2, 50) and ring.end == 50
    assert ring.rebase(2, 10, 3, until=20)  # a cut before the end: the end mark goes
    assert ring.end == 40 and not ring.at_eof(3, 40)
    assert not ring.rebase(3, 40, 4)  # nothing at or after the end
