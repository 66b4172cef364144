"""The playback worker thread: decode, separate and fill the rings ahead of the playhead.

Runs on its own thread (:class:`Worker`, a daemon ``threading.Thread``). It owns every decoder,
every ``StreamSeparator`` (hence every ONNX session use and FFTW plan of playback) and is the
only writer of the rings. Inference runs on one separation thread per model slot
(``stemplay-separate-A`` / ``-B``), driven by the worker thread; a step that runs while the
other slot's is in flight uses the model with half the CPUs (``SeparationModel.narrowed``,
the same output), so A + B cost the CPU what A and B cost apart instead of asking for twice
the cores. The GUI thread talks to it through a command queue (``open``,
``seek``, ``model``, ``loop``, ``stop``); the audio callback only reads the rings.

Stream positions and the timeline: the rings are addressed by *stream positions* (samples
played since the current generation started). A :class:`~engine.timeline.Timeline` maps them
to track positions; a loop wraps seamlessly: the samples after the wrap are simply written next
in the ring. A seek starts a new generation (the rings are emptied and the callback drops what is
left of the old one); setting or clearing a loop while playing appends a piece at a stream
position far enough ahead of the playhead and truncates the rings there.

Seek: when the new position lies inside audio already in the rings (a short seek forward or
back, the start of a loop already written after its wrap) and the old timeline goes on from
there exactly as the new one does, the rings keep that audio, shifted to the new generation
(:func:`~engine.timeline.reuse_point`); the writers carry on from where they were and nothing is re-separated.
Otherwise every ring restarts empty at the new position; a separation step still running for
the old position is cancelled (``engine.model.RunCancel``: its model run stops at the next
operator), and the slot's first step at the new position feeds the separator until its first
output in one go, so the first separated sound waits only for the segments that cover it.

Seek while sound goes out: the callback first fades the old position out over one block, and
only then jumps (``Mixer.seek_request``). The worker must not empty the rings before that block
has read them, or the fade-out would find nothing and the sound would stop with a click: so it
holds a seek back (``_deferred``) until the callback has left the old generation (its playhead
is in the new one, or it is silent), at most ``SEEK_FADE_WAIT_S`` (a stalled output). Opening
another song while one plays is the same: the facade's seek request fades the old song out, the
worker holds the open back until then, and the new song starts with the fade-in of play.

Scheduling: the plain mix first up to ``MIX_FIRST_S`` (so the first sound comes at once), then
whichever stem source (slot A, slot B, reference) is least far ahead, until every ring is
``ahead_s`` seconds ahead of the playhead. While the source being heard has less than
``YIELD_S`` ahead (after a seek, a model change, or because the CPU is busy with other work),
no other stem source is fed: the first separated segment at the new position is not slowed by
work that can wait, and slot B, which is not heard, yields to A. The plain mix is
always topped up to ``ahead_s`` whenever the separation leaves the worker thread idle: decoding
is cheap, and the mix is what is heard whenever the stems are late, so it must never run dry.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.config import CHANNELS, DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from engine.mixer import Mixer, Source
from engine.model import RunCancel, RunCancelled
from engine.ring import NO_EOF, StemRing
from engine.timeline import Timeline, divergence, reuse_point

log = logging.getLogger(__name__)

#: Samples decoded per step of the plain mix and reference writers.
DECODE_CHUNK = 8192
#: Samples of mixture fed to a separator per step (keeps the worker responsive).
FEED_CHUNK = 16384
#: How far ahead of the playhead a loop change may rewrite the rings (seconds).
REWRITE_MARGIN_S = 0.25
#: Extra ring room beyond ``ahead_s`` (seconds), so the writer never waits on a full ring.
RING_SLACK_S = 1.0
#: The mix is filled first up to this many seconds before separation starts.
MIX_FIRST_S = 1.0
#: The heard stems are fed alone (other slots yield) until they are this far ahead (seconds,
#: at most ``ahead_s``): on a loaded CPU, slot B must not starve the slot being heard.
YIELD_S = 4.0
#: Longest a seek waits for the callback to fade the old position out (seconds).
SEEK_FADE_WAIT_S = 0.25

SLOTS = ("A", "B")


# ------------------------------------------------------------------------------ writers
def reference_paths(path: Path) -> list[Path] | None:
    """Files of the true stems beside ``mixture.<ext>`` (MUSDB layout), or None."""
    if path.stem != "mixture":
        return None
    files = [path.with_name(f"{stem}{path.suffix}") for stem in DEFAULT_STEMS]
    return files if all(f.is_file() for f in files) else None


class _Writer:
    """Fills one ring following the timeline. Worker thread only."""

    name = "?"

    def __init__(self, ring: StemRing, stems: tuple[str, ...]) -> None:
        self.ring = ring
        self.stems = stems

    def wants(self, ahead: int) -> bool:
        return self.ring.eof == NO_EOF and self.ring.ahead() < ahead and self.ring.free() > 0

    def restart(self, generation: int, position: int) -> None:
        """A new generation (seek): empty the ring."""
        self.ring.reset(generation, position)

    def step(self, timeline: Timeline) -> bool:
        """Write the next block; True when something was written. Each subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def close(self) -> None:
        pass


