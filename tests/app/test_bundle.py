"""The PyInstaller bundle (build.spec) builds, leaves torch and training out, and starts.

Slow: a PyInstaller build takes minutes on two cores. Skipped only when PyInstaller is not
installed (it is in the ``dev`` extra).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~2-5 min: PyInstaller analyses PySide6, numpy and onnxruntime
@pytest.mark.timeout(900)
def test_bundle_builds_without_torch_and_starts(tmp_path):
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (pip install -e .[dev])")
    dist, work = tmp_path / "dist", tmp_path / "build"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--distpath",
            str(dist),
            "--workpath",
            str(work),
            str(ROOT / "build.spec"),
        ],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    app_dir = dist / "stemplay"
    exe = app_dir / "stemplay"
    assert exe.is_file()
    files = [p.relative_to(app_dir).as_posix() for p in app_dir.rglob("*")]
    assert not [f for f in files if "/torch/" in f or f.startswith("torch") or "libtorch" in f]
    assert not [f for f in files if "/training/" in f]
    assert not [f for f in files if "Qt6Quick" in f or "Qt6Qml" in f or "WebEngine" in f]
    for folder in ("models", "assets"):
        if (ROOT / folder).is_dir() and any((ROOT / folder).iterdir()):
            assert any(f.startswith(f"_internal/{folder}/") for f in files), folder

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    env.pop("STEMPLAY_MODELS", None)
    gui = subprocess.run(
        [str(exe), "--quit-after", "1.5", "--settings", str(tmp_path / "s.ini")],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gui.returncode == 0, gui.stderr[-3000:]
    assert "Traceback" not in gui.stderr
    models = subprocess.run(
        [str(exe), "models"], env=env, check=False, capture_output=True, text=True, timeout=120
    )
    assert models.returncode == 0, models.stderr[-2000:]
    if not any(ROOT.glob("models/*.onnx")):
        return
    # tempo and pitch need Rubber Band (pylibrb, imported lazily): the bundle must carry it
    import numpy as np
    import soundfile as sf

    song = tmp_path / "tone.wav"
    t = np.arange(44100) / 44100
    sf.write(song, np.stack([0.2 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 44100)
    export = subprocess.run(
        [str(exe), "export", str(song), "-o", str(tmp_path / "out"), "--stems", "vocals",
         "--tempo", "0.8", "--pitch", "1", "-q"],
        env=env, check=False, capture_output=True, text=True, timeout=300,
    )
    assert export.returncode == 0, export.stderr[-2000:]
    (written,) = [Path(line) for line in export.stdout.splitlines()]
    assert sf.info(written).frames == round(44100 / 0.8)
