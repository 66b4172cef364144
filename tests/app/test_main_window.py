"""The real main window with the real engine in this process (offscreen Qt; the engine plays
into its device-less, real-time-paced "null" output): error dialogs, export through the dialog,
presets and solo keys, drag and drop, recent files, settings, clean shutdown."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests import tinymodels
from tests.app.conftest import TONE_LEVEL, TONES, tone_levels

SR = 44100


def dismiss(w) -> tuple[str, str]:
    """The error shown last (title, message); closes its box like a user pressing OK."""
    assert w.presenter.current is not None and w.presenter.current.isVisible()
    shown = w.presenter.history[-1]
    w.presenter.current.button(w.presenter.current.StandardButton.Ok).click()
    return shown


def test_starts_empty_inviting_to_open_a_file(window):
    assert window.title.text() == "No song open"
    assert "Ctrl+O" in window.waveform.empty_text
    assert not window.transport.isEnabled() and not window.act_export.isEnabled()
    assert window.controller.models["A"] == "bandsplit"
    assert list(window.strips.strips) == ["vocals", "drums", "bass", "other"]


def test_bad_file_and_bad_model_each_show_a_dialog_and_the_app_keeps_working(
    qtbot, window, song, tmp_path
):
    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"this is not a wav file" * 100)
    assert not window.open_path(bad)
    title, message = dismiss(window)
    assert title == "Cannot open the file" and "not audio.wav" in message
    assert window.title.text() == "No song open"

    broken = tinymodels.corrupt_model(tmp_path / "broken.onnx", kind="truncated")
    assert not window.choose_model("A", str(broken))
    title, message = dismiss(window)
    assert "Cannot use this model" in title and "broken.onnx" in message
    assert window.controller.models["A"] == "bandsplit"
    assert window.picker_a.combo.currentData() == "bandsplit"  # the picker shows what plays

    assert window.open_path(song)  # still usable: open, play
    assert window.title.text() == "Tone Song"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.controller.position_s > 0.2, timeout=15000)
    assert window.transport.play_button.text() == "Pause"
    assert len(window.presenter.history) == 2


def test_waveform_overview_is_drawn_from_the_file(qtbot, window, song):
    window.open_path(song)
    qtbot.waitUntil(lambda: window.waveform.has_envelope, timeout=10000)
    peak = window.waveform._peak
    # the tones sum to a mono peak of 3 × 0.15 + the rising "other" tone
    assert peak.max() == pytest.approx(3 * TONE_LEVEL + 0.02 + 0.03 * 8.0, rel=0.05)


def test_presets_solo_keys_and_mute_keys_reach_the_engine(qtbot, window, song):
    window.open_path(song)
    eng = window.controller.engine
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ShiftModifier)
    assert eng.mixer.settings.solo == {"vocals"}
    assert window.strips.strips["vocals"].solo.isChecked()
    assert eng.mixer.settings.gain("drums") == 0.0 and eng.mixer.settings.gain("vocals") == 1.0
    qtbot.mouseClick(window.preset_buttons["Karaoke"], Qt.MouseButton.LeftButton)
    assert eng.mixer.settings.mute == {"vocals"} and eng.mixer.settings.solo == frozenset()
    assert window.strips.strips["vocals"].mute.isChecked()
    assert not window.strips.strips["vocals"].solo.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_1)  # key 1 toggles the vocals mute back off
    assert eng.mixer.settings.mute == frozenset()
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert eng.mixer.settings.source == "mix" and window.sources.current == "mix"
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert eng.mixer.settings.source == "A"


def test_export_two_stems_through_the_dialog(qtbot, window, song, tmp_path, monkeypatch):
    window.open_path(song)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dlg = window.export_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.stem_checks["drums"].setChecked(False)
    dlg.stem_checks["other"].setChecked(False)
    dlg.folder.setText(str(tmp_path / "out"))
    dlg.format.setCurrentText("flac")
    dlg.subtype.setCurrentIndex(dlg.subtype.findData("PCM_24"))
    assert "Tone Song - vocals (bandsplit).flac" in dlg.preview.text()
    assert "Tone Song - bass (bandsplit).flac" in dlg.preview.text()
    assert "drums" not in dlg.preview.text()
    dlg.template.setText("{artist}.{ext}")
    assert "unknown field" in dlg.preview.text() and not dlg.export_button.isEnabled()
    dlg.template.setText("{stem} ({track}).{ext}")
    progress = []
    dlg.progress.valueChanged.connect(progress.append)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.show_button.isVisible(), timeout=60000)
    folder = tmp_path / "out" / "Tone Song"
    assert sorted(p.name for p in folder.iterdir()) == [
        "bass (Tone Song).flac",
        "vocals (Tone Song).flac",
    ]
    assert progress and progress[-1] == 1000 and progress == sorted(progress)
    for stem in ("vocals", "bass"):
        audio, sr = sf.read(folder / f"{stem} (Tone Song).flac")
        assert sr == SR and sf.info(folder / f"{stem} (Tone Song).flac").subtype == "PCM_24"
        lv = tone_levels(audio[SR : 7 * SR])
        for other, f in TONES.items():
            if other == stem:
                assert np.all(np.abs(lv[other] - TONE_LEVEL) < 0.002), f"{stem} tone {f} Hz"
            else:
                assert np.all(lv[other] < 1e-3), f"{other} leaks into {stem}"
    opened = []
    monkeypatch.setattr("app.export_dialog.QDesktopServices.openUrl", opened.append)
    qtbot.mouseClick(dlg.show_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(folder))]
    assert window.settings.export_format == "flac"  # remembered for next time


def test_export_current_mix_follows_the_faders(qtbot, window, song, tmp_path):
    window.open_path(song)
    window.controller.set_mute("drums", True)
    window.controller.set_gain("vocals", -6.0)
    dlg = window.open_export()
    for cb in dlg.stem_checks.values():
        cb.setChecked(False)
    dlg.mix_check.setChecked(True)
    dlg.folder.setText(str(tmp_path / "out"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.show_button.isVisible(), timeout=60000)
    (path,) = dlg.written
    assert path.name == "Tone Song - mix (bandsplit).wav"
    lv = tone_levels(sf.read(path)[0][SR : 7 * SR])
    assert np.all(lv["drums"] < 1e-3)
    assert np.all(np.abs(20 * np.log10(lv["vocals"] / TONE_LEVEL) + 6.0) < 0.1)
    assert np.all(np.abs(lv["bass"] - TONE_LEVEL) < 0.002)


def held_export(qtbot, window, song, out, monkeypatch):
    """Start an export of ``song`` into ``out`` through the dialog; it is held at its first
    progress report until cancelled. Returns the dialog once the export runs."""
    import engine.export

    window.open_path(song)
    dlg = window.open_export()
    dlg.folder.setText(str(out))
    started = threading.Event()
    real = engine.export.export_file

    def held(*args, progress=None, cancel=None, **kw):
        def report(f):  # hold the export at its first progress report until cancelled
            started.set()
            cancel.wait(10)
            progress(f)

        return real(*args, progress=report, cancel=cancel, **kw)

    monkeypatch.setattr(engine.export, "export_file", held)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert started.wait(30)
    return dlg


def test_cancelled_export_leaves_no_file(qtbot, window, song, tmp_path, monkeypatch):
    dlg = held_export(qtbot, window, song, tmp_path / "out", monkeypatch)
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.job is None, timeout=30000)
    assert "cancelled" in dlg.message.text()
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    assert dlg.export_button.isEnabled()  # ready to try again


def test_drop_a_file_opens_it_and_recent_files_remember_it(qtbot, window, song):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(song))])
    ev = QDropEvent(
        QPointF(100, 100),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(ev)
    assert window.title.text() == "Tone Song"
    assert window.settings.recent_files[0] == str(song.resolve())
    actions = [a for a in window.recent_menu.actions() if a.toolTip() == str(song.resolve())]
    assert len(actions) == 1


def test_settings_change_rebuilds_the_engine_and_keeps_the_song(qtbot, window, song):
    from app.settings_dialog import SettingsDialog

    window.open_path(song)
    window.controller.set_mute("bass", True)
    window.controller.seek(3.0)
    old = window.controller.engine
    dlg = SettingsDialog(window.settings, devices=[], parent=window)
    dlg.blocksize.setCurrentIndex(dlg.blocksize.findData(1024))
    assert dlg.latency.currentData() == pytest.approx(0.1)  # the default: no dropouts under load
    dlg.latency.setCurrentIndex(dlg.latency.findData(0.05))
    dlg.theme.setCurrentIndex(dlg.theme.findData("light"))
    window.apply_settings(dlg)
    new = window.controller.engine
    assert new is not old and not old.worker.is_alive()
    assert new.config.blocksize == 1024 and new.config.latency == pytest.approx(0.05)
    assert new.status().track.title == "Tone Song"
    assert new.status().position_s == pytest.approx(3.0, abs=0.05)
    assert new.mixer.settings.mute == {"bass"}
    assert window.palette().window().color().lightness() > 200  # light theme applied
    assert window.settings.blocksize == 1024 and window.settings.theme == "light"
    assert window.settings.latency == pytest.approx(0.05)


def test_closing_while_playing_stops_everything(qtbot, window, song):
    window.open_path(song)
    window.controller.play()
    qtbot.waitUntil(lambda: window.controller.position_s > 0.1, timeout=15000)
    eng = window.controller.engine
    window.close()
    assert window.controller.engine is None
    assert not eng.worker.is_alive()
    assert not window.controller.timer.isActive()
    assert math.isfinite(window.settings.blocksize)


def test_closing_while_exporting_cancels_and_leaves_no_file(
    qtbot, window, song, tmp_path, monkeypatch
):
    dlg = held_export(qtbot, window, song, tmp_path / "out", monkeypatch)
    job = dlg.job
    asked = []
    monkeypatch.setattr(window, "confirm_quit_during_export", lambda: asked.append(1) or True)
    window.close()
    assert asked == [1]  # the user was asked before the export was stopped
    assert not job.thread.is_alive()
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    assert window.controller.engine is None


def test_a_model_failing_while_playing_shows_the_model_heard_again(
    qtbot, window, song, tmp_path, monkeypatch
):
    """A model that loads but breaks when it runs: the worker goes back to the model before it;
    the picker and the controller follow, and the error is said once."""
    import engine.model

    other = tinymodels.band_split_model(tmp_path / "other.onnx", name="other")
    real_load = engine.model.load_model

    def load(name_or_path, **kwargs):
        model = real_load(name_or_path, **kwargs)
        return tinymodels.BrokenModel(model) if str(name_or_path) == str(other) else model

    monkeypatch.setattr(engine.model, "load_model", load)
    assert window.open_path(song)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.controller.status.separated, timeout=15000)
    assert window.choose_model("A", str(other))
    assert window.picker_a.combo.currentData() == str(other)
    qtbot.waitUntil(lambda: window.controller.models["A"] == "bandsplit", timeout=15000)
    assert window.picker_a.combo.currentData() == "bandsplit"  # the picker shows what plays
    title, message = dismiss(window)
    assert title == "Playback" and "the graph broke" in message
    qtbot.waitUntil(lambda: window.controller.status.separated, timeout=15000)