class DecodeWriter(_Writer):
    """Plain decode into a ring: the mix (one reader) or the reference stems (one per stem)."""

    def __init__(self, name: str, readers: Sequence[Any], stems: tuple[str, ...], capacity: int):
        super().__init__(StemRing(len(readers), capacity), stems)
        self.name = name
        self.readers = list(readers)
        self.pos = -1  # track position the readers are at (-1: unknown)

    def restart(self, generation: int, position: int) -> None:
        super().restart(generation, position)
        self.pos = -1

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
class _Result:
    """What one separation step produced (computed on the separation thread)."""

    out: np.ndarray  # (stems, channels, m) separated samples from ``at``
    at: int  # track position of out[..., 0]
    run: int  # samples the timeline run had left at the step's stream position
    finished: bool  # the separator was told the input ended


class SeparatorWriter(_Writer):
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
                shared: bool = False) -> _Result:
        """Feed the next chunk of mixture for stream position ``w`` (separation thread).

        After a reset (first block, seek, loop wrap) it feeds on until the separator's first
        output, in this one step: no round trip through the worker per chunk before the first
        separated sound. ``cancel`` (see ``engine.model.RunCancel``) stops the step early; it
        then raises ``RunCancelled`` or returns what it has (the worker drops it as stale).
        ``shared``: another slot separates at the same time: the model runs with half the CPUs
        (``SeparationModel.narrowed``, same output) so the two do not oversubscribe them.
        """
        t, run = timeline.run_at(w)
        frames = timeline.frames
        t0 = time.perf_counter()
        self.sep.cancel = cancel
        narrowed = getattr(self.model, "narrowed", None)
        self.sep.model = narrowed() if shared and narrowed is not None else self.model
        if self.next_out != t:  # first block, seek, loop wrap or new piece
            self.feed_pos = self.sep.reset(t)
            self.reader.seek(max(0, self.feed_pos))
            self.next_out = t
            self.priming = True
        priming = self.priming
        while True:
            out, finished = self._feed_next(frames)
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
                more, finished = self._feed_next(frames)
                out = np.concatenate([out, more], axis=2)
        if self.mono and out.shape[2]:
            from engine.separate import dual_mono

            out = dual_mono(out)
        self.compute_s += time.perf_counter() - t0
        at = self.next_out
        m = out.shape[2]
        take = min(m, run)
        self.next_out = at + take if m <= take else None  # None: the rest lies beyond a wrap
        return _Result(out, at, run, finished)

    def _feed_next(self, frames: int) -> tuple[np.ndarray, bool]:
        """Feed the next chunk of mixture (or finish at the end of the track): (the separated
        samples it gave ``(stems, channels, m)``, whether the separator has finished)."""
        if self.feed_pos < frames:
            block = self.reader.read(min(FEED_CHUNK, frames - self.feed_pos))
            if block.shape[1]:
                self.feed_pos += block.shape[1]
                return self.sep.feed(block), False
            self.feed_pos = frames  # the decoder ended before the announced length
        return self.sep.finish(), True

    def commit(self, res: _Result, epoch: int) -> None:
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
    def rtf(self) -> float:
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


