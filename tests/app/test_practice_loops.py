"""app/practice.py: loop maths on a beat grid (pure functions)."""

from __future__ import annotations

import pytest

from app.practice import bars_loop, loop_in, loop_out, scale_loop, snap

BEATS = [0.25 + 0.5 * k for k in range(40)]  # 120 BPM from 0.25 s, 20 s
BARS = BEATS[::4]


def test_snap_to_the_nearest_beat_within_a_tolerance():
    assert snap(2.33, BEATS) == 2.25 and snap(2.51, BEATS) == 2.75
    assert snap(2.33, BEATS, tolerance=0.05) == 2.33
    assert snap(1.0, []) == 1.0


@pytest.mark.parametrize("t,n,expected", [
    (3.1, 2, (2.25, 6.25)), (2.25, 1, (2.25, 4.25)), (0.1, 4, (0.25, 8.25)),
    (19.0, 8, (18.25, 20.0)),  # clamped to the song's end
])
def test_bars_loop_starts_at_the_playheads_bar(t, n, expected):
    assert bars_loop(t, n, BARS, 20.0) == pytest.approx(expected)


def test_bars_loop_past_the_last_bar_continues_the_grid():
    assert bars_loop(18.5, 1, BARS[:5], 60.0) == pytest.approx((8.25, 10.25))
    assert bars_loop(3.0, 1, [], 20.0) is None


def test_halve_and_double_keep_the_start_and_land_on_beats():
    assert scale_loop((2.25, 6.25), 0.5, 20.0, BEATS) == pytest.approx((2.25, 4.25))
    assert scale_loop((2.25, 2.75), 0.5, 20.0, BEATS) == pytest.approx((2.25, 2.75))  # ≥ 1 beat
    assert scale_loop((2.25, 6.25), 2.0, 20.0, BEATS) == pytest.approx((2.25, 10.25))
    assert scale_loop((12.0, 18.0), 2.0, 20.0, BEATS) == pytest.approx((12.0, 20.0))
    assert scale_loop((1.0, 3.0), 0.5, 20.0) == pytest.approx((1.0, 2.0))  # no grid: seconds


def test_loop_in_and_out_at_the_playhead():
    assert loop_in(None, 2.0, 20.0) == (2.0, 6.0)
    assert loop_in((1.0, 5.0), 2.0, 20.0) == (2.0, 5.0)
    assert loop_in((1.0, 5.0), 6.0, 20.0) == (6.0, 10.0)  # past the end: a new region
    assert loop_out((2.0, 6.0), 4.5, 20.0) == (2.0, 4.5)
    assert loop_out(None, 1.0, 20.0) == (0.0, 1.0)
    assert loop_out((2.0, 6.0), 2.05, 20.0) == (0.0, 2.05)
    assert loop_in(None, 19.99, 20.0) is None
