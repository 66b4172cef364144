"""Issue 11 in the app: an export never deletes or silently replaces the user's files, closing
during an export asks, Shift+1–4 solo on layouts where Qt sees two matching shortcuts, and a
song without true stems never leaves "Reference" selected with no source lit."""

from __future__ import annotations

import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut

SR = 44100


def export_all(qtbot, dlg) -> list:
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.job is None, timeout=60000)
    return list(dlg.written)


def test_reexport_asks_and_cancel_keeps_the_first_export(
    qtbot, window, song, tmp_path, monkeypatch
):
    import engine.export

    window.open_path(song)
    dlg = window.open_export()
    dlg.folder.setText(str(tmp_path / "out"))
    dlg.mix_check.setChecked(True)  # stems and the mix: the old two-call job lost the stems
    first = export_all(qtbot, dlg)
    assert len(first) == 5
    before = {p: p.read_bytes() for p in first}

    asked = []
    monkeypatch.setattr(dlg, "confirm_overwrite", lambda paths: asked.append(paths) or False)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and sorted(asked[0]) == sorted(first)
    assert dlg.job is None and "exist already" in dlg.message.text()

    monkeypatch.setattr(dlg, "confirm_overwrite", lambda paths: True)
    real = engine.export._write_block
    calls = {"n": 0}

    def write(handle, data):  # the user presses Cancel once the new files are half written
        calls["n"] += 1
        if calls["n"] == 8:
            dlg.job.cancel()
        real(handle, data)

    monkeypatch.setattr(engine.export, "_write_block", write)
    dlg.format.setCurrentText("wav")
    dlg.subtype.setCurrentIndex(dlg.subtype.findData("FLOAT"))
    export_all(qtbot, dlg)
    assert calls["n"] >= 8
    assert "cancelled" in dlg.message.text()
    assert {p: p.read_bytes() for p in first} == before  # the first export is intact
    folder = first[0].parent
    assert sorted(folder.iterdir()) == sorted(first)  # and no .part file is left


def test_closing_during_an_export_asks_and_no_keeps_it_running(
    qtbot, window, song, tmp_path, monkeypatch
):
    window.open_path(song)
    dlg = window.open_export()
    dlg.folder.setText(str(tmp_path / "out"))
    monkeypatch.setattr(window, "export_running", lambda: True)
    monkeypatch.setattr(window, "confirm_quit_during_export", lambda: False)
    window.close()
    assert window.isVisible() and window.controller.engine is not None
    monkeypatch.setattr(window, "confirm_quit_during_export", lambda: True)
    window.close()
    assert not window.isVisible() and window.controller.engine is None


def test_shift_digit_solos_even_when_qt_finds_it_ambiguous(qtbot, window, song):
    window.open_path(song)
    bang = [s for s in window.findChildren(QShortcut) if s.key() == QKeySequence("!")]
    assert len(bang) == 1
    bang[0].activatedAmbiguously.emit()  # X11/US: Shift+1 matches "Shift+1" and "!"
    assert window.controller.mix.soloed == {"vocals"}
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ShiftModifier)
    assert window.controller.mix.soloed == set()


def test_opening_a_song_without_reference_leaves_reference_mode(
    qtbot, window, song, tmp_path
):
    window.open_path(song)
    qtbot.waitUntil(lambda: window.controller.engine.status().has_reference, timeout=15000)
    window.controller.select("reference")
    assert window.controller.source == "reference"
    plain = tmp_path / "plain.wav"
    sf.write(plain, sf.read(song)[0], SR)
    assert window.open_path(plain)
    assert window.controller.source == "A"
    assert window.sources.buttons["A"].isChecked()  # a source is lit: the one heard
    assert window.controller.engine.mixer.settings.source == "A"
    window.controller.poll()
    assert "reference" not in window.status_line.state.text()