# ------------------------------------------------------------------------------ the thread
@dataclass(frozen=True)
class OpenTrack:
    """A track handed to the worker: its path, its length and the first reader (validated)."""

    path: Path
    frames: int
    reader: Any
    open_reader: Callable[[Path], Any]  # opens another reader of a file (engine.decode)


@dataclass
class _Cmd:
    kind: str
    args: tuple[Any, ...] = field(default_factory=tuple)


class Worker(threading.Thread):
    """The worker thread. Public methods are called from the GUI thread and only enqueue."""

    def __init__(self, mixer: Mixer, ahead_s: float = 8.0) -> None:
        super().__init__(name="stemplay-worker", daemon=True)
        self.mixer = mixer
        self.ahead = int(ahead_s * SAMPLE_RATE)
        self.capacity = int((ahead_s + RING_SLACK_S) * SAMPLE_RATE)
        self._queue: queue.Queue[_Cmd] = queue.Queue()
        # --- shared members: written by the worker, read by the GUI thread (status) --------
        self.timeline: Timeline | None = None  # swapped by reference
        self.models: MappingProxyType[str, Any] = MappingProxyType({})  # slot -> ModelInfo
        self.error: str | None = None  # last asynchronous error, one line
        self.rtf: float = 0.0  # separation speed of the slot being heard (× real time)
        self.ahead_s: float = 0.0  # how far the heard source is ahead of the playhead
        # slot -> ModelInfo | None the slot went back to after a model failed while running;
        # written by the worker, read and emptied by the GUI thread (status).
        self.reverted: dict[str, Any] = {}
        # --- worker-owned ---------------------------------------------------------------
        self._track: OpenTrack | None = None
        self._mix: DecodeWriter | None = None
        self._ref: DecodeWriter | None = None
        self._slots: dict[str, SeparatorWriter] = {}
        self._running = True
        # A seek (or an open: its track) held back until the callback has faded the old
        # position out, and the monotonic time after which it applies anyway (module docstring).
        self._deferred: tuple[Timeline, float, OpenTrack | None] | None = None
        # One separation thread per slot: each runs one SeparatorWriter.compute of its slot at
        # a time (so each ONNX session and FFTW plan stays in that one thread), the slots run
        # side by side on a multi-core CPU, and the worker thread stays free for commands
        # (seek!) and for decoding the plain mix meanwhile.
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._jobs: dict[str, tuple[Future[_Result], SeparatorWriter, int]] = {}

    # ---------------------------------------------------------------- GUI-thread API
    def open(self, track: OpenTrack, timeline: Timeline) -> None:
        self._queue.put(_Cmd("open", (track, timeline)))

    def seek(self, timeline: Timeline) -> None:
        self._queue.put(_Cmd("seek", (timeline,)))

    def set_model(self, slot: str, model: Any | None) -> None:
        self._queue.put(_Cmd("model", (slot, model)))

    def set_loop(self, loop: tuple[int, int] | None) -> None:
        self._queue.put(_Cmd("loop", (loop,)))

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(_Cmd("stop"))
        if self.is_alive():
            self.join(timeout)

    def sync(self, timeout: float = 10.0) -> bool:
        """Block until every command sent before has been handled (tests, CLI)."""
        done = threading.Event()
        self._queue.put(_Cmd("sync", (done,)))
        return done.wait(timeout)

    # ---------------------------------------------------------------- worker thread
    def run(self) -> None:
        while self._running:
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                if not self._work():
                    wait = 0.002 if self._deferred else 0.003 if self._jobs else 0.01
                    try:
                        cmd = self._queue.get(timeout=wait)
                    except queue.Empty:
                        continue
                else:
                    continue
            try:
                self._handle(cmd)
            except StemplayError as err:
                self.error = str(err)
            except Exception as err:
                log.exception("worker command %s failed", cmd.kind)
                self.error = f"internal error in {cmd.kind}: {err}"
        self._close_all()

    def _handle(self, cmd: _Cmd) -> None:
        if cmd.kind in ("model", "loop"):
            self._settle(force=True)  # they act on the timeline and rings of the new position
        elif cmd.kind == "sync":
            self._settle(force=False)
        if cmd.kind == "stop":
            self._running = False
        elif cmd.kind == "sync":
            cmd.args[0].set()
        elif cmd.kind == "open":
            self._open(*cmd.args)
        elif cmd.kind == "seek":
            self._seek(*cmd.args)
        elif cmd.kind == "model":
            self._model(*cmd.args)
        elif cmd.kind == "loop":
            self._loop(*cmd.args)
        else:
            raise ValueError(f"unknown worker command {cmd.kind}")

    def _publish(self) -> None:
        """Hand the current rings to the callback (one reference swap each)."""
        sources: dict[str, Source] = {}
        for slot, w in self._slots.items():
            sources[slot] = Source(w.ring, w.stems)
        if self._ref is not None:
            sources["reference"] = Source(self._ref.ring, self._ref.stems)
        self.mixer.sources = MappingProxyType(sources)
        self.mixer.mix_ring = self._mix.ring if self._mix is not None else None
        self.models = MappingProxyType({s: w.model.info for s, w in self._slots.items()})

    def _close_all(self) -> None:
        for _fut, w, _epoch in self._jobs.values():
            if w.cancel is not None:
                w.cancel.cancel()  # nobody will hear it: stop the model run
        for fut, w, _epoch in list(self._jobs.values()):
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
        for writer in [self._mix, self._ref, *self._slots.values()]:
            if writer is not None:
                writer.close()

    def _open(self, track: OpenTrack, timeline: Timeline) -> None:
        """An open command: applied now, or once the callback has faded the old song out (the
        facade's seek request starts that fade), like a seek."""
        if self._hold(timeline, track):
            return
        self._open_now(track, timeline)

    def _open_now(self, track: OpenTrack, timeline: Timeline) -> None:
        old_mix, old_ref = self._mix, self._ref
        self.mixer.mix_ring = None  # silence first: nothing of the old track plays any more
        self._track = track
        self._mix = DecodeWriter("mix", [track.reader], ("mix",), self.capacity)
        self._ref = None
        ref = reference_paths(track.path)
        if ref is not None:
            try:
                readers = [track.open_reader(p) for p in ref]
                self._ref = DecodeWriter("reference", readers, DEFAULT_STEMS, self.capacity)
            except StemplayError as err:
                log.warning("reference stems of %s not usable: %s", track.path, err)
        for slot in list(self._slots):
            old = self._slots.pop(slot)
            old.close()
            try:
                self._slots[slot] = SeparatorWriter(
                    slot, old.model, track.open_reader(track.path), self.capacity
                )
            except Exception as err:  # noqa: BLE001 - the track still plays (plain mix)
                self.error = f"model in slot {slot} failed: {err}".splitlines()[0]
                log.warning("%s", self.error)
        for w in (old_mix, old_ref):
            if w is not None:
                w.close()
        self._apply_seek(timeline)

    def _seek(self, timeline: Timeline) -> None:
        """A seek command: applied now, or once the callback has faded the old position out."""
        if self._hold(timeline, None):
            return
        self._apply_seek(timeline)

    def _hold(self, timeline: Timeline, track: OpenTrack | None) -> bool:
        """Hold a seek (``track`` None) or an open back while the callback is still fading the
        old generation out; True when held. A seek that follows a held open keeps that open's
        track (it seeks in the new song); anything else replaces what was held.

        When nothing is held back any more, ``_deferred`` is None on return.
        """
        mixer = self.mixer
        held = self._deferred
        if track is None and held is not None and held[2] is not None:
            track = held[2]  # seek in the song whose open is still held back
            if not (mixer.playing and mixer.playhead[0] < timeline.generation):
                self._deferred = None
                self._open_now(track, timeline)
                return True
        # playing / playhead: written by the callback, read here; a stale read only delays.
        if mixer.playing and mixer.playhead[0] < timeline.generation:
            deadline = time.monotonic() + SEEK_FADE_WAIT_S
            if held is not None:  # replaces a held one; same deadline
                deadline = held[1]
            self._deferred = (timeline, deadline, track)
            return True
        self._deferred = None
        return False

    def _settle(self, force: bool) -> bool:
        """Apply a held-back seek or open once the callback left the old generation (or
        ``force``).

        True when no seek is held back any more.
        """
        if self._deferred is None:
            return True
        timeline, deadline, track = self._deferred
        mixer = self.mixer
        faded = not mixer.playing or mixer.playhead[0] >= timeline.generation
        if not (force or faded or time.monotonic() > deadline):
            return False
        self._deferred = None
        if track is not None:
            self._open_now(track, timeline)
        else:
            self._apply_seek(timeline)
        return True

    def _apply_seek(self, timeline: Timeline) -> None:
        old = self.timeline
        self.timeline = timeline
        kept = self._reuse(old, timeline) if old is not None else None
        if kept is None:
            for w in self._writers():
                w.restart(timeline.generation, 0)
        self._publish()

    def _heard_writer(self) -> _Writer | None:
        heard = self.mixer.settings.source
        if heard == "mix":
            return self._mix
        if heard == "reference":
            return self._ref
        w = self._slots.get(heard)
        return w if isinstance(w, SeparatorWriter) else None

    def _reuse(self, old: Timeline, new: Timeline) -> int | None:
        """Keep what the rings hold from the new position on (see the module docstring).

        Returns the old stream position that became position 0, or None (nothing kept: the
        caller restarts every writer).
        """
        heard = self._heard_writer()
        if heard is None or self._mix is None:
            return None
        lo, hi = 0, None
        for ring in (self._mix.ring, heard.ring):
            gen, start, end, _eof = ring.state
            if gen != old.generation:
                return None
            lo = max(lo, start)
            hi = end if hi is None else min(hi, end)
        assert hi is not None
        at = reuse_point(old, new, lo, hi)
        if at is None:
            return None
        # Rings (and writers' pending or in-flight output) reach at most this far past `at`.
        horizon = 2 * self.capacity
        cut = divergence(old, at, new, horizon)
        for w in self._writers():
            if not self._shift(w.ring, old.generation, at, new.generation, cut):
                w.restart(new.generation, 0)
        if cut is not None:
            self._cut_writers(cut)
        log.debug("seek: kept %d samples already separated", hi - at)
        return at

    @staticmethod
    def _shift(ring: StemRing, old_gen: int, at: int, new_gen: int, cut: int | None) -> bool:
        """Move ``ring``'s samples from stream ``at`` on to position 0 of ``new_gen``.

        The writer's state (decoder position, separator, pending output) stays valid: the
        ring's end still follows the same track position. False when there is nothing to keep.
        """
        gen, start, end, eof = ring.state
        if gen != old_gen or not start <= at < end:
            return False
        n = end - at
        keep = np.empty((ring.stems, n, ring.channels), dtype=np.float32)  # (stems, n, channels)
        if ring.read_into(keep, gen, at) < n:
            return False
        ring.reset(new_gen, 0)
        ring.write(keep.transpose(0, 2, 1))
        if eof != NO_EOF and (cut is None or cut > n):
            ring.mark_eof()
        return True

    def _model(self, slot: str, model: Any | None) -> None:
        old = self._slots.get(slot)
        if model is None:
            self._slots.pop(slot, None)
            self._publish()
            if old is not None:
                old.close()
            return
        if self._track is None:
            # No track yet: keep the model; the writer is made when a track opens.
            self._slots[slot] = _PendingModel(slot, model)  # type: ignore[assignment]
            self.models = MappingProxyType({s: w.model.info for s, w in self._slots.items()})
            return
        try:
            writer = SeparatorWriter(
                slot, model, self._track.open_reader(self._track.path), self.capacity
            )
            if self.timeline is not None:
                gen, pos = self.mixer.playhead
                if gen != self.timeline.generation:
                    pos = 0
                # While playing, start a little ahead: the playhead moves on meanwhile.
                start = pos + (int(REWRITE_MARGIN_S * SAMPLE_RATE) if self.mixer.playing else 0)
                writer.restart(self.timeline.generation, start)
        except Exception as err:  # noqa: BLE001 - any failure keeps the previous model
            name = getattr(getattr(model, "info", None), "name", "model")
            self.error = f"model {name} failed, keeping the previous one: {err}".splitlines()[0]
            log.warning("%s", self.error)
            return
        self._slots[slot] = writer
        self._publish()
        if isinstance(old, SeparatorWriter):
            if old.previous is not None:
                old.previous.close()
                old.previous = None
            writer.previous = old
        elif old is not None:
            old.close()

    def _loop(self, loop: tuple[int, int] | None) -> None:
        tl = self.timeline
        if tl is None:
            return
        gen, pos = self.mixer.playhead
        if gen != tl.generation:
            pos = 0
        # (The facade turns a loop set outside the playhead into a seek to its start.)
        new = tl.with_loop(pos, int(REWRITE_MARGIN_S * SAMPLE_RATE), loop)
        self.timeline = new
        self._cut_writers(new.pieces[-1].stream)

    def _cut_writers(self, cut: int) -> None:
        """The timeline changed from stream ``cut`` on: forget what the writers made past it."""
        for w in self._writers():
            if w.ring.end > cut:
                w.ring.truncate(cut)
                if isinstance(w, SeparatorWriter):
                    w.invalidate()
                elif isinstance(w, DecodeWriter):
                    w.pos = -1
            elif isinstance(w, SeparatorWriter) and w.busy:
                w.invalidate()  # its step may run past the cut: recompute from the ring's end
            elif isinstance(w, SeparatorWriter) and w.pending is not None:
                pend_end = w.ring.end + w.pending.shape[2]
                if pend_end > cut:
                    keep = cut - w.ring.end
                    pending = w.pending[:, :, :keep] if keep > 0 else None
                    w.invalidate()
                    w.pending = pending

    def _writers(self) -> list[_Writer]:
        out: list[_Writer] = []
        if self._mix is not None:
            out.append(self._mix)
        out.extend(w for w in self._slots.values() if isinstance(w, SeparatorWriter))
        if self._ref is not None:
            out.append(self._ref)
        return out

    def _work(self) -> bool:
        """One step of the most urgent writer; False when every ring is far enough ahead."""
        if not self._settle(force=False):
            return False  # the callback is still fading the old position out
        tl = self.timeline
        if tl is None or self._mix is None:
            return False
        self._stats()
        for slot, (fut, _w, _epoch) in list(self._jobs.items()):
            if fut.done():
                self._finish_job(slot)
                return True
        mix = self._mix
        if mix.wants(min(self.ahead, int(MIX_FIRST_S * SAMPLE_RATE))):
            # The heard stems start separating once the mix has its first block (the first
            # sound): the separation runs on its slot's thread while the mix is decoded here.
            heard_w = self._heard_writer()
            if (
                mix.ring.ahead() > 0
                and isinstance(heard_w, SeparatorWriter)
                and heard_w.pending is None
                and heard_w.name not in self._jobs
                and heard_w.wants(self.ahead)
                and self._submit(heard_w, tl)
            ):
                return True
            return mix.step(tl)
        heard = self.mixer.settings.source
        heard_w = self._heard_writer()
        urgent = (
            heard_w is not None
            and heard_w is not mix
            and heard_w.ring.eof == NO_EOF
            and heard_w.ring.ahead() < min(self.ahead, int(YIELD_S * SAMPLE_RATE))
        )
        if urgent:
            # The stems being heard are not comfortably ahead (a seek, a new model, a loaded
            # CPU): no other stem source is fed until they are YIELD_S ahead again (the mix
            # still is, below), so slot B and the reference yield to what is heard.
            assert heard_w is not None
            candidates = [heard_w] if heard_w.wants(self.ahead) else []
        else:
            candidates = [w for w in self._writers()[1:] if w.wants(self.ahead)]
        candidates.sort(key=lambda w: (w.ring.ahead(), 0 if w.name == heard else 1))
        for w in candidates:
            if isinstance(w, SeparatorWriter):
                if w.flush_pending():
                    return True
                if w.name in self._jobs:
                    continue  # the slot's thread is busy (a replaced writer's last step)
                self._submit(w, tl)
                return True
            try:
                return w.step(tl)
            except StemplayError as err:
                return self._writer_failed(w, err)
        if mix.wants(self.ahead):  # also while urgent: the mix is what plays when stems are late
            return mix.step(tl)
        return False

    def _submit(self, w: SeparatorWriter, tl: Timeline) -> bool:
        """Start ``w``'s next step on its slot's thread; False at the end of the track."""
        at = w.prepare(tl)
        if at is None:
            return False
        w.busy = True
        w.cancel = RunCancel()
        # another slot's step in flight: this one shares the CPUs with it (half the threads)
        shared = any(o is not w and o.busy for o in self._slots.values()
                     if isinstance(o, SeparatorWriter))
        fut = self._separation_pool(w.name).submit(w.compute, tl, at, w.cancel, shared)
        self._jobs[w.name] = (fut, w, w.epoch)
        return True

    def _separation_pool(self, slot: str) -> ThreadPoolExecutor:
        """The separation thread of ``slot`` (made on first use, kept until the worker stops)."""
        pool = self._pools.get(slot)
        if pool is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix=f"stemplay-separate-{slot}")
            self._pools[slot] = pool
        return pool

    def _finish_job(self, slot: str) -> None:
        fut, w, epoch = self._jobs.pop(slot)
        w.busy = False
        w.cancel = None
        try:
            res = fut.result()
        except RunCancelled:  # a seek made the step stale: the separator must restart
            w.next_out = None
            if w.close_when_done:
                w.close()
            return
        except Exception as err:  # noqa: BLE001 - a failing model must not stop playback
            self._writer_failed(w, err)
            return
        w.commit(res, epoch)
        if w.close_when_done:
            w.close()

    def _writer_failed(self, w: _Writer, err: Exception) -> bool:
        if isinstance(w, SeparatorWriter) and self._slots.get(w.name) is not w:
            w.close()  # a writer already replaced (new model or new track): nothing to undo
            return True
        log.warning("separation in %s failed: %s", w.name, err)
        self.error = f"separation ({w.name}) failed: {err}".splitlines()[0]
        if isinstance(w, SeparatorWriter):
            prev = w.previous
            w.previous = None
            if prev is not None and self.timeline is not None:
                gen, pos = self.mixer.playhead
                prev.restart(
                    self.timeline.generation, pos if gen == self.timeline.generation else 0
                )
                self._slots[w.name] = prev
            else:
                self._slots.pop(w.name, None)
            self.reverted[w.name] = prev.model.info if prev is not None else None
        elif w is self._ref:
            self._ref = None
        self._publish()
        w.close()
        return True

    def _stats(self) -> None:
        heard = self.mixer.settings.source
        w = self._slots.get(heard)
        src: _Writer | None = w if isinstance(w, SeparatorWriter) else None
        if heard == "reference":
            src = self._ref
        elif heard == "mix":
            src = self._mix
        if src is None and self._slots:
            src = next(iter(self._slots.values()))
        if isinstance(src, _Writer):
            self.ahead_s = max(0, src.ring.ahead()) / SAMPLE_RATE
        rtfs = [w.rtf for w in self._slots.values() if isinstance(w, SeparatorWriter) and w.rtf]
        if rtfs:
            self.rtf = min(rtfs)


class _PendingModel:
    """A model set before any track is open (the writer is built on ``open``)."""

    def __init__(self, slot: str, model: Any) -> None:
        self.name = slot
        self.model = model

    def close(self) -> None:
        pass
