"""The playback worker thread: decode, separate and fill the rings ahead of the playhead.

Runs on its own thread (:class:`Worker`, a daemon ``threading.Thread``). It owns every decoder,
every ``StreamSeparator`` (hence every ONNX session use and FFTW plan of playback) and is the
only writer of the rings. Inference runs on one separation thread per model slot
(``stemplay-separate-A`` / ``-B``), driven by the worker thread; a step that runs while the
other slot's is in flight uses the model with half the CPUs (``SeparationModel.narrowed``,
the same output), so A + B cost the CPU what A and B cost apart instead of asking for twice
the cores. The GUI thread talks to it through a command queue (``open``, ``seek``, ``model``,
``loop``, ``stop``) and reads what it publishes, each swapped by reference: ``state`` (one
immutable :class:`WorkerState`: the slots' models, the last error), ``timeline``, ``speed_x``,
``ahead_s``; the audio callback only reads the rings. The writers that fill the rings are in
``engine/writers.py``; this module decides which of them steps next.

Stream positions and the timeline: the rings are addressed by *stream positions* (samples
played since the current generation started). A :class:`~engine.timeline.Timeline` maps them
to track positions; a loop wraps seamlessly: the samples after the wrap are simply written next
in the ring. A seek starts a new generation (the rings are emptied and the callback drops what is
left of the old one); setting or clearing a loop while playing appends a piece at a stream
position far enough ahead of the playhead and truncates the rings there.

Seek: when the new position lies inside audio already in the rings (a short seek forward or
back, the start of a loop already written after its wrap) and the old timeline goes on from
there exactly as the new one does, the rings keep that audio, shifted to the new generation
(:func:`~engine.timeline.reuse_point`, ``StemRing.rebase``); the writers carry on from where they
were and nothing is re-separated.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from engine.mixer import Mixer, Source
from engine.model import RunCancelled
from engine.ring import NO_EOF
from engine.timeline import Timeline, divergence, reuse_point
from engine.writers import (
    DecodeWriter,
    SeparationThreads,
    SeparatorWriter,
    Writer,
    reference_paths,
)

log = logging.getLogger(__name__)

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


# ------------------------------------------------------------------------------ the thread
@dataclass(frozen=True)
class OpenTrack:
    """A track handed to the worker: its path, its length and the first reader (validated)."""

    path: Path
    samples: int  # track length
    reader: Any
    open_reader: Callable[[Path], Any]  # opens another reader of a file (engine.decode)


@dataclass
class ModelSlot:
    """Slot A or B as the worker holds it: the model, and its writer once a track is open
    (None until then: the writer is made on ``open``). Worker thread only."""

    model: Any
    writer: SeparatorWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass(frozen=True)
class WorkerState:
    """What the worker tells the GUI thread: one immutable snapshot, swapped by reference.

    ``models``: slot -> ``ModelInfo`` of the model each slot holds now (a slot whose model
    failed while playing is back on its previous model, or gone); ``error``: the last
    asynchronous error, one line (a new model clears it); ``handled``: serial of the last
    command handled (see :meth:`Worker.set_model`).
    """

    models: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    error: str | None = None
    handled: int = 0


@dataclass
class _Cmd:
    kind: str
    args: tuple[Any, ...] = field(default_factory=tuple)
    serial: int = 0


class Worker(threading.Thread):
    """The worker thread. Public methods are called from the GUI thread and only enqueue."""

    def __init__(self, mixer: Mixer, ahead_s: float = 8.0) -> None:
        super().__init__(name="stemplay-worker", daemon=True)
        self.mixer = mixer
        self.ahead = int(ahead_s * SAMPLE_RATE)
        self.capacity = int((ahead_s + RING_SLACK_S) * SAMPLE_RATE)
        self._queue: queue.Queue[_Cmd] = queue.Queue()
        self._sent = 0  # serial of the last command sent (GUI thread only, like the API)
        # --- shared members: written by the worker, read by the GUI thread (status) --------
        self.timeline: Timeline | None = None  # swapped by reference
        self.state = WorkerState()  # slots, models, errors: swapped by reference
        self.speed_x: float = 0.0  # separation speed of the slot being heard (× real time)
        self.ahead_s: float = 0.0  # how far the heard source is ahead of the playhead
        # --- worker-owned ---------------------------------------------------------------
        self._track: OpenTrack | None = None
        self._mix: DecodeWriter | None = None
        self._ref: DecodeWriter | None = None
        self._slots: dict[str, ModelSlot] = {}
        self._running = True
        self._error: str | None = None  # published in ``state``
        self._handled = 0  # published in ``state``
        # A seek (or an open: its track) held back until the callback has faded the old
        # position out, and the monotonic time after which it applies anyway (module docstring).
        self._deferred: tuple[Timeline, float, OpenTrack | None] | None = None
        self._threads = SeparationThreads()  # one per slot; a step of each at a time

    # ---------------------------------------------------------------- GUI-thread API
    def _send(self, kind: str, *args: Any) -> int:
        self._sent += 1
        self._queue.put(_Cmd(kind, args, self._sent))
        return self._sent

    def open(self, track: OpenTrack, timeline: Timeline) -> None:
        self._send("open", track, timeline)

    def seek(self, timeline: Timeline) -> None:
        self._send("seek", timeline)

    def set_model(self, slot: str, model: Any | None) -> int:
        """Put ``model`` into ``slot`` (None empties it); a model clears ``state.error``.

        Returns the command's serial: ``state`` shows the change once ``state.handled`` has
        reached it."""
        return self._send("model", slot, model)

    def set_loop(self, loop: tuple[int, int] | None) -> None:
        self._send("loop", loop)

    def stop(self, timeout: float = 5.0) -> None:
        self._send("stop")
        if self.is_alive():
            self.join(timeout)

    def sync(self, timeout: float = 10.0) -> bool:
        """Block until every command sent before has been handled (tests, CLI)."""
        done = threading.Event()
        self._send("sync", done)
        return done.wait(timeout)

    # ---------------------------------------------------------------- worker thread
    def run(self) -> None:
        while self._running:
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                if not self._work():
                    wait = 0.002 if self._deferred else 0.003 if self._threads else 0.01
                    try:
                        cmd = self._queue.get(timeout=wait)
                    except queue.Empty:
                        continue
                else:
                    continue
            try:
                self._handle(cmd)
            except StemplayError as err:
                self._error = str(err)
            except Exception as err:
                log.exception("worker command %s failed", cmd.kind)
                self._error = f"internal error in {cmd.kind}: {err}"
            self._handled = cmd.serial
            self._publish_state()
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
            if cmd.args[1] is not None:
                self._error = None  # a new model: the last failure is no longer news
            self._model(*cmd.args)
        elif cmd.kind == "loop":
            self._loop(*cmd.args)
        else:
            raise ValueError(f"unknown worker command {cmd.kind}")

    def _publish(self) -> None:
        """Hand the current rings to the callback (one reference swap each)."""
        sources: dict[str, Source] = {}
        for slot, w in self._separators():
            sources[slot] = Source(w.ring, w.stems)
        if self._ref is not None:
            sources["reference"] = Source(self._ref.ring, self._ref.stems)
        self.mixer.sources = MappingProxyType(sources)
        self.mixer.mix_ring = self._mix.ring if self._mix is not None else None
        self._publish_state()

    def _publish_state(self) -> None:
        """Hand the GUI thread a new :class:`WorkerState` (one reference swap)."""
        models = MappingProxyType({s: m.model.info for s, m in self._slots.items()})
        self.state = WorkerState(models, self._error, self._handled)

    def _close_all(self) -> None:
        self._threads.close()
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
                reader = track.open_reader(track.path)
                writer = SeparatorWriter(slot, old.model, reader, self.capacity)
                self._slots[slot] = ModelSlot(old.model, writer)
            except Exception as err:  # noqa: BLE001 - the track still plays (plain mix)
                self._error = f"model in slot {slot} failed: {err}".splitlines()[0]
                log.warning("%s", self._error)
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

    def _heard_writer(self) -> Writer | None:
        heard = self.mixer.settings.source
        if heard == "mix":
            return self._mix
        if heard == "reference":
            return self._ref
        return self._heard_separator()

    def _heard_separator(self) -> SeparatorWriter | None:
        """The writer of the slot being heard; None when the mix or the reference is heard."""
        slot = self._slots.get(self.mixer.settings.source)
        return slot.writer if slot is not None else None

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
            w.rebase(old.generation, at, new.generation, cut)
        log.debug("seek: kept %d samples already separated", hi - at)
        return at

    def _model(self, slot: str, model: Any | None) -> None:
        old = self._slots.get(slot)
        # while nothing plays, the model's first (slow) run happens now, on the slot's thread,
        # not when play is pressed; while playing its first real step follows at once
        self._threads.warm_up(slot, None if self.mixer.playing else model)
        if model is None:
            self._slots.pop(slot, None)
            self._publish()
            if old is not None:
                old.close()
            return
        if self._track is None:
            # No track yet: keep the model; the writer is made when a track opens.
            self._slots[slot] = ModelSlot(model)
            self._publish()
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
            self._error = f"model {name} failed, keeping the previous one: {err}".splitlines()[0]
            log.warning("%s", self._error)
            return
        self._slots[slot] = ModelSlot(model, writer)
        self._publish()
        previous = old.writer if old is not None else None
        if previous is not None:  # kept (and heard) until the new writer has produced audio
            if previous.previous is not None:
                previous.previous.close()
                previous.previous = None
            writer.previous = previous

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
        for w in self._writers():
            w.truncate(new.pieces[-1].stream)

    def _separators(self) -> list[tuple[str, SeparatorWriter]]:
        """(slot, writer) of every slot whose writer exists (a track is open)."""
        return [(s, m.writer) for s, m in self._slots.items() if m.writer is not None]

    def _writers(self) -> list[Writer]:
        """Every writer of the open track: the mix first, then the slots, the reference."""
        out: list[Writer] = []
        if self._mix is not None:
            out.append(self._mix)
        out.extend(w for _s, w in self._separators())
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
        if self._finish_job():
            return True
        mix = self._mix
        if mix.wants(min(self.ahead, int(MIX_FIRST_S * SAMPLE_RATE))):
            # The heard stems start separating once the mix has its first block (the first
            # sound): the separation runs on its slot's thread while the mix is decoded here.
            heard_sep = self._heard_separator()
            if (
                mix.ring.ahead() > 0
                and heard_sep is not None
                and heard_sep.pending is None
                and not self._threads.busy(heard_sep.name)
                and heard_sep.wants(self.ahead)
                and self._threads.submit(heard_sep, tl)
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
                if self._threads.busy(w.name):
                    continue  # the slot's thread is busy (a replaced writer's last step)
                self._threads.submit(w, tl)
                return True
            try:
                return w.step(tl)
            except StemplayError as err:  # (the mix is never a candidate: the reference)
                return self._reference_failed(err)
        if mix.wants(self.ahead):  # also while urgent: the mix is what plays when stems are late
            return mix.step(tl)
        return False

    def _finish_job(self) -> bool:
        """Commit a separation step that has ended; False when none has."""
        done = self._threads.finished()
        if done is None:
            return False
        fut, w, epoch = done
        try:
            res = fut.result()
        except RunCancelled:  # a seek made the step stale: the separator must restart
            w.next_out = None
            if w.close_when_done:
                w.close()
            return True
        except Exception as err:  # noqa: BLE001 - a failing model must not stop playback
            self._separator_failed(w, err)
            return True
        w.commit(res, epoch)
        if w.close_when_done:
            w.close()
        return True

    def _separator_failed(self, w: SeparatorWriter, err: Exception) -> None:
        """A model failed while playing: its slot goes back to the previous model, or empty."""
        slot = self._slots.get(w.name)
        if slot is None or slot.writer is not w:
            w.close()  # a writer already replaced (new model or new track): nothing to undo
            return
        self._failed(w.name, err)
        prev = w.previous
        w.previous = None
        if prev is not None and self.timeline is not None:
            gen, pos = self.mixer.playhead
            prev.restart(self.timeline.generation, pos if gen == self.timeline.generation else 0)
            self._slots[w.name] = ModelSlot(prev.model, prev)
        else:
            self._slots.pop(w.name, None)
        self._publish()
        w.close()

    def _reference_failed(self, err: Exception) -> bool:
        """The reference stems cannot be read any more: the song plays on without them."""
        ref = self._ref
        assert ref is not None
        self._failed(ref.name, err)
        self._ref = None
        self._publish()
        ref.close()
        return True

    def _failed(self, name: str, err: Exception) -> None:
        log.warning("separation in %s failed: %s", name, err)
        self._error = f"separation ({name}) failed: {err}".splitlines()[0]

    def _stats(self) -> None:
        src = self._heard_writer()
        if src is None and self._slots:
            src = next(iter(self._slots.values())).writer
        if src is not None:
            self.ahead_s = max(0, src.ring.ahead()) / SAMPLE_RATE
        speeds = [w.speed_x for _s, w in self._separators() if w.speed_x]
        if speeds:
            self.speed_x = min(speeds)
