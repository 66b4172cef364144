"""Issue 12 item 5, batch export: three songs written with one progress bar; a cancel leaves no
half-written file and removes only what the batch created (real window, real engine)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from tests.app.conftest import TONE_LEVEL, open_window, tone_levels, tone_song

SR = 44100
STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture
def three(tmp_path):
    return [tone_song(tmp_path / f"Song {k}", 3.0) for k in (1, 2, 3)]


@pytest.fixture
def window(qtbot, settings, two_models):
    w = open_window(qtbot, settings)
    yield w
    w.close()


def test_batch_export_of_three_songs_writes_every_file(qtbot, window, three, tmp_path):
    window.open_path(three[0])
    qtbot.keyClick(window, Qt.Key.Key_E,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dlg = window.batch_dialog
    assert dlg is not None and dlg.isVisible() and len(dlg.songs()) == 1
    dlg.add_songs(three[1:])
    assert len(dlg.songs()) == 3
    assert dlg.model_combo.currentText().startswith("A: hybrid")
    dlg.folder.setText(str(tmp_path / "out"))
    progress = []
    dlg.progress.valueChanged.connect(progress.append)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.job is None, timeout=120000)
    assert dlg.message.text().startswith("Done: 3 song(s), 12 file(s)")
    for k in (1, 2, 3):
        folder = tmp_path / "out" / f"Song {k}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            f"Song {k} - {s} (hybrid).wav" for s in STEMS)
        audio, _sr = sf.read(folder / f"Song {k} - vocals (hybrid).wav")
        lv = tone_levels(audio[SR // 2: 5 * SR // 2])
        assert np.all(np.abs(lv["vocals"] - TONE_LEVEL) < 0.002)
        assert np.all(lv["drums"] < 1e-3)
    assert progress == sorted(progress) and progress[-1] == 1000
    assert len({round(p / 333.4) for p in progress}) >= 3  # one bar across the three songs


def test_cancel_removes_what_the_batch_wrote_and_nothing_else(qtbot, window, three, tmp_path,
                                                              monkeypatch):
    import engine.export

    out = tmp_path / "out"
    earlier = out / "Song 1" / "my notes.txt"  # the user's file in a folder the batch uses
    earlier.parent.mkdir(parents=True)
    earlier.write_text("keep me")
    window.open_path(three[0])
    dlg = window.open_batch_export()
    dlg.add_songs(three[1:])
    dlg.folder.setText(str(out))
    at_second = threading.Event()
    real = engine.export.export_file
    calls = []

    def held(song, *args, progress=None, cancel=None, **kw):
        calls.append(song)

        def report(f):  # the second song stops at its first progress until cancelled
            if len(calls) == 2 and f > 0:
                at_second.set()
                cancel.wait(20)
            progress(f)

        return real(song, *args, progress=report, cancel=cancel, **kw)

    monkeypatch.setattr(engine.export, "export_file", held)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(at_second.is_set, timeout=60000)
    assert len(list((out / "Song 1").glob("*.wav"))) == 4  # the first song was complete
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.job is None, timeout=60000)
    assert "cancelled" in dlg.message.text()
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == ["Song 1", "Song 1/my notes.txt"]  # no audio, no temp file, no new folder
    assert earlier.read_text() == "keep me"
    assert len(calls) == 2 and dlg.start_button.isEnabled()
