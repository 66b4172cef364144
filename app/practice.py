"""Loop maths for practising: loop in/out at the playhead, N bars from the playhead, halve and
double, snapping to beats. Pure functions (any thread); times in seconds of song time.

``beats`` and ``bars`` are sorted arrays of beat and bar (downbeat) times from
:mod:`engine.analysis`; empty when the song is not analysed (yet), then plain seconds are used.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

#: Shortest loop (seconds); the engine refuses shorter ones.
MIN_LOOP_S = 0.1
#: Length of a loop started with "[" or ended with "]" when there is no region yet and no beat
#: grid (seconds).
DEFAULT_LOOP_S = 4.0


def snap(t: float, grid: Sequence[float], tolerance: float | None = None) -> float:
    """The grid time nearest ``t`` (or ``t`` when the grid is empty / farther than
    ``tolerance``)."""
    if not len(grid):
        return t
    i = bisect.bisect_left(grid, t)
    best = min((abs(grid[j] - t), grid[j]) for j in (i - 1, i) if 0 <= j < len(grid))
    if tolerance is not None and best[0] > tolerance:
        return t
    return float(best[1])


def _extend(grid: Sequence[float], index: int) -> float:
    """Grid time ``index`` (past the end: continued at the last spacing)."""
    if index < len(grid):
        return float(grid[index])
    step = grid[-1] - grid[-2] if len(grid) > 1 else DEFAULT_LOOP_S
    return float(grid[-1] + (index - len(grid) + 1) * step)


def bars_loop(t: float, n_bars: int, bars: Sequence[float], duration: float,
              beat_s: float = 0.0) -> tuple[float, float] | None:
    """A loop of ``n_bars`` bars starting at the bar the playhead ``t`` is in; None without a
    bar grid. The end is clamped to the song."""
    if len(bars) < 2 or n_bars < 1:
        return None
    i = max(0, bisect.bisect_right(bars, t + 1e-3) - 1)
    if t < bars[0]:
        i = 0
    a = float(bars[i])
    b = min(duration, _extend(bars, i + n_bars))
    return (a, b) if b - a >= MIN_LOOP_S else None


def scale_loop(loop: tuple[float, float], factor: float, duration: float,
               beats: Sequence[float] = ()) -> tuple[float, float] | None:
    """The loop with its length times ``factor`` (½ or 2), same start, end snapped to a beat
    when the song is analysed (never shorter than one beat, never past the song)."""
    a, b = loop
    end = a + (b - a) * factor
    if end >= duration:
        end = duration
    elif len(beats) > 1:
        end = snap(end, beats)
        i = bisect.bisect_right(beats, a + 1e-3)
        if i < len(beats):
            end = max(end, float(beats[i]))  # at least up to the next beat
    end = min(end, duration)
    return (a, end) if end - a >= MIN_LOOP_S else None


def loop_in(loop: tuple[float, float] | None, t: float, duration: float,
            length: float = DEFAULT_LOOP_S) -> tuple[float, float] | None:
    """"[": the loop starts at ``t`` (keeping its end when that lies after ``t``)."""
    end = loop[1] if loop is not None and loop[1] - t >= MIN_LOOP_S else min(duration, t + length)
    return (t, end) if end - t >= MIN_LOOP_S else None


def loop_out(loop: tuple[float, float] | None, t: float, duration: float,
             length: float = DEFAULT_LOOP_S) -> tuple[float, float] | None:
    """"]": the loop ends at ``t`` (keeping its start when that lies before ``t``)."""
    t = min(t, duration)
    start = loop[0] if loop is not None and t - loop[0] >= MIN_LOOP_S else max(0.0, t - length)
    return (start, t) if t - start >= MIN_LOOP_S else None
