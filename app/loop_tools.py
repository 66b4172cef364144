"""The open song's beat grid and the practice keys that use it. GUI thread.

:class:`LoopTools` starts the beat/key analysis of each song opened (``AnalysisJob``, its own
thread; the result comes back by a queued signal), shows tempo and key in the header, draws
the grid on the waveform, and acts on the loop keys: Ctrl+1/2/4/8 (bars from the playhead's
bar), H / D (halve, double), ``[`` ``]`` (ends at the playhead, on the nearest beat), a
Shift+drag on the waveform (snapped to beats), L and the loop button, and K (count-in: one
bar of clicks at the song's tempo before the loop restarts). The maths is
:mod:`app.practice`; every change goes through the controller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from app import practice
from app.analysis_view import AnalysisJob
from app.controller import Controller
from app.transport import TransportBar
from app.waveform import WaveformView

log = logging.getLogger(__name__)

#: Loops set by keys: Ctrl+1/2/4/8 = that many bars from the playhead's bar.
LOOP_BARS = (1, 2, 4, 8)
#: Beats of the count-in click before a loop restarts (one 4/4 bar).
COUNT_IN_BEATS = 4
#: How long a hint stays in the status bar (milliseconds).
HINT_MS = 3000


class LoopTools(QObject):
    """Owns the analysis of the open song (``analysis``: ``engine.analysis.Analysis`` once
    known, else None) and the count-in action (``count_in_action``, checkable, key K)."""

    def __init__(self, controller: Controller, waveform: WaveformView, transport: TransportBar,
                 music: QLabel, say: Callable[[str, int], None], cache: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.waveform = waveform
        self.transport = transport
        self.music = music  # the tempo/key label under the title
        self.say = say  # a status-bar message (text, milliseconds)
        self.job = AnalysisJob(cache)
        self.analysis: Any = None
        self.count_in_action = QAction("Count-in before the loop restarts\tK", self)
        self.count_in_action.setCheckable(True)
        self.count_in_action.toggled.connect(self.on_count_in)
        self.job.done.connect(self._on_analysis)
        self.job.failed.connect(self._on_analysis_failed)
        controller.loop_changed.connect(self._on_loop_changed)
        waveform.loop_selected.connect(self._on_loop_dragged)
        transport.loop_toggled.connect(self._on_loop_button)

    # -- the song's grid -------------------------------------------------------------------------
    def song_opened(self, path: str | Path) -> None:
        """A new song: its grid is unknown until analysed (the count-in waits for it)."""
        self.analysis = None
        if self.count_in_action.isChecked():  # the last song's tempo no more: until this one's
            self.controller.set_count_in(0, 0.0)
        self.music.setText("finding the beat…")
        self.job.start(path)

    def _on_analysis(self, token: int, result: Any) -> None:
        if not self.job.is_current(token):
            return
        self.analysis = result
        self.music.setText(result.label() or "no steady beat")
        self.waveform.set_grid(result.beats, result.bars)
        if self.count_in_action.isChecked():
            self.on_count_in(True)

    def _on_analysis_failed(self, token: int, message: str) -> None:
        if self.job.is_current(token):
            log.warning("beat analysis: %s", message)
            self.music.setText("")

    def _grid(self) -> tuple[list[float], list[float]]:
        a = self.analysis
        return (list(a.beats), list(a.bars)) if a is not None else ([], [])

    def _here(self) -> float:
        """The playhead, on the nearest beat when the song is analysed (within half a beat)."""
        beats, _bars = self._grid()
        t = self.controller.position_s
        return practice.snap(t, beats, 0.5 * self.analysis.beat_s) if len(beats) > 1 else t

    # -- loops -----------------------------------------------------------------------------------
    def loop_bars(self, n: int) -> None:
        """Ctrl+1/2/4/8: a loop of ``n`` bars from the bar the playhead is in."""
        c = self.controller
        if c.track is None:
            return
        _beats, bars = self._grid()
        loop = practice.bars_loop(c.position_s, n, bars, float(c.track.duration_s))
        if loop is None:
            self.say("No bars yet: the beat is still being found" if self.analysis is None
                     else "This song has no steady beat to loop bars of", HINT_MS)
            return
        c.set_loop(*loop)

    def scale_loop(self, factor: float) -> None:
        """H / D: halve or double the loop (same start, end on a beat)."""
        c = self.controller
        if c.track is None or c.loop is None:
            self.say("Set a loop first (Ctrl+1…8, [ ], Shift+drag)", HINT_MS)
            return
        beats, _bars = self._grid()
        self._set_loop(practice.scale_loop(c.loop, factor, float(c.track.duration_s), beats))

    def loop_in(self) -> None:
        """``[``: the loop starts at the playhead."""
        c = self.controller
        if c.track is not None:
            self._set_loop(practice.loop_in(c.loop, self._here(), float(c.track.duration_s)))

    def loop_out(self) -> None:
        """``]``: the loop ends at the playhead."""
        c = self.controller
        if c.track is not None:
            self._set_loop(practice.loop_out(c.loop, self._here(), float(c.track.duration_s)))

    def _set_loop(self, loop: tuple[float, float] | None) -> None:
        if loop is None:
            self.say("That loop would be too short", HINT_MS)
            return
        self.controller.set_loop(*loop)

    def _on_loop_dragged(self, a: float, b: float) -> None:
        """Shift+drag on the waveform: the region snaps to the nearest beats."""
        beats, _bars = self._grid()
        if len(beats) > 1:
            half = 0.5 * self.analysis.beat_s
            a2, b2 = practice.snap(a, beats, half), practice.snap(b, beats, half)
            if b2 - a2 >= practice.MIN_LOOP_S:
                a, b = a2, b2
        self.controller.set_loop(a, b)

    def _on_loop_changed(self, loop: Any, enabled: bool) -> None:
        self.waveform.set_loop(loop, enabled)
        self.transport.set_loop_checked(enabled)

    def toggle_loop(self) -> None:
        """L: the loop on or off (a hint when there is none)."""
        if not self.controller.toggle_loop():
            self.say("Shift+drag on the waveform to set a loop region", HINT_MS)

    def _on_loop_button(self, on: bool) -> None:
        if not self.controller.toggle_loop(on):
            self.transport.set_loop_checked(False)
            self.say("Shift+drag on the waveform to set a loop region", HINT_MS)

    # -- count-in --------------------------------------------------------------------------------
    def on_count_in(self, on: bool) -> None:
        """K: one bar of clicks at the song's tempo before the loop restarts."""
        c = self.controller
        if not on:
            c.set_count_in(0, 0.0)
            return
        a = self.analysis
        if a is None or a.bpm <= 0:
            self.say("Count-in: waiting for the song's tempo", HINT_MS)
            return
        c.set_count_in(COUNT_IN_BEATS, a.beat_s)
        self.say(f"Count-in: {COUNT_IN_BEATS} clicks at {a.bpm:.0f} BPM before the loop "
                 "restarts", HINT_MS)
