"""Envelopes of the separated stems, per model slot, for the waveform overview; and how far
each slot's separation is ahead of the playhead.

Thread: whoever polls (the app: the GUI thread, a few times a second). It only *reads* the
engine's public state, never writes it: ``engine.mixer.sources`` (slot -> ``Source(ring,
stems)``, swapped by reference by the worker), ``engine.worker.timeline`` (stream -> track
positions, swapped by reference) and ``engine.worker.state.models``. A ring is read like the
audio callback reads it, without publishing a read position: take one snapshot of ``state``, copy
the samples not yet seen, then keep only those still valid (the worker overwrites only
samples before the callback's published read position, and a seek changes the generation;
see :mod:`engine.ring`). The rings hold every separated sample from when it is written until
it is played, so each region that is separated passes through them once; each poll adds what
is new since the last one.

Result per slot: ``rms`` ``(stems, buckets)`` float32, the RMS of each stem's mono mix in
``buckets`` equal slices of the track, and ``covered`` ``(buckets,)`` bool, the slices already
separated. Kept per (track, model): a slot that changes model starts again empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.config import SAMPLE_RATE

BUCKETS = 3000  # like the overview of the mix (app/envelope.py)
#: Most samples taken from one ring per poll (keeps a poll to a few ms).
MAX_CHUNK = 10 * SAMPLE_RATE


@dataclass
class SlotEnvelope:
    """What one slot has separated so far, in track buckets."""

    key: tuple[str, str]  # (track path, model path)
    stems: tuple[str, ...]
    samples: int  # track length
    buckets: int
    sq: np.ndarray  # (stems, buckets) float64: sums of squares
    n: np.ndarray  # (buckets,) int64: samples seen
    ring: Any = None  # the ring read last (a new writer makes a new ring)
    generation: int = -1
    done: int = 0  # stream position up to which the ring was read
    ahead_s: float = 0.0
    version: int = 0  # bumped whenever something was added
    bucket_len: float = field(init=False)

    def __post_init__(self) -> None:
        self.bucket_len = self.samples / self.buckets

    @property
    def rms(self) -> np.ndarray:
        return np.sqrt(self.sq / np.maximum(self.n, 1)).astype(np.float32)

    @property
    def covered(self) -> np.ndarray:
        """Buckets at least half separated."""
        return self.n >= 0.5 * self.bucket_len


class StemEnvelopes:
    """Polls an :class:`~engine.player.Engine`; ``slots`` holds a :class:`SlotEnvelope` per
    slot that has a model."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        self.buckets = buckets
        self.slots: dict[str, SlotEnvelope] = {}

    def poll(self, engine: Any, track: Any) -> bool:
        """Read what the rings gained since the last poll; True when an envelope changed.

        ``track``: the open song's ``TrackInfo`` (``EngineStatus.track``), None when none."""
        status_track = track
        if status_track is None:
            self.slots.clear()
            return False
        sources = engine.mixer.sources
        models = engine.worker.state.models
        changed = False
        for slot in ("A", "B"):
            src = sources.get(slot)
            info = models.get(slot)
            if src is None or info is None:
                if self.slots.pop(slot, None) is not None:
                    changed = True
                continue
            key = (str(status_track.path), str(getattr(info, "path", info)))
            env = self.slots.get(slot)
            if env is None or env.key != key or env.stems != tuple(src.stems):
                samples = max(1, int(status_track.samples))
                b = int(min(self.buckets, samples))
                env = SlotEnvelope(key, tuple(src.stems), samples, b,
                                   np.zeros((len(src.stems), b)), np.zeros(b, np.int64))
                self.slots[slot] = env
                changed = True
            changed |= self._read(env, src.ring, engine.worker.timeline)
        return changed

    def _read(self, env: SlotEnvelope, ring: Any, timeline: Any) -> bool:
        gen, start, end, _eof = ring.state
        rgen, rpos = ring.read_pos
        low = max(start, rpos) if rgen == gen else start
        env.ahead_s = max(0, end - low) / SAMPLE_RATE
        if timeline is None or timeline.generation != gen:
            return False
        if ring is not env.ring or gen != env.generation:
            env.ring, env.generation, env.done = ring, gen, low
        a = max(low, min(env.done, end))  # (a truncated ring may end before `done`)
        b = min(end, a + MAX_CHUNK)
        if b <= a:
            env.done = max(env.done, a) if env.done <= end else end
            return False
        n = b - a
        cap = ring.capacity
        i0 = a % cap
        first = min(n, cap - i0)
        # mono mix of each stem: (stems, n)
        mono = np.empty((ring.stems, n), np.float32)
        mono[:, :first] = ring.buf[:, i0:i0 + first, :].mean(axis=2)
        if first < n:
            mono[:, first:] = ring.buf[:, : n - first, :].mean(axis=2)
        # keep what is still valid after the copy (engine.ring: never overwritten at or after
        # the callback's read position; a seek changes the generation; a loop change truncates)
        gen2, _s2, end2, _e2 = ring.state
        rgen2, rpos2 = ring.read_pos
        if gen2 != gen or timeline is not None and timeline.generation != gen:
            return False
        lo = max(a, rpos2) if rgen2 == gen else a
        hi = min(b, end2)
        env.done = min(b, hi)
        if hi <= lo:
            return False
        self._add(env, mono[:, lo - a: hi - a], lo, timeline)
        env.version += 1
        return True

    def _add(self, env: SlotEnvelope, mono: np.ndarray, s0: int, timeline: Any) -> None:
        """Accumulate ``mono`` ``(stems, n)`` starting at stream position ``s0``."""
        s, stop = s0, s0 + mono.shape[1]
        while s < stop:
            t, run = timeline.run_at(s)
            if run <= 0:
                break
            k = min(run, stop - s)
            seg = mono[:, s - s0: s - s0 + k]
            idx = (np.arange(t, t + k, dtype=np.int64) * env.buckets) // env.samples
            np.minimum(idx, env.buckets - 1, out=idx)
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            bk = idx[starts]
            sums = np.add.reduceat(seg.astype(np.float64) ** 2, starts, axis=1)
            for j in range(env.sq.shape[0]):
                np.add.at(env.sq[j], bk, sums[j])
            np.add.at(env.n, bk, np.diff(np.r_[starts, k]))
            s += k

    def ahead(self) -> dict[str, float]:
        """Seconds separated ahead of the playhead, per slot with a model."""
        return {slot: env.ahead_s for slot, env in self.slots.items()}
