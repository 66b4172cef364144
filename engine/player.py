"""The ``Engine`` facade: what the GUI and ``stemplay play`` use to play and mix a song.

Runs on the GUI / main thread. It owns a :class:`~engine.mixer.Mixer` (whose ``callback`` runs
on the audio thread), a :class:`~engine.worker.Worker` thread and the output stream. Every
method returns within a few ms except ``open`` and ``set_model``, which validate their argument
(decode the header, load the ONNX model).

Mixer settings reach the callback as a new frozen :class:`~engine.mixer.MixSettings` swapped
by reference; a seek bumps the generation (``Mixer.seek_request``) and hands the worker a new
:class:`~engine.timeline.Timeline`. ``status()`` only reads published values: cheap enough for a
30 Hz poll. The slots' models and the worker's errors come from one immutable snapshot the
worker swaps in (:class:`~engine.worker.WorkerState`); a model just sent is shown until the
worker's snapshot has taken it in.

Practice tools: ``set_tempo(ratio)`` (0.5–1.5, pitch kept) and ``set_pitch(semitones)`` (±6,
speed kept) act after the mixer (:mod:`engine.stretch`; tempo 1 / pitch 0 is an exact bypass);
``set_pan(stem, -100..100)`` pans a stem (equal-power, centre = unchanged);
``set_count_in(beats, beat_s)`` clicks before a loop restarts. Positions, loops and seeks stay
in song time. Out-of-range values raise ``ValueError`` with a one-line reason.

The output device is opened on a helper thread as soon as the engine is made
(:class:`~engine.output.OutputOpener`): initialising PortAudio and opening the stream take
0.5–1.3 s on a busy machine, and ``play()`` must only flip state. ``play()`` raises
:class:`~engine.errors.DeviceError` when the device is already known to be unusable; when that
is found out after ``play()``, playback stops and ``status().error`` says why (once).
``wait_output()`` blocks until the device is open (the CLI). Without an output device the
engine still opens, separates and reports status. ``device="null"`` plays into a paced
device-less output (bench, tests).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from engine.config import DEFAULT_STEMS, OUTPUT_LATENCY_S, SAMPLE_RATE
from engine.errors import DecodeError, ModelError
from engine.levels import PAN_MAX
from engine.mixer import Mixer
from engine.mixsettings import SOURCES, MixSettings, click_track
from engine.output import Output, OutputOpener, open_output
from engine.stretch import LiveStretch, check_pitch, check_tempo, is_neutral
from engine.timeline import Timeline, start_timeline
from engine.worker import SLOTS, OpenTrack, Worker, WorkerState

log = logging.getLogger(__name__)

#: ``EngineConfig.model`` value meaning "the best model shipped in models/".
DEFAULT_MODEL = "default"
#: Shortest loop accepted (seconds).
MIN_LOOP_S = 0.05
#: Count-in limits: most beats, shortest and longest beat (seconds).
COUNT_IN_MAX_BEATS = 16
COUNT_IN_BEAT_S = (0.1, 4.0)


@dataclass(frozen=True)
class EngineConfig:
    """How the engine plays. ``device``: PortAudio id or name, None = default, "null" = none."""

    device: int | str | None = None
    blocksize: int = 512
    latency: str | float = OUTPUT_LATENCY_S  # seconds, or PortAudio's "low" / "high"
    ahead_s: float = 8.0
    threads: int = 0  # ONNX Runtime intra-op threads (0 = its default)
    model: str | None = DEFAULT_MODEL  # slot A at start: a name/path, "default" or None


@dataclass(frozen=True)
class EngineStatus:
    """A snapshot for the GUI (immutable)."""

    playing: bool = False
    position_s: float = 0.0
    duration_s: float = 0.0
    source: str = "A"
    stems: tuple[str, ...] = DEFAULT_STEMS
    models: Mapping[str, Any] = field(default_factory=lambda: {"A": None, "B": None})
    provider: str = ""
    speed_x: float = 0.0  # separation speed, × real time (0 = not measured yet)
    ahead_s: float = 0.0
    underruns: int = 0  # times the output had nothing to play (inserted silence)
    late: int = 0  # times the heard stems fell behind and the plain mix took over
    behind: bool = False  # the separation is behind now: the plain mix plays meanwhile
    non_finite: int = 0  # output blocks whose NaN/Inf samples were silenced
    levels: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    has_reference: bool = False
    separated: bool = False  # stems are being heard, not the plain mix
    error: str | None = None
    finished: bool = False
    loop: tuple[float, float] | None = None
    track: Any = None  # TrackInfo of the open file, or None
    tempo: float = 1.0  # speed ratio
    pitch: float = 0.0  # semitones (fractional: cents)
    pan: Mapping[str, float] = field(default_factory=dict)  # stem -> -100..100
    count_in: tuple[int, float] = (0, 0.0)  # (beats, beat seconds); 0 beats = off
    counting_in: bool = False  # the count-in clicks play now (the playhead waits)


def _check_pan(value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and -PAN_MAX <= value <= PAN_MAX):
        raise ValueError(f"pan {value} is outside -{PAN_MAX:g}..{PAN_MAX:g}")
    return value


class Engine:
    """The facade (see docs/ARCHITECTURE.md)."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.mixer = Mixer()
        self.worker = Worker(self.mixer, self.config.ahead_s)
        self.mixer.timeline_owner = self.worker  # the count-in finds loop wraps in its timeline
        self.worker.start()
        self._count_in: tuple[int, float] = (0, 0.0)
        # GUI thread only. An OutputOpener (opening on its helper thread) or an attached output.
        self._output: Output | None = None
        self._open_output()
        self._info: Any = None  # TrackInfo
        self._generation = 0
        self._seek_target = 0  # track sample of the last seek (shown until it takes effect)
        self._loop: tuple[int, int] | None = None
        # slot -> (serial, ModelInfo | None) of a model command the worker has not handled
        # yet: shown as the slot's model until ``worker.state`` has it (GUI thread only).
        self._sent_models: dict[str, tuple[int, Any]] = {}
        self._error: str | None = None
        self._device_error: str | None = None  # the output failed after play() (GUI thread)
        self.mixer.settings = MixSettings(source="A")
        self._load_default_model()

    def _load_default_model(self) -> None:
        name = self.config.model
        if name is None:
            return
        if name == DEFAULT_MODEL:
            from engine.model import default_model_path

            path = default_model_path()
            if path is None:
                log.info("no model in models/: the plain mix plays")
                return
            name = str(path)
        try:
            self.set_model("A", name)
        except ModelError as err:
            self._error = str(err)  # shown once by the caller (status().error), not logged too
            log.info("no model in slot A: %s", err)

    # ---------------------------------------------------------------- track
    def open(self, path: str | Path) -> Any:
        """Open ``path`` (from its start, paused or playing as before); DecodeError keeps the
        previous track."""
        from engine.decode import open_audio

        reader = open_audio(path)
        info = reader.info
        self._info = info
        self._loop = None
        timeline = self._new_timeline(0)
        self.worker.open(OpenTrack(Path(info.path), info.samples, reader, open_audio), timeline)
        self.mixer.seek_request = (timeline.generation, 0)
        return info

    def _new_timeline(self, track: int) -> Timeline:
        self._generation += 1
        self._seek_target = track
        return start_timeline(self._generation, self._info.samples, track, self._loop)

    # ---------------------------------------------------------------- models
    def set_model(self, slot: str, name_or_path: str | Path | None) -> Any:
        """Load a model into slot "A" or "B" (None empties B); ModelError keeps the old one."""
        if slot not in SLOTS:
            raise ValueError(f"unknown model slot {slot!r}; use A or B")
        if name_or_path is None:
            self._sent_models[slot] = (self.worker.set_model(slot, None), None)
            return None
        from engine.model import load_model

        model = load_model(str(name_or_path), threads=self.config.threads)
        self._error = None  # (the worker clears its own error when it takes the model)
        self._sent_models[slot] = (self.worker.set_model(slot, model), model.info)
        return model.info

    @property
    def models(self) -> Mapping[str, Any]:
        """slot -> ``ModelInfo`` of the model in it, or None: what the worker published
        (``worker.state``), a model just sent to it shown as already there."""
        return self._models_in(self.worker.state)

    def _models_in(self, state: WorkerState) -> Mapping[str, Any]:
        models = {slot: state.models.get(slot) for slot in SLOTS}
        for slot, (serial, info) in list(self._sent_models.items()):
            if serial > state.handled:
                models[slot] = info
            else:
                del self._sent_models[slot]  # the worker's state says what became of it
        return MappingProxyType(models)

    def select(self, source: str) -> None:
        """What is heard: "A", "B", "mix" or "reference"; switched at the next block."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        self.mixer.settings = replace(self.mixer.settings, source=source)

    @staticmethod
    def describe(st: EngineStatus) -> str:
        """What is heard, in words, for a status line (e.g. that the plain mix stands in)."""
        if st.behind:
            return (f"separation ({st.source}) is behind: playing the plain mix until it "
                    "catches up")
        if st.source == "mix":
            return "original mix"
        if st.source == "reference":
            return "reference stems" if st.has_reference else "no reference stems: plain mix"
        if st.separated:
            return f"hearing {st.source}"
        if st.models.get(st.source) is None:
            return f"no model in {st.source}: plain mix"
        return f"hearing {st.source} (mix until stems ready)"

    # ---------------------------------------------------------------- transport
    def _require_track(self) -> None:
        if self._info is None:
            raise DecodeError("no song is open")

    def _open_output(self) -> None:
        """Begin opening the configured device on the output helper thread (returns at once)."""
        cfg = self.config
        callback = self.mixer.callback
        self._output = OutputOpener(
            lambda: open_output(cfg.device, cfg.blocksize, cfg.latency, callback)
        )

    def play(self) -> None:
        """Start or resume at once (the stream starts as soon as the device is open).

        DeviceError when the output device is already known to be unusable.
        """
        self._require_track()
        out = self._output
        if out is None:
            self._open_output()
            out = self._output
        assert out is not None
        if isinstance(out, OutputOpener) and out.failed:
            assert out.error is not None
            raise out.error
        if self.mixer.finished:
            self.seek(0.0)
        self.mixer.play_request = True
        out.start()  # an OutputOpener only queues the start

    def wait_output(self, timeout: float = 10.0) -> None:
        """Block until the output device is open (CLI, tests); DeviceError when it cannot be."""
        if isinstance(self._output, OutputOpener):
            self._output.wait(timeout)

    def attach_output(self, output: Output) -> None:
        """Play into ``output`` (e.g. a capturing ``NullOutput`` around ``mixer.callback``)."""
        if isinstance(self._output, OutputOpener):
            self._output.close(timeout=0.0)  # the helper thread closes it once it is open
        elif self._output is not None:
            self._output.close()
        self._output = output

    def pause(self) -> None:
        self.mixer.play_request = False

    def stop(self) -> None:
        self.mixer.play_request = False
        if self._info is not None:
            self.seek(0.0)

    def seek(self, seconds: float) -> None:
        self._require_track()
        if not math.isfinite(seconds):
            raise ValueError(f"cannot seek to {seconds} s")
        length = self._info.samples
        track = min(max(0, round(seconds * SAMPLE_RATE)), max(0, length - 1))
        timeline = self._new_timeline(track)
        self.mixer.seek_request = (timeline.generation, 0)
        self.worker.seek(timeline)

    def set_loop(self, start_s: float | None, end_s: float | None) -> None:
        """Loop [start_s, end_s) seamlessly; (None, None) clears the loop."""
        self._require_track()
        if start_s is None or end_s is None:
            self._loop = None
            self.worker.set_loop(None)
            return
        if not (math.isfinite(start_s) and math.isfinite(end_s)):
            raise ValueError(f"loop {start_s}–{end_s} s is not a pair of finite times")
        a = max(0, round(start_s * SAMPLE_RATE))
        b = min(self._info.samples, round(end_s * SAMPLE_RATE))
        if b - a < MIN_LOOP_S * SAMPLE_RATE:
            raise ValueError(f"loop {start_s:.2f}–{end_s:.2f} s is too short or outside the song")
        self._loop = (a, b)
        here = self._track_position()
        if a <= here < b:
            self.worker.set_loop(self._loop)
        else:
            self.seek(a / SAMPLE_RATE)

    # ---------------------------------------------------------------- mixing
    def _swap(self, settings: MixSettings) -> None:
        self.mixer.settings = settings  # one reference swap: the callback sees old or new

    def set_gain_db(self, stem: str, db: float) -> None:
        self._swap(self.mixer.settings.with_gain_db(stem, float(db)))

    def set_mute(self, stem: str, on: bool) -> None:
        self._swap(self.mixer.settings.with_mute(stem, bool(on)))

    def set_solo(self, stem: str, on: bool) -> None:
        self._swap(self.mixer.settings.with_solo(stem, bool(on)))

    def set_master_db(self, db: float) -> None:
        self._swap(replace(self.mixer.settings, master_db=float(db)))

    def set_pan(self, stem: str, value: float) -> None:
        """Pan ``stem`` from -100 (hard left) to +100 (hard right); 0 = as separated."""
        self._swap(self.mixer.settings.with_pan(stem, _check_pan(value)))

    def set_mix(
        self,
        gains_db: Mapping[str, float],
        mute: Iterable[str],
        solo: Iterable[str],
        pan: Mapping[str, float],
        master_db: float,
    ) -> None:
        """Every stem's gain, mute, solo and pan and the master at once (a preset, a restored
        mix): one swap, so the callback hears the old mix or the new one, never a mixture."""
        pans = {stem: _check_pan(v) for stem, v in pan.items()}
        self._swap(replace(
            self.mixer.settings,
            gains_db=MappingProxyType({stem: float(db) for stem, db in gains_db.items()}),
            mute=frozenset(mute),
            solo=frozenset(solo),
            pan=MappingProxyType(pans),
            master_db=float(master_db),
        ))

    def _stretch_ready(self, tempo: float, pitch: float) -> None:
        """Build the callback's stretcher the first time tempo or pitch leave 1 / 0 (here, on
        the calling thread: the callback never constructs it)."""
        if self.mixer.stretcher is None and not is_neutral(tempo, pitch):
            self.mixer.stretcher = LiveStretch()

    def set_tempo(self, ratio: float) -> None:
        """Speed without changing pitch: 0.5 .. 1.5 (ValueError outside); 1 = as recorded."""
        ratio = check_tempo(ratio)
        self._stretch_ready(ratio, self.mixer.settings.pitch)
        self._swap(replace(self.mixer.settings, tempo=ratio))

    def set_pitch(self, semitones: float) -> None:
        """Transpose without changing speed: -6 .. +6 semitones, fractional = cents."""
        semitones = check_pitch(semitones)
        self._stretch_ready(self.mixer.settings.tempo, semitones)
        self._swap(replace(self.mixer.settings, pitch=semitones))

    def set_count_in(self, beats: int, beat_s: float) -> None:
        """Before a loop restarts, play ``beats`` clicks ``beat_s`` seconds apart (song time,
        the first accented) while the playhead waits; 0 beats = off."""
        beats = int(beats)
        if not 0 <= beats <= COUNT_IN_MAX_BEATS:
            raise ValueError(f"count-in of {beats} beats: expected 0..{COUNT_IN_MAX_BEATS}")
        if beats == 0:
            self._count_in = (0, 0.0)
            self.mixer.count_in = None
            return
        lo, hi = COUNT_IN_BEAT_S
        beat_s = float(beat_s)
        if not (math.isfinite(beat_s) and lo <= beat_s <= hi):
            raise ValueError(f"count-in beat of {beat_s} s: expected {lo:g}..{hi:g} s")
        self._count_in = (beats, beat_s)
        self.mixer.count_in = click_track(beats, beat_s)  # one reference swap

    # ---------------------------------------------------------------- status
    def _track_position(self) -> int:
        gen, pos = self.mixer.playhead
        tl = self.worker.timeline
        if gen == self._generation and tl is not None and tl.generation == gen:
            return tl.track_at(pos)
        return self._seek_target

    def status(self) -> EngineStatus:
        mixer = self.mixer
        out = self._output
        if isinstance(out, OutputOpener) and out.failed and mixer.play_request:
            # The device failed after play() returned: stop, and say why (once).
            mixer.play_request = False
            self._device_error = str(out.error)
        settings = mixer.settings
        sources = mixer.sources
        heard = mixer.heard
        shown = settings.source if settings.source in sources else "A"
        stems = sources[shown].stems if shown in sources else None
        state = self.worker.state  # one snapshot: the models and the error agree
        models = self._models_in(state)
        if stems is None:
            info = models.get("A")
            stems = tuple(info.stems) if info is not None else DEFAULT_STEMS
        levels: dict[str, tuple[float, float]] = {name: (0.0, 0.0) for name in stems}
        if heard in sources:
            lv = mixer.levels
            for k, name in enumerate(sources[heard].stems):
                levels[name] = (float(lv[k, 0]), float(lv[k, 1]))
        levels["master"] = (float(mixer.master_level[0]), float(mixer.master_level[1]))
        prov_info = models.get(settings.source) or models.get("A")
        length = self._info.samples if self._info is not None else 0
        pos = self._track_position() if self._info is not None else 0
        loop = None
        if self._loop is not None:
            loop = (self._loop[0] / SAMPLE_RATE, self._loop[1] / SAMPLE_RATE)
        return EngineStatus(
            playing=bool(mixer.play_request and not mixer.finished),
            position_s=min(pos, length) / SAMPLE_RATE,
            duration_s=length / SAMPLE_RATE,
            source=settings.source,
            stems=tuple(stems),
            models=models,
            provider=getattr(prov_info, "provider", "") or "",
            speed_x=float(self.worker.speed_x),
            ahead_s=float(self.worker.ahead_s),
            underruns=int(mixer.underruns),
            late=int(mixer.late),
            behind=bool(mixer.behind and mixer.playing and heard == "mix"),
            non_finite=int(mixer.non_finite),
            levels=levels,
            has_reference="reference" in sources,
            separated=heard != "mix",
            error=self._device_error or state.error or self._error,
            finished=bool(mixer.finished),
            loop=loop,
            track=self._info,
            tempo=float(settings.tempo),
            pitch=float(settings.pitch),
            pan=dict(settings.pan),
            count_in=self._count_in,
            counting_in=bool(mixer.counting_in),
        )

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the worker has handled every command sent so far (CLI, tests)."""
        return self.worker.sync(timeout)

    def close(self) -> None:
        """Stop the sound and the worker; the engine cannot be used afterwards."""
        self.mixer.play_request = False
        if self._output is not None:
            try:
                if not isinstance(self._output, OutputOpener):
                    self._output.stop()
                self._output.close()  # an OutputOpener stops and closes on its thread
            except Exception as err:  # noqa: BLE001 - closing must not fail the caller
                log.warning("closing the output: %s", err)
            self._output = None
        self.worker.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
