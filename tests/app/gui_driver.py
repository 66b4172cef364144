"""Drives the real main window with real key presses and clicks, in a subprocess whose ALSA
default device is the capture sink of ``tests/audiosink.py`` (PortAudio reads the ALSA
configuration when it starts, hence the separate process). GUI thread of that process.

The scenario advances on the controller's 30 Hz tick; each step records when it ran (wall
clock relative to the Space press, i.e. to the start of the captured audio) and the engine's
playhead. The report (JSON) also holds the widgets' final state and the gaps between ticks.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

STEP_TIMEOUT_S = 10.0


def run(song: str, settings_path: str, report_path: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.main import engine_factory
    from app.main_window import MainWindow
    from app.mixstate import db_to_fader
    from app.settings import AppSettings

    app = QApplication([])
    theme.apply_theme(app, "dark")
    w = MainWindow(AppSettings(settings_path), engine_factory)
    w.resize(1000, 640)
    w.show()
    QTest.qWaitForWindowExposed(w)
    w.activateWindow()
    QTest.qWaitForWindowActive(w)
    w.load_initial_models()
    report: dict = {"steps": {}, "ok": False}
    if not (w.choose_model("B", "bandsplit2") and w.open_path(song)):
        report["errors"] = w.presenter.history
        Path(report_path).write_text(json.dumps(report))
        return 1
    c = w.controller
    ticks: list[float] = []
    t0 = [0.0]

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

    def since(label: str, seconds: float):
        """Wall-clock seconds after a step."""
        return lambda st: time.monotonic() - report["steps"][label]["wall"] - t0[0] >= seconds

    def played(label: str, seconds: float):
        """Song seconds played after a step (robust to a slow, shared machine)."""
        return lambda st: c.position_s - report["steps"][label]["pos"] >= seconds

    steps = [
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
    state = {"i": 0, "deadline": time.monotonic() + STEP_TIMEOUT_S}

    def on_tick() -> None:
        now = time.monotonic()
        ticks.append(now)
        st = c.status
        if st is None or state["i"] >= len(steps):
            return
        label, ready, action = steps[state["i"]]
        if now > state["deadline"]:
            report["timeout_at"] = label
            finish()
            return
        if not ready(st):
            return
        if label == "play":
            t0[0] = now
        state["i"] += 1
        state["deadline"] = now + STEP_TIMEOUT_S
        report["steps"][label] = {"wall": now - t0[0], "pos": c.position_s}
        if action is not None:
            action()
            report["steps"][label]["took"] = time.monotonic() - now
        if label == "end":
            finish()

    def finish() -> None:
        st = c.status
        strips = w.strips.strips
        # the first Space opens the audio device (PortAudio; over a second with the test's JACK
        # bridge): that one call is reported as "play took", the gaps exclude it
        opened = t0[0] + report["steps"].get("play", {}).get("took", 0.0)
        gaps = [
            (b - a, a - t0[0])
            for a, b in itertools.pairwise(ticks)
            if not (a <= t0[0] + 1e-3 and b >= opened)
        ]
        report.update(
            ok="timeout_at" not in report,
            worst_gaps=sorted(gaps, reverse=True)[:5],
            max_tick_gap_s=max((g for g, _ in gaps), default=0.0),
            ticks=len(ticks),
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
        c.tick.disconnect(on_tick)
        w.close()
        app.quit()

    c.tick.connect(on_tick)
    app.exec()
    Path(report_path).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(run(*sys.argv[1:4]))
