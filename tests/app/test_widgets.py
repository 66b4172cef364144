"""Widgets on their own (offscreen): what the user clicks emits what the engine needs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.mixstate import db_to_fader
from app.stem_strip import StemStrip, StripRow
from app.theme import stem_colour
from app.waveform import WaveformView


def test_strip_fader_mute_solo_and_double_click_reset(qtbot):
    strip = StemStrip("drums", stem_colour("drums"), 2)
    qtbot.addWidget(strip)
    got = []
    strip.gain_changed.connect(lambda s, db: got.append(("gain", s, db)))
    strip.mute_toggled.connect(lambda s, on: got.append(("mute", s, on)))
    strip.solo_toggled.connect(lambda s, on: got.append(("solo", s, on)))
    strip.fader.setValue(db_to_fader(-12.0))
    assert got[-1][:2] == ("gain", "drums") and got[-1][2] == pytest.approx(-12.0, abs=0.15)
    assert strip.db_label.text() == "-12.0 dB"
    qtbot.mouseClick(strip.mute, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(strip.solo, Qt.MouseButton.LeftButton)
    assert got[-2:] == [("mute", "drums", True), ("solo", "drums", True)]
    qtbot.mouseDClick(strip.fader, Qt.MouseButton.LeftButton)
    assert got[-1][2] == pytest.approx(0.0, abs=0.15) and strip.db_label.text() == "+0.0 dB"
    strip.fader.setValue(0)
    assert got[-1][2] == -math.inf and strip.db_label.text() == "-∞ dB"
    n = len(got)
    strip.set_state(-3.0, True, False)  # shown, not emitted
    assert len(got) == n and strip.mute.isChecked() and not strip.solo.isChecked()


def test_strip_row_follows_the_model_stems(qtbot):
    row = StripRow()
    qtbot.addWidget(row)
    row.set_stems(("vocals", "drums", "bass", "other"))
    assert list(row.strips) == ["vocals", "drums", "bass", "other"]
    row.set_stems(("vocals", "accompaniment"))
    assert list(row.strips) == ["vocals", "accompaniment"]


def test_waveform_click_seeks_and_shift_drag_sets_a_loop(qtbot):
    view = WaveformView()
    qtbot.addWidget(view)
    view.resize(1001, 120)
    view.show()
    view.clear(100.0)
    view.set_envelope(np.linspace(0, 1, 500, dtype=np.float32), np.full(500, 0.2, np.float32))
    seeks, loops = [], []
    view.seek_requested.connect(seeks.append)
    view.loop_selected.connect(lambda a, b: loops.append((a, b)))
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(250, 60))
    assert seeks[-1] == pytest.approx(25.0, abs=0.2)
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, shift, QPoint(100, 60))
    qtbot.mouseMove(view, QPoint(300, 60))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, shift, QPoint(300, 60))
    assert loops[-1] == (pytest.approx(10.0, abs=0.2), pytest.approx(30.0, abs=0.2))
    assert len(seeks) == 1  # the loop drag did not seek
    img = view.grab().toImage()
    assert img.width() == 1001  # painted without error at this size


def test_settings_persist_recent_files_and_theme(tmp_path):
    from app.settings import AppSettings

    s = AppSettings(tmp_path / "s.ini")
    assert s.theme == "dark"
    for i in range(12):
        s.add_recent(tmp_path / f"song{i}.wav")
    s.add_recent(tmp_path / "song3.wav")
    s.theme = "light"
    s.sync()
    again = AppSettings(tmp_path / "s.ini")
    assert again.theme == "light"
    assert len(again.recent_files) == 10
    assert again.recent_files[0].endswith("song3.wav")
    assert again.recent_files.count(str((tmp_path / "song3.wav").resolve())) == 1


def test_qt_binding_keeps_none_alive(qtbot):
    """PySide6 6.12.0 drops a reference to None in every void method (Python 3.11): a painting
    app aborts with "none_dealloc" within seconds. pyproject excludes it; this guards that."""
    import sys

    from PySide6.QtGui import QPainterPath
    from PySide6.QtWidgets import QLabel

    label, path = QLabel(), QPainterPath()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
        path.lineTo(1.0, 2.0)
    assert sys.getrefcount(None) - before > -20  # a buggy binding loses 400
