"""Drives the real main window with real key presses and clicks, in a subprocess whose ALSA
default device is the capture sink of ``tests/audiosink.py`` (PortAudio reads the ALSA
configuration when it starts, hence the separate process). GUI thread of that process.

A scenario advances on the controller's 30 Hz tick (:class:`Steps`); each step records when it
ran (wall clock relative to the step "play", i.e. to the start of the captured audio) and the
engine's playhead. The report (JSON) also holds what the scenario reads of the widgets at the
end. :func:`run` is the live scenario of ``test_live.py`` (its report also has the gaps between
ticks); ``test_practice_live.py`` drives its own with the same pieces. :func:`play_in_sink`
(pytest side) starts such a subprocess on a tone song and returns its report and the audio.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEP_TIMEOUT_S = 10.0

#: (label, ready(status) -> bool, action or None)
Step = tuple[str, Callable[[Any], bool], Callable[[], None] | None]


def open_main_window(settings_path: str, size: tuple[int, int]) -> tuple[Any, Any]:
    """A QApplication and the main window as ``stemplay`` opens it (the real engine factory),
    shown and active, its models loaded."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.main import engine_factory
    from app.main_window import MainWindow
    from app.settings import AppSettings

    app = QApplication([])
    theme.apply_theme(app, "dark")
    w = MainWindow(AppSettings(settings_path), engine_factory)
    w.resize(*size)
    w.show()
    QTest.qWaitForWindowExposed(w)
    w.activateWindow()
    QTest.qWaitForWindowActive(w)
    w.load_initial_models()
    return app, w


class Steps:
    """Runs ``steps`` one after the other on the window's controller tick; a step whose
    ``ready`` has not come true within ``timeout_s`` ends the run (``report["timeout_at"]``)."""

    def __init__(self, app: Any, window: Any, report: dict,
                 timeout_s: float = STEP_TIMEOUT_S) -> None:
        self.app, self.w, self.c = app, window, window.controller
        self.report = report
        self.timeout_s = timeout_s
        self.steps: list[Step] = []
        self.ticks: list[float] = []  # monotonic time of every tick
        self.t0 = 0.0  # monotonic time of the step "play"
        self._i = 0
        self._deadline = 0.0
        self._finish: Callable[[], None] = lambda: None

    def played(self, label: str, seconds: float) -> Callable[[Any], bool]:
        """Song seconds played after a step (robust to a slow, shared machine)."""
        return lambda st: self.c.position_s - self.report["steps"][label]["pos"] >= seconds

    def since(self, label: str, seconds: float) -> Callable[[Any], bool]:
        """Wall-clock seconds after a step."""
        return lambda st: (time.monotonic() - self.report["steps"][label]["wall"] - self.t0
                           >= seconds)

    def run(self, finish: Callable[[], None]) -> None:
        """Play the steps (the event loop runs until the last one, "end", or a timeout);
        ``finish`` then adds what it reads of the widgets to the report, and the window
        closes."""
        self._finish = finish
        self._deadline = time.monotonic() + self.timeout_s
        self.c.tick.connect(self._on_tick)
        self.app.exec()

    def _on_tick(self) -> None:
        now = time.monotonic()
        self.ticks.append(now)
        st = self.c.status
        if st is None or self._i >= len(self.steps):
            return
        label, ready, action = self.steps[self._i]
        if now > self._deadline:
            self.report["timeout_at"] = label
            self._end()
            return
        if not ready(st):
            return
        if label == "play":
            self.t0 = now
        self._i += 1
        self._deadline = now + self.timeout_s
        self.report["steps"][label] = {"wall": now - self.t0, "pos": self.c.position_s}
        if action is not None:
            action()
            self.report["steps"][label]["took"] = time.monotonic() - now
        if label == "end":
            self._end()

    def _end(self) -> None:
        self.report["ok"] = "timeout_at" not in self.report
        self._finish()
        self.c.tick.disconnect(self._on_tick)
        self.w.close()
        self.app.quit()


