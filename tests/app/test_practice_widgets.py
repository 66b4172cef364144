"""Issue 12 items 1 and 4 on the real window (offscreen Qt, real engine into the paced "null"
output): the pan control of each strip, the tempo and pitch controls of the transport, their
keys, and the controller's read-back (what the library stores)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from app.mixstate import format_pan, format_pitch, split_pitch


@pytest.fixture
def window(window, song):
    assert window.open_path(song)
    return window


def test_pan_slider_pans_the_stem_and_double_click_centres(qtbot, window):
    c = window.controller
    strip = window.strips.strips["vocals"]
    strip.pan.setValue(-100)
    assert c.pan["vocals"] == -100.0 and strip.pan_label.text() == "L100"
    assert c.engine.status().pan["vocals"] == -100.0
    qtbot.mouseDClick(strip.pan, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert strip.pan.value() == 0 and strip.pan_label.text() == "C"
    assert c.pan["vocals"] == 0.0 and c.engine.status().pan["vocals"] == 0.0
    assert set(c.pan) == {"vocals", "drums", "bass", "other"}


def test_restored_pan_shows_in_the_strip(window):
    c = window.controller
    c.set_pan("bass", 35)
    assert window.strips.strips["bass"].pan.value() == 35
    assert window.strips.strips["bass"].pan_label.text() == "R35"
    c.apply_preset("Karaoke")  # presets say what is heard, not where
    assert c.pan["bass"] == 35.0


def test_tempo_and_pitch_controls_reach_the_engine(window):
    c = window.controller
    t = window.transport
    t.tempo.setValue(75)
    assert c.tempo == 0.75 and c.engine.status().tempo == 0.75
    t.semitones.setValue(-2)
    t.cents.setValue(-25)
    assert c.pitch == pytest.approx(-2.25) and c.engine.status().pitch == pytest.approx(-2.25)
    t.semitones.setValue(6)
    t.cents.setValue(30)  # +6.3 is beyond the range: held at +6
    assert c.pitch == 6.0 and (t.semitones.value(), t.cents.value()) == (6, 0)
    t.practice_reset.click()
    assert (c.tempo, c.pitch) == (1.0, 0.0)
    assert (c.engine.status().tempo, c.engine.status().pitch) == (1.0, 0.0)


def test_practice_keys(qtbot, window):
    c = window.controller
    for key, want in ((Qt.Key.Key_Comma, (0.95, 0.0)), (Qt.Key.Key_Comma, (0.9, 0.0)),
                      (Qt.Key.Key_Period, (0.95, 0.0)), (Qt.Key.Key_Equal, (0.95, 1.0)),
                      (Qt.Key.Key_Minus, (0.95, 0.0)), (Qt.Key.Key_Minus, (0.95, -1.0)),
                      (Qt.Key.Key_Backspace, (1.0, 0.0))):
        qtbot.keyClick(window, key)
        assert (c.tempo, c.pitch) == pytest.approx(want), key
    keys = dict(window.shortcut_rows())
    assert keys[","].startswith("tempo") and keys["="].startswith("pitch")


def test_restoring_tempo_and_pitch_updates_the_widgets_without_echo(window):
    c = window.controller
    seen = []
    window.transport.tempo_changed.connect(seen.append)
    c.set_tempo(1.25)
    c.set_pitch(1.5)
    t = window.transport
    assert t.tempo.value() == 125 and (t.semitones.value(), t.cents.value()) == (2, -50)
    assert seen == []  # shown, not sent back
    c.set_tempo(9.0)  # a bad stored value is clamped, never an error
    assert c.tempo == 1.5 and t.tempo.value() == 150


def test_count_in_reaches_the_engine_and_bad_values_are_one_dialog(window):
    c = window.controller
    c.set_count_in(4, 0.5)
    assert c.count_in == (4, 0.5) and c.engine.status().count_in == (4, 0.5)
    c.set_count_in(0, 0.5)
    assert c.count_in == (0, 0.0) and c.engine.mixer.count_in is None
    c.set_count_in(99, 0.5)
    assert c.count_in == (0, 0.0)
    assert "count-in" in window.presenter.history[-1][1].lower()


@pytest.mark.parametrize(("value", "text"), [(0, "C"), (-100, "L100"), (35.4, "R35")])
def test_format_pan(value, text):
    assert format_pan(value) == text


@pytest.mark.parametrize(("semis", "parts", "text"),
                         [(0.0, (0, 0), "0 st"), (2.0, (2, 0), "+2 st"),
                          (-1.25, (-1, -25), "-1 st -25 ct"), (1.75, (2, -25), "+2 st -25 ct")])
def test_split_and_format_pitch(semis, parts, text):
    assert split_pitch(semis) == parts
    assert format_pitch(semis) == text


def test_export_practice_carries_tempo_pitch_and_the_mix_pan(window):
    c = window.controller
    assert c.export_practice() == {"tempo": 1.0, "pitch": 0.0}
    c.set_tempo(0.8)
    c.set_pitch(-1.5)
    c.set_pan("vocals", -100)
    assert c.export_practice() == {"tempo": 0.8, "pitch": -1.5, "pan": {"vocals": -100.0}}
    assert "pan" not in c.export_practice(with_mix=False)  # stem files are never panned
