"""Issue 12 items 2 and 3 on the real window (offscreen, real engine): the beat grid of a
generated click track lands within 10 ms, BPM in the header, loops by bars snap to the grid
(keys Ctrl+1/2/4/8, H, D, Shift+drag), the count-in follows the tempo; the overview shows the
heard model's separated stems in their colours and how far A and B are ahead."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.theme import stem_colour
from tests import tinymodels
from tests.app.conftest import open_window, tone_song
from tests.engine.test_analysis import click_track

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def window(qtbot, settings, bandsplit, models_dir):
    """B starts with a second model, bandsplit2; the analysis cache is beside the settings
    file (``tmp_path / "analysis-cache"``)."""
    tinymodels.band_split_model(models_dir / "bandsplit2.onnx", name="bandsplit2")
    w = open_window(qtbot, settings)
    yield w
    w.close()


def test_beat_grid_of_a_click_track_and_loops_by_bars(qtbot, window, tmp_path):
    (tmp_path / "Clicks").mkdir()
    clicks = click_track(tmp_path / "Clicks" / "clicks.wav", 120.0, seconds=14.0)
    window.open_path(tmp_path / "Clicks" / "clicks.wav")
    assert window.music.text() == "finding the beat…"
    qtbot.waitUntil(lambda: window.loops.analysis is not None, timeout=60000)
    beats = window.waveform.beats
    assert len(beats) == len(clicks) and np.max(np.abs(beats - clicks)) < 0.010
    np.testing.assert_allclose(window.waveform.bars, clicks[::4], atol=0.010)
    assert window.music.text().startswith("120 BPM")
    c = window.controller
    c.seek(3.1)  # inside the bar 2.25–4.25
    qtbot.keyClick(window, Qt.Key.Key_2, CTRL)
    assert c.loop == pytest.approx((2.25, 6.25), abs=0.01) and c.loop_enabled
    assert c.engine.status().loop == pytest.approx((2.25, 6.25), abs=0.01)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert c.loop == pytest.approx((2.25, 4.25), abs=0.01)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert c.loop == pytest.approx((2.25, 3.25), abs=0.01)
    qtbot.keyClick(window, Qt.Key.Key_D)
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert c.loop == pytest.approx((2.25, 6.25), abs=0.01)
    c.seek(9.0)
    qtbot.keyClick(window, Qt.Key.Key_1, CTRL)
    assert c.loop == pytest.approx((8.25, 10.25), abs=0.01)
    window.waveform.loop_selected.emit(2.33, 3.68)  # a Shift+drag: snapped to the beats
    assert c.loop == pytest.approx((2.25, 3.75), abs=0.01)
    c.seek(4.3)
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)  # [ and ] land on the nearest beat too
    c.seek(5.6)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert c.loop == pytest.approx((4.25, 5.75), abs=0.01)
    qtbot.keyClick(window, Qt.Key.Key_K)  # count-in: one bar of clicks at 120 BPM
    count_in = window.loops.count_in_action
    assert count_in.isChecked() and c.count_in == (4, pytest.approx(0.5, abs=1e-3))
    (tmp_path / "Slower").mkdir()
    click_track(tmp_path / "Slower" / "clicks.wav", 100.0, seconds=8.0)
    window.open_path(tmp_path / "Slower" / "clicks.wav")  # the count-in follows the song
    assert c.count_in == (0, 0.0) and count_in.isChecked()
    qtbot.waitUntil(lambda: window.loops.analysis is not None, timeout=60000)
    assert c.count_in == (4, pytest.approx(0.6, abs=2e-3))
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert c.count_in == (0, 0.0)


def test_reopened_song_takes_the_analysis_from_the_cache(qtbot, window, tmp_path):
    (tmp_path / "Clicks").mkdir()
    click_track(tmp_path / "Clicks" / "clicks.wav", 97.0, seconds=8.0)
    window.open_path(tmp_path / "Clicks" / "clicks.wav")
    qtbot.waitUntil(lambda: window.loops.analysis is not None, timeout=60000)
    assert len(list((tmp_path / "analysis-cache").glob("*.json"))) == 1
    first = window.loops.analysis
    window.open_path(tone_song(tmp_path / "Tone Song", 4.0))
    window.open_path(tmp_path / "Clicks" / "clicks.wav")
    qtbot.waitUntil(lambda: window.loops.analysis is not None, timeout=60000)
    assert window.loops.analysis == first and window.music.text().startswith("97 BPM")


def _centre(window, seconds):
    img = window.waveform.grab().toImage()
    x = round(window.waveform.seconds_to_x(seconds))
    return img.pixelColor(x, window.waveform.height() // 2)


def _dist(a, b):
    return sum((x - y) ** 2 for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


def test_overview_shows_the_separated_stems_of_the_model_heard(qtbot, window, tmp_path):
    window.choose_model("B", "bandsplit2")
    window.open_path(tone_song(tmp_path / "Tone Song", 10.0))
    wf = window.waveform
    qtbot.waitUntil(lambda: wf.has_envelope and 0.25 < wf.separated_fraction, timeout=60000)
    assert wf.stem_names == ("vocals", "drums", "bass", "other")
    assert wf.separated_fraction < 0.5  # only what is separated (3 s ahead + slack of 10 s)
    qtbot.waitUntil(lambda: set(wf.ahead) == {"A", "B"} and min(wf.ahead.values()) > 2.5,
                    timeout=60000)
    assert wf.ahead_labels()[0].startswith("A ") and wf.ahead_labels()[1].startswith("B ")
    vocals = stem_colour("vocals")
    separated, plain = _centre(window, 1.0), _centre(window, 8.0)
    assert _dist(separated, vocals) < _dist(plain, vocals)  # the vocals band at the centre
    qtbot.keyClick(window, Qt.Key.Key_Tab)  # hear B: its own envelopes
    ov = window.overview
    qtbot.waitUntil(lambda: ov.shown is ov.stem_tap.slots.get("B"), timeout=10000)
    assert wf.heard_slot == "B" and wf.separated_fraction > 0.25
    qtbot.keyClick(window, Qt.Key.Key_O)  # the original: the plain mix
    qtbot.waitUntil(lambda: wf.stem_names == (), timeout=10000)
