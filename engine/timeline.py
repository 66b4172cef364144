"""Stream positions → track positions: the pure maths of seeks and seamless loops.

Pure functions and frozen dataclasses, no thread of their own: the worker builds and swaps
:class:`Timeline` s (one reference swap), the facade and the callback's count-in read them.

The rings are addressed by *stream positions* (samples played since the current generation
started, see ``engine/ring.py``). A :class:`Timeline` maps them to track positions (samples
from the start of the song) as a tuple of :class:`Piece` s; a piece with a loop wraps from the
loop end back to its start, so a loop is seamless: the samples after the wrap are simply
written next in the ring. Every position and length here counts samples at 44.1 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """From stream position ``stream`` on, the track plays from ``track``, wrapping in ``loop``."""

    stream: int
    track: int
    loop: tuple[int, int] | None = None


@dataclass(frozen=True)
class Timeline:
    """Map from stream positions of one generation to track positions (immutable)."""

    generation: int
    samples: int  # track length
    pieces: tuple[Piece, ...]

    def _piece(self, s: int) -> tuple[Piece, int | None]:
        """The piece containing stream position ``s`` and the start of the next one."""
        idx = 0
        for i, p in enumerate(self.pieces):
            if p.stream <= s:
                idx = i
        nxt = self.pieces[idx + 1].stream if idx + 1 < len(self.pieces) else None
        return self.pieces[idx], nxt

    def run_at(self, s: int) -> tuple[int, int]:
        """(track position at stream ``s``, samples that follow it contiguously).

        The run ends at a loop wrap, at the next piece or at the end of the track (a run of 0
        means the track has ended).
        """
        piece, nxt = self._piece(s)
        d = s - piece.stream
        loop = piece.loop
        if loop is not None and piece.track < loop[1]:
            a, b = loop
            first = b - piece.track
            if d < first:
                t, run = piece.track + d, first - d
            else:
                d2 = (d - first) % (b - a)
                t, run = a + d2, (b - a) - d2
        else:
            t = piece.track + d
            run = max(0, self.samples - t)
        if nxt is not None:
            run = min(run, nxt - s)
        return t, run

    def track_at(self, s: int) -> int:
        return self.run_at(s)[0]

    def rewritten(self, s: int, loop: tuple[int, int] | None) -> Timeline:
        """This timeline with a new piece from stream ``s`` on (same track position there)."""
        kept = tuple(p for p in self.pieces if p.stream < s)
        return Timeline(self.generation, self.samples, (*kept, Piece(s, self.track_at(s), loop)))

    def with_loop(self, pos: int, margin: int, loop: tuple[int, int] | None) -> Timeline:
        """This timeline after setting (or clearing, ``loop`` None) a loop while the playhead
        is at stream ``pos``; nothing changes before ``pos + margin``.

        When the loop end lies ahead in the current run, at least ``margin`` away, the new
        piece starts exactly there (the first wrap is at the loop end). When it lies ahead but
        closer than ``margin`` (the samples up to ``pos + margin`` are already on their way),
        the first wrap comes at ``pos + margin``, into the loop at the place it would have
        reached had it wrapped at its end (the loop's beat is kept). Otherwise the new piece
        starts at ``pos + margin``. The new piece is the last one: its ``stream`` is where the
        rings must be cut."""
        if loop is not None:
            t_play, run = self.run_at(pos)
            a, b = loop
            if margin <= b - t_play <= run:
                return self._cut_at(pos + (b - t_play), a, loop)  # wrap exactly at the loop end
            if 0 < b - t_play < margin <= run:
                return self._cut_at(pos + margin, a + (t_play + margin - b) % (b - a), loop)
        return self.rewritten(pos + margin, loop)

    def _cut_at(self, cut: int, track: int, loop: tuple[int, int]) -> Timeline:
        kept = tuple(p for p in self.pieces if p.stream < cut)
        return Timeline(self.generation, self.samples, (*kept, Piece(cut, track, loop)))


def divergence(old: Timeline, at: int, new: Timeline, horizon: int) -> int | None:
    """First offset ``k < horizon`` where ``old`` from stream ``at + k`` and ``new`` from stream
    ``k`` map to different track positions (or one ends and the other not); None if none."""
    k = 0
    while k < horizon:
        t1, r1 = old.run_at(at + k)
        t2, r2 = new.run_at(k)
        if t1 != t2 or (r1 <= 0) != (r2 <= 0):
            return k
        if r1 <= 0:
            return None  # both at the end of the track
        k += min(r1, r2)  # both runs are linear from the same track position
    return None


def reuse_point(old: Timeline, new: Timeline, lo: int, hi: int) -> int | None:
    """Smallest stream position ``a`` in ``[lo, hi)`` where ``old`` plays the track position
    at which ``new`` starts (``new.run_at(0)``), or None."""
    target = new.run_at(0)[0]
    s = lo
    while s < hi:
        t, run = old.run_at(s)
        if run <= 0:
            return None
        if t <= target < t + run and s + (target - t) < hi:
            return s + (target - t)
        s += run
    return None


def start_timeline(
    generation: int, samples: int, track: int, loop: tuple[int, int] | None
) -> Timeline:
    """The timeline of a seek to ``track``: the loop applies when the seek lands inside it."""
    inside = loop is not None and loop[0] <= track < loop[1]
    return Timeline(generation, samples, (Piece(0, track, loop if inside else None),))
