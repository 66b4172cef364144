"""Regenerate the screenshots of docs/GUI.md (run under Xvfb, see docs/GUI.md).

Uses the demo song (assets/demo, else a short synthetic song with its true stems) and the
shipped models (two tiny band-split test models when models/ has none), drives the real window with the real engine (device-less "null" output) and saves
``QWidget.grab()`` images here. GUI thread of its own process.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SR = 44100


def groove(folder: Path, seconds: float = 24.0) -> Path:
    """Drums, bass, chords and a sung-like melody (MUSDB layout, with true stems)."""
    rng = np.random.default_rng(3)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    beat = 0.5  # 120 bpm
    stems = {k: np.zeros(n) for k in ("vocals", "drums", "bass", "other")}
    for i in range(int(seconds / beat)):
        s = int(i * beat * SR)
        e = min(n, s + int(0.25 * SR))
        env = np.exp(-np.arange(e - s) / (0.04 * SR))
        kick = np.sin(2 * np.pi * 55 * np.arange(e - s) / SR * (1 + env))
        stems["drums"][s:e] += 0.6 * kick * env if i % 2 == 0 else 0.35 * rng.standard_normal(
            e - s) * env
        h = s + int(0.25 * SR)
        if h < n:
            he = min(n, h + 2000)
            stems["drums"][h:he] += 0.12 * rng.standard_normal(he - h) * np.exp(
                -np.arange(he - h) / 400)
    roots = [55.0, 55.0, 43.65, 49.0]  # A, A, F, G
    for bar in range(int(seconds / 2)):
        s, e = int(bar * 2 * SR), min(n, int((bar + 1) * 2 * SR))
        f = roots[bar % 4]
        tt = t[s:e] - t[s]
        stems["bass"][s:e] += 0.35 * np.sin(2 * np.pi * f * tt) * (0.6 + 0.4 * np.cos(
            2 * np.pi * 2 * tt) ** 2)
        for mult in (4, 5, 6):
            stems["other"][s:e] += 0.06 * np.sin(2 * np.pi * f * mult * tt) * np.exp(-tt / 1.2)
    melody = [440, 494, 523, 587, 523, 494, 440, 392]
    for k in range(int(seconds / 1.0)):
        if (k // 4) % 3 == 2:
            continue  # the singer breathes
        s, e = int(k * SR), min(n, int((k + 0.9) * SR))
        tt = t[s:e] - t[s]
        f = melody[k % len(melody)] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * tt))
        phase = 2 * np.pi * np.cumsum(f) / SR
        env = np.minimum(1, tt / 0.05) * np.minimum(1, (0.9 - tt) / 0.1)
        stems["vocals"][s:e] += 0.25 * env * (np.sin(phase) + 0.4 * np.sin(2 * phase)
                                              + 0.2 * np.sin(3 * phase))
    folder.mkdir(parents=True, exist_ok=True)
    mix = np.zeros((n, 2))
    for name, y in stems.items():
        st = np.stack([y, np.roll(y, 11)], axis=1).astype(np.float32)
        sf.write(folder / f"{name}.wav", st, SR, subtype="FLOAT")
        mix += st
    sf.write(folder / "mixture.wav", mix.astype(np.float32), SR, subtype="FLOAT")
    return folder / "mixture.wav"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="stemplay-shots-"))
    from engine.config import MODELS_DIR

    shipped = [MODELS_DIR / "hybrid.onnx", MODELS_DIR / "unet.onnx"]
    if all(p.is_file() for p in shipped):
        model_a, model_b = "hybrid", "unet"  # the shipped models, as a user sees them
    else:  # a checkout without trained models: two tiny band-split test models
        models = tmp / "models"
        os.environ["STEMPLAY_MODELS"] = str(models)
        from tests import tinymodels

        tinymodels.band_split_model(models / "bandsplit.onnx", name="bandsplit")
        tinymodels.band_split_model(models / "bandsplit-wide.onnx", name="bandsplit-wide",
                                    edges=[0, 100, 300, 600, 1024])
        model_a, model_b = "bandsplit", "bandsplit-wide"
    from engine.config import DEMO_SONG

    song = DEMO_SONG if DEMO_SONG.is_file() else groove(tmp / "Demo Groove")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from engine.player import Engine, EngineConfig

    def factory(s):
        return Engine(EngineConfig(device="null", model=None, ahead_s=6.0))

    app = QApplication([])
    settings = AppSettings(tmp / "settings.ini")
    theme.apply_theme(app, "dark")
    w = MainWindow(settings, factory)
    w.resize(1100, 680)
    w.show()
    w.load_initial_models()
    w.choose_model("A", model_a)
    w.choose_model("B", model_b)
    w.open_path(song)
    w.controller.seek(6.0)
    c = w.controller
    steps = []

    def at(ms, fn):
        steps.append((ms, fn))

    def shot(widget, name):
        widget.grab().save(str(HERE / name))

    def two_bar_loop():
        w.loops.loop_bars(2)  # Ctrl+2: two bars from the playhead's bar, on the beat grid

    def batch():
        dlg = w.open_batch_export()
        dlg.add_songs([groove(tmp / "Demo Groove")])

    at(7000, c.play)  # separation got ahead meanwhile (a busy machine: it may fall behind)
    at(15000, lambda: shot(w, "main-playing.png"))
    at(15100, lambda: (c.set_mute("drums", True), c.set_gain("bass", -4.5), two_bar_loop()))
    at(17500, lambda: shot(w, "main-drums-muted.png"))
    at(17600, lambda: w.open_export().mix_check.setChecked(True))
    at(18200, lambda: shot(w.export_dialog, "export-dialog.png"))
    at(18300, lambda: (w.export_dialog.close(), batch()))
    at(19000, lambda: shot(w.batch_dialog, "batch-export.png"))
    at(19100, lambda: (w.batch_dialog.close(), w.show_shortcuts()))
    at(19700, lambda: shot(w.shortcuts_dialog, "shortcuts.png"))
    at(19800, lambda: (w.shortcuts_dialog.close(), c.toggle_original(),
                       theme.apply_theme(app, "light")))
    at(22500, lambda: shot(w, "main-light.png"))
    at(22600, w.close)
    for ms, fn in steps:
        QTimer.singleShot(ms, fn)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
