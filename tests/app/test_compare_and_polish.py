"""Issue 12 items 6 and 7 on the real window (offscreen Qt, real engine into the paced "null"
output): B defaults to the other model, the export dialog names its model in the file names,
and the polish a user notices (time text at the end, dimmed strips in Original mode, elided
title, no jumping controls, minimum size, highlighted preset, shortcuts table, dropout warning).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt

from tests.app.conftest import open_window


@pytest.fixture
def window(qtbot, settings, two_models):
    w = open_window(qtbot, settings)
    yield w
    w.close()


def test_model_b_defaults_to_the_other_shipped_model(window):
    assert window.controller.models == {"A": "hybrid", "B": "unet"}
    assert window.picker_b.combo.currentData() == "unet"
    assert window.sources.buttons["B"].isEnabled()


def test_b_chosen_none_stays_none(qtbot, settings, two_models):
    settings.set_model("B", None)  # the user picked "(none)" last time
    w = open_window(qtbot, settings)
    try:
        assert w.controller.models["B"] is None
        assert not w.sources.buttons["B"].isEnabled()
    finally:
        w.close()


def test_export_dialog_says_which_model_and_a_b_files_never_collide(qtbot, window, song,
                                                                     tmp_path):
    window.open_path(song)
    qtbot.keyClick(window, Qt.Key.Key_Tab)  # hear B
    assert window.controller.source == "B"
    dlg = window.open_export()
    assert dlg.model_combo.currentText().startswith("B: unet")
    assert "heard now" in dlg.model_combo.currentText()
    for s, cb in dlg.stem_checks.items():
        cb.setChecked(s == "vocals")
    dlg.folder.setText(str(tmp_path / "out"))
    assert "Tone Song - vocals (unet).wav" in dlg.preview.text()
    written = []
    for label in ("B: unet", "A: hybrid"):
        dlg.model_combo.setCurrentIndex(
            next(i for i in range(dlg.model_combo.count())
                 if dlg.model_combo.itemText(i).startswith(label)))
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dlg.job is None and dlg.show_button.isVisible(), timeout=60000)
        written += [p.name for p in dlg.written]
    folder = tmp_path / "out" / "Tone Song"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Tone Song - vocals (hybrid).wav", "Tone Song - vocals (unet).wav"]
    assert written == ["Tone Song - vocals (unet).wav", "Tone Song - vocals (hybrid).wav"]


# ------------------------------------------------------------------------- item 7: polish
def _song(tmp_path, name: str, seconds: float):
    from tests.app.conftest import tone_song

    return tone_song(tmp_path / name, seconds=seconds)


def test_end_of_song_reads_total_over_total(qtbot, window, tmp_path):
    window.open_path(_song(tmp_path, "Short", 2.7))
    assert window.transport.total.text() == "/ 0:02"
    window.controller.seek(2.5)
    window.controller.play()
    qtbot.waitUntil(lambda: window.controller.status.finished, timeout=15000)
    window.controller.poll()
    assert window.transport.elapsed.text() == "0:02"  # not "0:02.7"


def test_original_mode_dims_the_strips(qtbot, window, song):
    window.open_path(song)
    assert not window._strip_dim.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert window._strip_dim.isEnabled() and window._strip_dim.opacity() < 0.5
    assert "original mix" in window.strips.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert not window._strip_dim.isEnabled()


def _in_window(w, child) -> QRect:
    return QRect(child.mapTo(w, child.rect().topLeft()), child.size())


def test_long_title_elides_and_nothing_jumps(qtbot, window, tmp_path):
    from app.main_window import MIN_WINDOW_SIZE

    window.resize(*MIN_WINDOW_SIZE)
    window.open_path(_song(tmp_path, "Short", 3.0))
    qtbot.wait(50)
    picker = _in_window(window, window.picker_a)
    slider = _in_window(window, window.transport.position)
    long_name = "An Extremely Long Song Title That Goes On " * 4
    window.open_path(_song(tmp_path, long_name.strip(), 3.0))
    qtbot.wait(50)
    assert window.title.text().endswith("…") and window.title.text() != long_name.strip()
    assert window.title.toolTip() == long_name.strip()
    qtbot.waitUntil(lambda: window.loops.analysis is not None, timeout=30000)  # the tempo line too
    qtbot.wait(50)
    assert _in_window(window, window.picker_a) == picker  # the pickers did not move
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.transport.play_button.text() == "Pause", timeout=10000)
    qtbot.wait(50)
    assert _in_window(window, window.transport.position) == slider  # Play→Pause: no jump
    assert window.size().width() == MIN_WINDOW_SIZE[0]


def test_minimum_window_size_nothing_overlaps(qtbot, window, song):
    from app.main_window import MIN_WINDOW_SIZE

    window.open_path(song)
    window.resize(200, 200)
    qtbot.wait(50)
    assert (window.width(), window.height()) == MIN_WINDOW_SIZE
    t = window.transport
    groups = [
        [window.title, window.picker_a, window.sources],
        [window.picker_a.combo, window.picker_a.add_button],
        [t.play_button, t.stop_button, t.loop_button, t.elapsed, t.total, t.position, t.master,
         t.master_label],
        [window.waveform, t, window.strips],
        [window.strips, *window.preset_buttons.values()],
        [*window.strips.strips.values()],
    ]
    for group in groups:
        rects = [_in_window(window, w) for w in group if w.isVisible()]
        for i, a in enumerate(rects):
            assert a.width() > 0 and a.height() > 0
            for b in rects[i + 1:]:
                assert not a.intersects(b), f"{a} overlaps {b}"
    for s in window.strips.strips.values():  # each strip's controls have room
        a, b = _in_window(window, s.mute), _in_window(window, s.solo)
        assert not a.intersects(b) and s.rect().contains(s.fader.geometry())


def test_active_preset_is_lit_until_the_mix_is_changed_by_hand(qtbot, window, song):
    window.open_path(song)
    lit = lambda: [n for n, b in window.preset_buttons.items() if b.isChecked()]
    assert lit() == ["All"]
    qtbot.mouseClick(window.preset_buttons["Karaoke"], Qt.MouseButton.LeftButton)
    assert lit() == ["Karaoke"]
    qtbot.mouseClick(window.preset_buttons["Karaoke"], Qt.MouseButton.LeftButton)
    assert lit() == ["Karaoke"]  # a second click keeps it
    window.controller.set_gain("bass", -3.0)
    assert lit() == []
    qtbot.keyClick(window, Qt.Key.Key_1)  # unmute vocals: bass still at -3 dB
    assert lit() == []


def test_shortcuts_dialog_is_a_table_of_every_key(qtbot, window):
    from PySide6.QtGui import QShortcut
    from PySide6.QtWidgets import QTableWidget

    dlg = window.show_shortcuts()
    table = dlg.findChild(QTableWidget, "shortcuts")
    keys = [table.item(r, 0).text() for r in range(table.rowCount())]
    does = [table.item(r, 1).text() for r in range(table.rowCount())]
    for k in ("Space", "←", "Shift+→", "Home", "Tab", "O", "R", "L", "[", "]", "1 – 4",
              "Shift+1 – 4", "Ctrl+E"):
        assert k in keys, k
    assert all(does)
    described = set(keys) | {"2", "3", "4", "Shift+2", "Shift+3", "Shift+4", "!", "@", "#",
                             "$", "Left", "Right", "Shift+Left", "Shift+Right", "Ctrl+2", "Ctrl+4",
                             "Ctrl+8", "+"}
    for sc in window.findChildren(QShortcut):
        assert sc.key().toString() in described, sc.key().toString()
    dlg.close()


def test_dropout_warning_only_when_it_happens(qtbot, window, song):
    window.open_path(song)
    window.controller.poll()
    assert not window.status_line.warning.isVisible()
    window.controller.engine.mixer.underruns = 3  # as the callback counts a dropout
    window.controller.poll()
    assert window.status_line.warning.isVisible()
    text = window.status_line.warning.full_text()
    assert "dropped out 3×" in text and "underruns" not in text
    qtbot.wait(50)
    state = window.status_line.state  # what is heard stays readable beside the warning
    assert state.width() >= state.fontMetrics().horizontalAdvance(state.text())


def test_status_bar_says_when_cuda_was_asked_for_and_the_cpu_runs(
    qtbot, window, song, monkeypatch
):
    from engine.model import cuda_unusable_reason

    reason = cuda_unusable_reason()
    if reason is None:
        pytest.skip("CUDA can run on this machine")
    monkeypatch.setenv("STEMPLAY_PROVIDER", "cuda")
    window.open_path(song)
    qtbot.waitUntil(lambda: window.controller.engine.status().provider != "", timeout=20000)
    window.controller.poll()
    label = window.status_line.provider
    assert label.text() == "CPU (CUDA unusable)"
    assert label.toolTip() == f"Models run on the CPU: CUDA is not usable here ({reason})"
    monkeypatch.setenv("STEMPLAY_PROVIDER", "auto")  # not asked for: the bar just says CPU
    window.controller.poll()
    assert label.text() == "CPU" and reason in label.toolTip()


def test_loop_keys_set_a_translucent_region_with_its_times(qtbot, window, song):
    window.open_path(song)
    window.controller.seek(2.0)
    qtbot.keyClick(window, Qt.Key.Key_BracketLeft)
    assert window.controller.loop == pytest.approx((2.0, 6.0), abs=0.01)
    assert window.controller.loop_enabled and window.transport.loop_button.isChecked()
    window.controller.seek(4.5)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.controller.loop == pytest.approx((2.0, 4.5), abs=0.01)
    assert window.waveform.loop_labels() == ("0:02.0", "0:04.5")
    assert window.controller.engine.status().loop == pytest.approx((2.0, 4.5), abs=0.01)
    img = window.waveform.grab().toImage()  # the wave shows through the region
    x = round(window.waveform.seconds_to_x(3.0))
    assert img.pixelColor(x, 3).alpha() == 255


def test_export_at_the_tempo_pitch_and_pan_heard(qtbot, window, tmp_path):
    import numpy as np
    import soundfile as sf

    from tests.app.conftest import TONE_LEVEL, tone_levels

    window.open_path(_song(tmp_path, "Short", 3.0))
    dlg = window.open_export()
    assert dlg.practice_check.isHidden()  # at 100 % and 0 semitones there is nothing to ask
    dlg.close()
    c = window.controller
    c.set_tempo(0.5)
    c.set_pan("vocals", -100.0)
    dlg = window.open_export()
    assert not dlg.practice_check.isHidden() and dlg.practice_check.isChecked()
    assert "50 %" in dlg.practice_check.text()
    for s, cb in dlg.stem_checks.items():
        cb.setChecked(s == "bass")
    dlg.mix_check.setChecked(True)
    dlg.folder.setText(str(tmp_path / "out"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.job is None and dlg.show_button.isVisible(), timeout=120000)
    folder = tmp_path / "out" / "Short"
    bass, sr = sf.read(folder / "Short - bass (hybrid).wav")
    assert len(bass) == pytest.approx(2 * 3.0 * sr, abs=2)  # half speed: twice as long
    mix, _ = sf.read(folder / "Short - mix (hybrid).wav")
    right = tone_levels(np.ascontiguousarray(mix[sr: 5 * sr, ::-1]))  # right channel
    left = tone_levels(mix[sr: 5 * sr])
    assert np.all(right["vocals"] < 0.01 * TONE_LEVEL)  # vocals hard left
    assert np.all(left["vocals"] > 0.5 * TONE_LEVEL)
