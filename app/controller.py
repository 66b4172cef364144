"""The only object that talks to the engine. GUI thread.

It sends the user's commands to :class:`engine.player.Engine`, polls ``engine.status()`` with a
~30 Hz QTimer and re-emits it as a Qt signal, keeps the GUI-side mirror of the mix
(:class:`~app.mixstate.MixState`), and turns every :class:`~engine.errors.StemplayError` into a
dialog through the error presenter. It owns no audio or separation logic.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.alerts import ErrorPresenter
from app.mixstate import MixState, apply_preset
from engine.errors import StemplayError

log = logging.getLogger(__name__)

POLL_MS = 33  # ~30 Hz status poll
SEEK_STEP_S = 5.0
SEEK_BIG_STEP_S = 30.0


def has_reference(path: str | Path) -> bool:
    """Whether the song at ``path`` comes with its true stems (MUSDB layout)."""
    from engine.writers import reference_paths

    return reference_paths(Path(path)) is not None


class Controller(QObject):
    status_updated = Signal(object)  # EngineStatus
    track_opened = Signal(object)  # TrackInfo
    model_changed = Signal(str, object)  # slot, ModelInfo | None
    mix_changed = Signal(object)  # MixState
    source_changed = Signal(str)  # "A" | "B" | "mix" | "reference"
    loop_changed = Signal(object, bool)  # (start, end) | None, enabled
    practice_changed = Signal(float, float)  # tempo ratio, pitch semitones
    tick = Signal()  # every timer poll, after status_updated (tests measure event-loop stalls)

    def __init__(
        self,
        engine_factory: Callable[[], Any],
        presenter: ErrorPresenter,
        poll_ms: int = POLL_MS,
    ) -> None:
        super().__init__()
        self._factory = engine_factory
        self.presenter = presenter
        self.engine: Any = None
        self.status: Any = None  # last EngineStatus
        self.track: Any = None  # TrackInfo of the open song
        self.models: dict[str, str | None] = {"A": None, "B": None}  # accepted name-or-path
        # per slot, (key, model path) of the model before the last accepted one: the worker
        # goes back to it when the new one fails while playing
        self._before: dict[str, tuple[str | None, Any]] = {"A": (None, None), "B": (None, None)}
        self._paths: dict[str, Any] = {"A": None, "B": None}  # path of the accepted model
        self.mix = MixState.unity(())
        self.master_db = 0.0
        self.source = "A"
        self.loop: tuple[float, float] | None = None
        self.loop_enabled = False
        self.tempo = 1.0  # speed ratio (engine.stretch limits)
        self.pitch = 0.0  # semitones, fractional = cents
        self.count_in: tuple[int, float] = (0, 0.0)  # (beats, beat seconds); 0 beats = off
        self._last_error: str | None = None
        self._create_engine()
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self._on_timer)
        self.timer.start()

    # -- plumbing -------------------------------------------------------------------------------
    def _create_engine(self) -> bool:
        try:
            self.engine = self._factory()
            return True
        except StemplayError as err:
            self.engine = None
            self.presenter.show_error("Audio output", str(err))
            return False

    def _call(self, title: str, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """Run an engine method: ``(True, result)``, or a dialog and ``(False, None)``."""
        if self.engine is None:
            self.presenter.show_error(title, "No audio engine: choose an output in Settings.")
            return False, None
        try:
            return True, fn(*args)
        except StemplayError as err:
            self.presenter.show_error(title, str(err))
            return False, None

    @property
    def model_infos(self) -> Mapping[str, Any]:
        """slot -> ``ModelInfo`` | None: the engine's (``Engine.models``), not a copy."""
        if self.engine is None:
            return {"A": None, "B": None}
        return self.engine.models

    def _on_timer(self) -> None:
        self.poll()
        self.tick.emit()

    def poll(self) -> None:
        """Read the engine's status now and tell the widgets (also right after a command)."""
        if self.engine is None:
            return
        try:
            st = self.engine.status()
        except StemplayError as err:  # e.g. the device vanished
            self._report_async(str(err))
            return
        self.status = st
        for slot in ("A", "B"):  # the worker may drop or revert a model that failed playing
            self._follow_engine_model(slot, st.models.get(slot))
        if st.error and st.error != self._last_error:
            self._report_async(st.error)
        self._last_error = st.error
        stems = tuple(st.stems or ())
        if stems and stems != self.mix.stems:
            self._adopt_stems(stems)
        self.status_updated.emit(st)

    def _follow_engine_model(self, slot: str, info: Any) -> None:
        """The engine's slot holds ``info`` now: when the worker dropped the chosen model, or
        went back to the one before it, say so (``models`` and ``model_changed``)."""
        if info is None:
            if self.models[slot]:
                self.models[slot], self._paths[slot] = None, None
                self.model_changed.emit(slot, None)
            return
        key, path = self._before[slot]
        if path is not None and info.path == path != self._paths[slot]:
            self.models[slot], self._paths[slot] = key, path
            self._before[slot] = (None, None)
            self.model_changed.emit(slot, info)

    def _report_async(self, message: str) -> None:
        self.presenter.show_error("Playback", message)

    # -- song -----------------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        if self.engine is None:
            self.presenter.show_error("Cannot open the file", "No audio engine: check Settings.")
            return False
        ok, info = self._call("Cannot open the file", self.engine.open, str(path))
        if not ok:
            return False
        self.track = info
        self.loop, self.loop_enabled = None, False
        self.loop_changed.emit(None, False)
        if self.source == "reference" and not has_reference(info.path):
            # "Reference" was chosen for the previous song; this one has no true stems: hear
            # model A (or the plain mix) and say so with the lit source button.
            self.select("A" if self.models["A"] is not None else "mix")
        self.track_opened.emit(info)
        self.poll()
        return True

    def set_model(self, slot: str, key: str | None) -> bool:
        if self.engine is None:
            self.presenter.show_error("Model", "No audio engine: choose an output in Settings.")
            return False
        try:
            info = self.engine.set_model(slot, key)
        except StemplayError as err:
            self.presenter.show_error(f"Cannot use this model for {slot}", str(err))
            return False
        self._before[slot] = (self.models[slot], self._paths[slot])
        self.models[slot], self._paths[slot] = key, (info.path if info is not None else None)
        if slot == "A" and info is not None:
            self._adopt_stems(tuple(info.stems))
        if slot == "B" and key is None and self.source == "B":
            self.select("A")
        self.model_changed.emit(slot, info)
        return True

    def _adopt_stems(self, stems: tuple[str, ...]) -> None:
        """A model with other stems: keep settings of the stems both have, unity for the rest."""
        old = self.mix
        mix = MixState.unity(stems)
        for s in stems:
            mix = mix.with_gain(s, old.gain(s)).with_mute(s, s in old.muted)
            mix = mix.with_solo(s, s in old.soloed).with_pan(s, old.pan(s))
        self.mix = mix
        self._push_mix()
        self.mix_changed.emit(mix)

    def _push_mix(self) -> None:
        """Hand the whole mix to the engine: the strips and the master in one swap, then tempo,
        pitch and count-in."""
        if self.engine is None:
            return
        self._push_strips()
        self._call("Tempo", self.engine.set_tempo, self.tempo)
        self._call("Pitch", self.engine.set_pitch, self.pitch)
        self._call("Count-in", self.engine.set_count_in, *self.count_in)

    def _push_strips(self) -> None:
        """Every stem's gain, mute, solo and pan and the master: one ``MixSettings`` swap."""
        mix = self.mix
        self._call("Mixer", self.engine.set_mix, {s: mix.gain(s) for s in mix.stems},
                   mix.muted, mix.soloed, {s: mix.pan(s) for s in mix.stems}, self.master_db)

    # -- transport ------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return bool(self.status and self.status.playing)

    @property
    def position_s(self) -> float:
        return float(self.status.position_s) if self.status else 0.0

    def play_pause(self) -> None:
        if self.track is None or self.engine is None:
            return
        if self.playing:
            self._call("Playback", self.engine.pause)
        else:
            self._call("Cannot play", self.engine.play)
        self.poll()

    def play(self) -> None:
        if self.track is not None and not self.playing:
            self.play_pause()

    def stop(self) -> None:
        if self.engine is not None and self.track is not None:
            self._call("Playback", self.engine.stop)
            self.poll()

    def seek(self, seconds: float) -> None:
        if self.engine is None or self.track is None:
            return
        seconds = min(max(0.0, seconds), float(self.track.duration_s))
        if self._call("Seek", self.engine.seek, seconds)[0]:
            self.poll()

    def seek_relative(self, delta_s: float) -> None:
        self.seek(self.position_s + delta_s)

    def set_loop(self, start: float, end: float) -> None:
        self.loop = (start, end)
        self._apply_loop(True)

    def toggle_loop(self, on: bool | None = None) -> bool:
        """L key / loop button. Without a region there is nothing to loop: returns False."""
        if self.loop is None:
            self.loop_changed.emit(None, False)
            return False
        self._apply_loop(not self.loop_enabled if on is None else on)
        return True

    def _apply_loop(self, enabled: bool) -> None:
        self.loop_enabled = enabled
        if self.engine is not None:
            if enabled and self.loop is not None:
                self._call("Loop", self.engine.set_loop, *self.loop)
            else:
                self._call("Loop", self.engine.set_loop, None, None)
        self.loop_changed.emit(self.loop, self.loop_enabled)

    # -- mixer ----------------------------------------------------------------------------------
    def set_gain(self, stem: str, db: float) -> None:
        self.mix = self.mix.with_gain(stem, db)
        if self.engine is not None:
            self._call("Mixer", self.engine.set_gain_db, stem, db)
        self.mix_changed.emit(self.mix)

    def set_mute(self, stem: str, on: bool) -> None:
        self.mix = self.mix.with_mute(stem, on)
        if self.engine is not None:
            self._call("Mixer", self.engine.set_mute, stem, on)
        self.mix_changed.emit(self.mix)

    def set_solo(self, stem: str, on: bool) -> None:
        self.mix = self.mix.with_solo(stem, on)
        if self.engine is not None:
            self._call("Mixer", self.engine.set_solo, stem, on)
        self.mix_changed.emit(self.mix)

    def toggle_mute(self, index: int) -> None:
        if 0 <= index < len(self.mix.stems):
            s = self.mix.stems[index]
            self.set_mute(s, s not in self.mix.muted)

    def toggle_solo(self, index: int) -> None:
        if 0 <= index < len(self.mix.stems):
            s = self.mix.stems[index]
            self.set_solo(s, s not in self.mix.soloed)

    def apply_preset(self, name: str) -> None:
        """A preset reaches the engine as one swap: heard all at once, never stem by stem."""
        self.mix = apply_preset(self.mix, name)
        if self.engine is not None:
            self._push_strips()
        self.mix_changed.emit(self.mix)

    def set_master(self, db: float) -> None:
        self.master_db = db
        if self.engine is not None:
            self._call("Mixer", self.engine.set_master_db, db)

    # -- practice: pan, tempo, pitch, count-in ---------------------------------------------------
    @property
    def pan(self) -> dict[str, float]:
        """Every stem's pan, -100 (left) .. 100 (right); 0 = as separated."""
        return {s: self.mix.pan(s) for s in self.mix.stems}

    def set_pan(self, stem: str, value: float) -> None:
        from app.mixstate import clamp_pan

        value = clamp_pan(float(value))
        self.mix = self.mix.with_pan(stem, value)
        if self.engine is not None:
            self._call("Mixer", self.engine.set_pan, stem, value)
        self.mix_changed.emit(self.mix)

    def set_tempo(self, ratio: float) -> None:
        """Speed without changing pitch, clamped to 0.5..1.5."""
        from engine.stretch import TEMPO_MAX, TEMPO_MIN

        ratio = float(ratio)
        self.tempo = min(TEMPO_MAX, max(TEMPO_MIN, ratio)) if math.isfinite(ratio) else 1.0
        if self.engine is not None:
            self._call("Tempo", self.engine.set_tempo, self.tempo)
        self.practice_changed.emit(self.tempo, self.pitch)

    def set_pitch(self, semitones: float) -> None:
        """Transpose without changing speed, clamped to ±6 semitones (fractions are cents)."""
        from engine.stretch import PITCH_MAX

        semitones = float(semitones)
        self.pitch = (min(PITCH_MAX, max(-PITCH_MAX, semitones))
                      if math.isfinite(semitones) else 0.0)
        if self.engine is not None:
            self._call("Pitch", self.engine.set_pitch, self.pitch)
        self.practice_changed.emit(self.tempo, self.pitch)

    def set_count_in(self, beats: int, beat_s: float) -> None:
        """Clicks before a loop restarts: ``beats`` (0 = off) of ``beat_s`` seconds."""
        if self.engine is None:
            return
        try:
            self.engine.set_count_in(int(beats), float(beat_s))
        except ValueError as err:
            self.presenter.show_error("Count-in", str(err))
            return
        self.count_in = (int(beats), float(beat_s)) if beats else (0, 0.0)

    # -- A/B ------------------------------------------------------------------------------------
    def select(self, source: str) -> None:
        if self.engine is None:
            return
        if source == "B" and self.models["B"] is None:
            self.presenter.show_error("Model B", "Choose a model for B first.")
            self.source_changed.emit(self.source)
            return
        ok, _ = self._call("Source", self.engine.select, source)
        if ok:
            self.source = source
        self.source_changed.emit(self.source)

    def toggle_ab(self) -> None:
        """Tab: flip A↔B; from the original or the reference, go back to A."""
        if self.source == "A" and self.models["B"] is not None:
            self.select("B")
        else:
            self.select("A")

    def toggle_original(self) -> None:
        """O: original mix, and back to the model heard before."""
        if self.source == "mix":
            self.select(self._before_original)
        else:
            self._before_original = self.source if self.source in ("A", "B") else "A"
            self.select("mix")

    _before_original = "A"

    # -- export helpers -------------------------------------------------------------------------
    def export_mix_db(self) -> dict[str, float]:
        """The faders as set, for "export current mix": effective dB per stem incl. master."""
        out = {}
        for s, db in self.mix.effective_db().items():
            out[s] = db + self.master_db if math.isfinite(db) else -math.inf
        return out

    def export_practice(self, with_mix: bool = True) -> dict[str, Any]:
        """``export_file`` keyword arguments that carry tempo, pitch and (for a mix) the pan as
        set, so an export sounds like what is heard."""
        kwargs: dict[str, Any] = {"tempo": self.tempo, "pitch": self.pitch}
        pans = {s: v for s, v in self.pan.items() if v != 0.0}
        if with_mix and pans:
            kwargs["pan"] = pans
        return kwargs

    # -- audio settings -------------------------------------------------------------------------
    def reconfigure(self, engine_factory: Callable[[], Any]) -> None:
        """New device / buffer / threads: rebuild the engine and restore song, models, mix."""
        self.poll()
        was_playing, pos = self.playing, self.position_s
        track = self.track
        if self.engine is not None:
            try:
                self.engine.close()
            except StemplayError as err:
                log.warning("closing the engine: %s", err)
        self._factory = engine_factory
        self.status = None
        if not self._create_engine():
            return
        for slot in ("A", "B"):
            key = self.models[slot]
            if key is not None:
                self._call("Model", self.engine.set_model, slot, key)
        if track is not None and self._call("Cannot open", self.engine.open, str(track.path))[0]:
            self.seek(pos)
        self._push_mix()
        if self.source != "A":
            self._call("Source", self.engine.select, self.source)
        if self.loop_enabled and self.loop is not None:
            self._call("Loop", self.engine.set_loop, *self.loop)
        if was_playing:
            self._call("Cannot play", self.engine.play)

    def shutdown(self) -> None:
        self.timer.stop()
        if self.engine is not None:
            try:
                self.engine.close()
            except Exception:  # closing must never stop the window from closing
                log.exception("engine.close failed")
            self.engine = None