def run(song: str, settings_path: str, report_path: str) -> int:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from app.mixstate import db_to_fader

    app, w = open_main_window(settings_path, (1000, 640))
    report: dict = {"steps": {}, "ok": False}
    if not (w.choose_model("B", "bandsplit2") and w.open_path(song)):
        report["errors"] = w.presenter.history
        Path(report_path).write_text(json.dumps(report))
        return 1
    c = w.controller
    run_ = Steps(app, w, report)

    def key(k: Qt.Key) -> None:
        QTest.keyClick(w, k)

    def seek_click() -> None:
        wf = w.waveform
        QTest.mouseClick(
            wf,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            QPoint(round(0.25 * (wf.width() - 1)), wf.height() // 2),
        )

    played, since = run_.played, run_.since
    run_.steps = [
        ("play", lambda st: True, lambda: key(Qt.Key.Key_Space)),
        ("separated", lambda st: st.playing and st.separated and st.position_s > 1.0, None),
        ("mute_drums", played("separated", 0.8), lambda: key(Qt.Key.Key_2)),
        (
            "fader",
            played("mute_drums", 1.0),
            lambda: w.strips.strips["vocals"].fader.setValue(db_to_fader(-6.0)),
        ),
        ("ab", played("fader", 1.0), lambda: key(Qt.Key.Key_Tab)),
        ("seek", played("ab", 1.0), seek_click),
        # 2.5 song seconds after the seek (or 8 s of wall clock if playback never resumes)
        (
            "pause",
            lambda st: played("seek", 2.5)(st) or since("seek", 8.0)(st),
            lambda: key(Qt.Key.Key_Space),
        ),
        ("end", since("pause", 0.4), None),
    ]

    def finish() -> None:
        st = c.status
        strips = w.strips.strips
        t0 = run_.t0
        # the first Space opens the audio device (PortAudio; over a second with the test's JACK
        # bridge): that one call is reported as "play took", the gaps exclude it
        opened = t0 + report["steps"].get("play", {}).get("took", 0.0)
        gaps = [
            (b - a, a - t0)
            for a, b in itertools.pairwise(run_.ticks)
            if not (a <= t0 + 1e-3 and b >= opened)
        ]
        report.update(
            worst_gaps=sorted(gaps, reverse=True)[:5],
            max_tick_gap_s=max((g for g, _ in gaps), default=0.0),
            ticks=len(run_.ticks),
            drums_mute_checked=strips["drums"].mute.isChecked(),
            vocals_db_label=strips["vocals"].db_label.text(),
            controller_mix={s: c.mix.gain(s) for s in c.mix.stems},
            muted=sorted(c.mix.muted),
            source_button=w.sources.current,
            status_source=st.source if st else None,
            playing=bool(st and st.playing),
            underruns=int(st.underruns) if st else -1,
            errors=w.presenter.history,
            title=w.title.text(),
            play_button=w.transport.play_button.text(),
        )

    run_.run(finish)
    Path(report_path).write_text(json.dumps(report))
    return 0


def play_in_sink(tmp: Path, driver: str, models: tuple[str, ...], timeout: float) -> tuple[
        dict, Any]:
    """Run ``driver`` ("module:function", called with the song, a settings path and the report
    path) in a subprocess playing into the paced capture sink, on a 12-s tone song
    (``tests/app/conftest.tone_song``) with band-split models named ``models``. Returns the
    report (its run ended well) and the captured audio ``(frames, 2)``, also saved as
    ``tmp/captured.npy`` for a look after a failure."""
    import numpy as np

    from tests import tinymodels
    from tests.app.conftest import tone_song
    from tests.audiosink import alsa_sink

    for name in models:
        tinymodels.band_split_model(tmp / "models" / f"{name}.onnx", name=name)
    song = tone_song(tmp / "Tone Song", seconds=12.0)
    report_path = tmp / "report.json"
    module, function = driver.split(":")
    code = (f"import sys; from {module} import {function}; "
            f"sys.exit({function}({str(song)!r}, {str(tmp / 's.ini')!r}, {str(report_path)!r}))")
    with alsa_sink(tmp / "sink", paced=True) as sink:
        sink.env.update(QT_QPA_PLATFORM="offscreen", STEMPLAY_MODELS=str(tmp / "models"))
        proc = sink.run_python(code, timeout=timeout)
        audio = sink.captured()
    np.save(tmp / "captured.npy", audio)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["ok"], report
    return report, audio


if __name__ == "__main__":
    sys.exit(run(*sys.argv[1:4]))
