"""The ring writers: what fills one ring, following the timeline. Worker thread.

A writer owns one :class:`~engine.ring.StemRing` and whatever produces its audio:
:class:`DecodeWriter` decodes the plain mix (one reader) or the reference stems (one reader per
stem); :class:`SeparatorWriter` separates one model slot through a ``StreamSeparator``, its
heavy :meth:`SeparatorWriter.compute` on the slot's separation thread
(``stemplay-separate-A`` / ``-B``, :class:`SeparationThreads`), everything else on the worker
thread. The worker decides
which writer steps next (``engine/worker.py``); a writer only knows its ring and its source.

A writer keeps its own state consistent with its ring: ``restart`` (a seek: the ring starts
empty), ``rebase`` (a seek into audio the ring holds: keep it, carry on) and ``truncate`` (the
timeline changed from a stream position on: forget what was made past it). Blocks written are
``(stems, channels, samples)`` float32; positions are stream positions (``engine/timeline.py``).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import CHANNELS, DEFAULT_STEMS, HOP, SAMPLE_RATE
from engine.model import RunCancel, SeparationModel
from engine.ring import NO_EOF, StemRing
from engine.timeline import Timeline

log = logging.getLogger(__name__)

#: Samples decoded per step of the plain mix and reference writers.
DECODE_CHUNK = 8192
#: Samples of mixture fed to a separator per step (keeps the worker responsive).
FEED_CHUNK = 16384


def reference_paths(path: Path) -> list[Path] | None:
    """Files of the true stems beside ``mixture.<ext>`` (MUSDB layout), or None."""
    if path.stem != "mixture":
        return None
    files = [path.with_name(f"{stem}{path.suffix}") for stem in DEFAULT_STEMS]
    return files if all(f.is_file() for f in files) else None


class Writer(ABC):
    """Fills one ring following the timeline (abstract: :class:`DecodeWriter`,
    :class:`SeparatorWriter`). Worker thread only."""

    name = "?"

    def __init__(self, ring: StemRing, stems: tuple[str, ...]) -> None:
        self.ring = ring
        self.stems = stems

    def wants(self, ahead: int) -> bool:
        return self.ring.eof == NO_EOF and self.ring.ahead() < ahead and self.ring.free() > 0

    def restart(self, generation: int, position: int) -> None:
        """A new generation (seek): empty the ring."""
        self.ring.reset(generation, position)

    def rebase(self, generation: int, at: int, new_generation: int, cut: int | None) -> None:
        """A seek into audio the ring holds: keep it from stream ``at`` of ``generation`` on as
        position 0 of ``new_generation`` (what this writer makes next still follows it), then
        forget what lies past ``cut`` (where the new timeline departs from the old one; None:
        nowhere). Restarts empty at 0 when the ring holds nothing there."""
        if not self.ring.rebase(generation, at, new_generation, cut):
            self.restart(new_generation, 0)
        if cut is not None:
            self.truncate(cut)

    def truncate(self, cut: int) -> None:
        """The timeline changed from stream ``cut`` on: forget what was made past it."""
        if self.ring.end > cut:
            self.ring.truncate(cut)

    @abstractmethod
    def step(self, timeline: Timeline) -> bool:
        """Write the next block; True when something was written."""

    def close(self) -> None:
        pass


class DecodeWriter(Writer):
    """Plain decode into a ring: the mix (one reader) or the reference stems (one per stem)."""

    def __init__(self, name: str, readers: Sequence[Any], stems: tuple[str, ...], capacity: int):
        super().__init__(StemRing(len(readers), capacity), stems)
        self.name = name
        self.readers = list(readers)
        self.pos = -1  # track position the readers are at (-1: unknown)

    def restart(self, generation: int, position: int) -> None:
        super().restart(generation, position)
        self.pos = -1

    def truncate(self, cut: int) -> None:
        if self.ring.end > cut:
            super().truncate(cut)
            self.pos = -1  # the readers are past the cut: seek them on the next step

    def step(self, timeline: Timeline) -> bool:
        w = self.ring.end
        t, run = timeline.run_at(w)
        if run <= 0:
            self.ring.mark_eof()
            return True
        n = min(DECODE_CHUNK, run, self.ring.free())
        if n <= 0:
            return False
        if self.pos != t:
            for r in self.readers:
                r.seek(t)
            self.pos = t
        block = np.zeros((len(self.readers), CHANNELS, n), dtype=np.float32)
        got = 0
        for k, r in enumerate(self.readers):
            x = r.read(n)
            block[k, :, : x.shape[1]] = x
            if k == 0:
                got = x.shape[1]
        if got == 0:  # the decoder ended before the announced length
            self.ring.mark_eof()
            return True
        self.ring.write(block[:, :, :got])
        self.pos += got
        return True

    def close(self) -> None:
        for r in self.readers:
            r.close()


@dataclass
class StepResult:
    """What one separation step produced (computed on the separation thread)."""

    out: np.ndarray  # (stems, channels, m) separated samples from ``at``
    at: int  # track position of out[..., 0]
    run: int  # samples the timeline run had left at the step's stream position
    finished: bool  # the separator was told the input ended


class SeparatorWriter(Writer):
    """Streaming separation of one model slot into its ring.

    The heavy part, :meth:`compute`, runs on the separation thread of its slot (one step at a
    time, so each ONNX session and FFTW plan is used by that one thread); the worker thread
    decides (:meth:`wants`), commits the result to the ring (:meth:`commit`) and invalidates
    the writer on seek or loop change (``epoch``), so a step started before a seek is dropped.
    """

    def __init__(self, slot: str, model: Any, reader: Any, capacity: int) -> None:
        from engine.separate import StreamSeparator

        stems = tuple(model.info.stems)
        super().__init__(StemRing(len(stems), capacity), stems)
        self.name = slot
        self.model = model
        self.reader = reader
        self.sep = StreamSeparator(model)
        # A mono file plays as dual mono: its stems are made mono too (left = right).
        self.mono = getattr(getattr(reader, "info", None), "source_channels", 2) == 1
        # Touched by the separation thread while ``busy``, else by the worker thread:
        self.next_out: int | None = None  # track position of the separator's next output
        self.feed_pos = 0  # track position of the next mixture sample to feed
        self.compute_s = 0.0  # time spent separating
        # True from a reset until the separator's first output: compute() feeds on until then
        self.priming = True
        # Worker thread only:
        self.busy = False  # a compute() is in flight
        self.cancel: RunCancel | None = None  # cancels the model runs of the compute in flight
        self.epoch = 0  # bumped whenever the ring no longer continues the separator's output
        self.pending: np.ndarray | None = None  # (stems, channels, n) output not yet in the ring
        self.previous: SeparatorWriter | None = None  # kept until this one has produced audio
        self.produced = 0  # samples separated and kept
        self.close_when_done = False

    def invalidate(self) -> None:
        """The ring was reset or truncated: whatever the separator computes next is stale.

        A step in flight is cancelled (its model run stops at the next operator): after a far
        seek the slot's thread is free for the new position at once instead of finishing a
        segment nobody will hear."""
        self.epoch += 1
        self.pending = None
        if not self.busy:
            self.next_out = None
        elif self.cancel is not None:
            self.cancel.cancel()

    def restart(self, generation: int, position: int) -> None:
        super().restart(generation, position)
        self.invalidate()

    def truncate(self, cut: int) -> None:
        if self.ring.end > cut:
            super().truncate(cut)
            self.invalidate()
        elif self.busy:
            self.invalidate()  # its step may run past the cut: recompute from the ring's end
        elif self.pending is not None and self.ring.end + self.pending.shape[2] > cut:
            keep = cut - self.ring.end
            pending = self.pending[:, :, :keep] if keep > 0 else None
            self.invalidate()
            self.pending = pending

    def wants(self, ahead: int) -> bool:
        if self.busy:
            return False
        if self.pending is not None:
            return self.ring.free() > 0
        return self.ring.eof == NO_EOF and self.ring.ahead() < ahead and self.ring.free() > 0

    def step(self, timeline: Timeline) -> bool:
        """Synchronous step (worker thread): flush pending output, or compute and commit."""
        if self.flush_pending():
            return True
        job = self.prepare(timeline)
        if job is None:
            return True
        self.commit(self.compute(timeline, job), self.epoch)
        return True

    def flush_pending(self) -> bool:
        """Write held-back output; True when there was some (worker thread)."""
        if self.pending is None:
            return False
        took = self.ring.write(self.pending)
        rest = self.pending[:, :, took:]
        self.pending = rest if rest.shape[2] else None
        return True

    def prepare(self, timeline: Timeline) -> int | None:
        """The stream position to separate next, or None at the end (worker thread)."""
        w = self.ring.end
        if timeline.run_at(w)[1] <= 0:
            self.ring.mark_eof()
            return None
        return w

    def compute(self, timeline: Timeline, w: int, cancel: RunCancel | None = None,
                shared: bool = False) -> StepResult:
        """Feed the next chunk of mixture for stream position ``w`` (separation thread).

        After a reset (first block, seek, loop wrap) it feeds on until the separator's first
        output, in this one step: no round trip through the worker per chunk before the first
        separated sound. ``cancel`` (see ``engine.model.RunCancel``) stops the step early; it
        then raises ``RunCancelled`` or returns what it has (the worker drops it as stale).
        ``shared``: another slot separates at the same time: the model runs with half the CPUs
        (``SeparationModel.narrowed``, same output) so the two do not oversubscribe them.
        """
        t, run = timeline.run_at(w)
        length = timeline.samples
        t0 = time.perf_counter()
        self.sep.cancel = cancel
        narrowed = getattr(self.model, "narrowed", None)
        self.sep.model = narrowed() if shared and narrowed is not None else self.model
        if self.next_out != t:  # first block, seek, loop wrap or new piece
            # nothing buffered ahead (play, a seek): a listener waits for this, so the quick
            # start (one model run); a loop wrap prepared ahead stays exact
            self.feed_pos = self.sep.reset(t, quick=self.ring.ahead() == 0)
            self.reader.seek(max(0, self.feed_pos))
            self.next_out = t
            self.priming = True
        priming = self.priming
        while True:
            # priming: the mixture the first output waits for in one read (one decode and
            # analysis call, not one per FEED_CHUNK)
            want = max(FEED_CHUNK, self.sep.samples_to_next_segment()) if priming else FEED_CHUNK
            out, finished = self._feed_next(length, want)
            if out.shape[2] or finished or not priming:
                break
            if cancel is not None and cancel.cancelled:
                break
        if out.shape[2]:
            self.priming = False
            # The first output after a reset is short (the separator makes the first frames
            # alone). On a loaded CPU the step took so long that the playhead is past much of
            # it by now: make the rest of the segment in this step too, or the stems would
            # arrive behind the playhead and wait for one more step.
            slow = time.perf_counter() - t0 > 0.5 * out.shape[2] / SAMPLE_RATE
            if priming and slow and not finished:
                more, finished = self._feed_next(length)
                out = np.concatenate([out, more], axis=2)
        if self.mono and out.shape[2]:
            from engine.separate import dual_mono

            out = dual_mono(out)
        self.compute_s += time.perf_counter() - t0
        at = self.next_out
        m = out.shape[2]
        take = min(m, run)
        self.next_out = at + take if m <= take else None  # None: the rest lies beyond a wrap
        return StepResult(out, at, run, finished)

    def _feed_next(self, length: int, size: int = FEED_CHUNK) -> tuple[np.ndarray, bool]:
        """Feed the next ``size`` samples of mixture at most (or finish at the end of the
        track): (the separated samples it gave ``(stems, channels, m)``, whether the separator
        has finished)."""
        if self.feed_pos < length:
            block = self.reader.read(min(size, length - self.feed_pos))
            if block.shape[1]:
                self.feed_pos += block.shape[1]
                return self.sep.feed(block), False
            self.feed_pos = length  # the decoder ended before the announced length
        return self.sep.finish(), True

    def commit(self, res: StepResult, epoch: int) -> None:
        """Write a computed step into the ring unless a seek/loop change made it stale."""
        if epoch != self.epoch:
            self.next_out = None
            return
        m = res.out.shape[2]
        take = min(m, res.run)
        self.produced += take
        if take and self.previous is not None:  # the new model works: forget the old one
            self.previous.close()
            self.previous = None
        if take:
            out = np.ascontiguousarray(res.out[:, :, :take], dtype=np.float32)
            took = self.ring.write(out)
            if took < take:
                self.pending = out[:, :, took:]
        if m <= take and res.finished and take < res.run:
            # The separator has nothing more although the run continues: end here.
            self.ring.mark_eof()

    @property
    def speed_x(self) -> float:
        """Seconds of audio separated per second of compute (× real time); 0 when unknown."""
        if self.compute_s <= 0 or self.produced == 0:
            return 0.0
        return self.produced / SAMPLE_RATE / self.compute_s

    def close(self) -> None:
        if self.busy:
            self.close_when_done = True
            if self.cancel is not None:
                self.cancel.cancel()  # nobody will hear that step: free the slot's thread
            return
        self.reader.close()
        if self.previous is not None:
            self.previous.close()


class SeparationThreads:
    """One separation thread per model slot (``stemplay-separate-A`` / ``-B``), each running one
    :meth:`SeparatorWriter.compute` at a time: each ONNX session and FFTW plan stays in that one
    thread, the slots run side by side on a multi-core CPU, and the worker thread stays free for
    commands (seek!) and for decoding the plain mix meanwhile.

    Driven by the worker thread only. A slot's thread is made on its first step and kept until
    :meth:`close`.
    """

    def __init__(self) -> None:
        self._pools: dict[str, ThreadPoolExecutor] = {}
        # slot -> (its step in flight, that step's writer, the writer's epoch when it started)
        self._jobs: dict[str, tuple[Future[StepResult], SeparatorWriter, int]] = {}
        # slot -> the cancel handle of its warm-up (:meth:`warm_up`), queued or running
        self._warm: dict[str, RunCancel] = {}

    def __bool__(self) -> bool:
        """Whether some step is in flight."""
        return bool(self._jobs)

    def busy(self, slot: str) -> bool:
        """Whether ``slot``'s thread runs a step (maybe of a writer already replaced)."""
        return slot in self._jobs

    def submit(self, w: SeparatorWriter, timeline: Timeline) -> bool:
        """Start ``w``'s next step on its slot's thread; False at the end of the track.

        While another slot's step is in flight (and not cancelled) the two share the CPUs: this
        one runs with half of them (``SeparationModel.narrowed``, the same output)."""
        at = w.prepare(timeline)
        if at is None:
            return False
        # a step cancelled by a seek ends at its model's next operator: no reason to halve this
        # step's CPUs (a far seek's first step in A, with B's step cancelled but not yet
        # collected, ran on one core: ~1.5x longer before the first separated sound)
        shared = any(j.cancel is None or not j.cancel.cancelled
                     for _fut, j, _epoch in self._jobs.values())
        warm = self._warm.pop(w.name, None)
        if warm is not None:  # a listener waits for this step: the warm-up stops (its model
            warm.cancel()     # run at the next operator) instead of running to its end first
        w.busy = True
        w.cancel = RunCancel()
        fut = self._pool(w.name).submit(w.compute, timeline, at, w.cancel, shared)
        self._jobs[w.name] = (fut, w, w.epoch)
        return True

    def _pool(self, slot: str) -> ThreadPoolExecutor:
        pool = self._pools.get(slot)
        if pool is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix=f"stemplay-separate-{slot}")
            self._pools[slot] = pool
        return pool

    def warm_up(self, slot: str, model: Any | None) -> None:
        """Separate a moment of silence with ``model`` on ``slot``'s thread, in the background
        (None: only cancel the slot's warm-up still queued or running).

        A model's first run and a thread's first separation are slow (ONNX Runtime sets up its
        buffers and kernels, FFTW plans are made per thread): with `hybrid` on a 2-core
        machine, a song opened and played at once gave its first separated sound ~60 ms later
        without this (median of 6 pairs, 257 against 199 ms). Done when a model comes into
        a slot while nothing plays, it is over by the time a listener presses play; a step
        submitted before it ends cancels it (the step would otherwise wait for it on the same
        thread). Only for the models this engine loads itself (``SeparationModel``); a failure
        is left for the real step to report."""
        old = self._warm.pop(slot, None)
        if old is not None:
            old.cancel()
        if not isinstance(model, SeparationModel):
            return
        cancel = RunCancel()
        self._warm[slot] = cancel
        self._pool(slot).submit(_warm_up, model, cancel)

    def finished(self) -> tuple[Future[StepResult], SeparatorWriter, int] | None:
        """A step that has ended (taken out, its writer no longer busy) with its writer and
        epoch, or None when every step is still running."""
        for slot, (fut, w, epoch) in list(self._jobs.items()):
            if fut.done():
                del self._jobs[slot]
                w.busy = False
                w.cancel = None
                return fut, w, epoch
        return None

    def close(self) -> None:
        """Cancel the steps in flight (nobody will hear them), wait for them, end the threads."""
        for cancel in self._warm.values():
            cancel.cancel()
        for _fut, w, _epoch in self._jobs.values():
            if w.cancel is not None:
                w.cancel.cancel()
        for fut, w, _epoch in self._jobs.values():
            try:
                fut.result(timeout=30)
            except Exception:
                log.debug("last separation step failed while stopping", exc_info=True)
            w.busy = False
            if w.close_when_done:
                w.close()
        self._jobs.clear()
        for pool in self._pools.values():
            pool.shutdown(wait=True)


def _warm_up(model: SeparationModel, cancel: RunCancel) -> None:
    """Body of :meth:`SeparationThreads.warm_up` (a slot's separation thread): one segment
    step of silence through a ``StreamSeparator`` — one model run, this thread's FFTW plans."""
    from engine.separate import StreamSeparator

    if cancel.cancelled:
        return
    try:
        sep = StreamSeparator(model)
        sep.cancel = cancel
        sep.feed(np.zeros((CHANNELS, (sep.step - 1) * HOP), dtype=np.float32))
        sep.finish()  # one segment: the first (the next starts after the last frame)
    except Exception as err:  # noqa: BLE001 - RunCancelled, or a model failing on silence
        log.debug("warm-up of %s on its slot thread: %s", model.info.name, err)
