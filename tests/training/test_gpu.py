"""The GPU training path on the CPU: the device-side mixer, and pack -> run -> import -> export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from training.gpu.bank import DEFAULT_PROPORTIONS, Bank, Mixer

SR = 44100
ROOT = Path(__file__).resolve().parents[2]


def _bank(seconds: float = 6.0) -> Bank:
    g = torch.Generator().manual_seed(0)
    n = int(seconds * SR)

    def noise(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.1

    return Bank(
        songs=[noise(4, 2, n) for _ in range(2)],
        synth=[noise(4, 2, n)],
        voices=[noise(n), noise(n // 2)],
        voice_weight=[1.0, 0.25],
        music=[noise(2, n), noise(2, n)],
        music_drums=[True, False],
    )


EXPECTED_KNOWN = {
    "real_multitrack": [True] * 4,
    "synthetic": [True] * 4,
    "vocals_over_multitrack": [True] * 4,
    "vocals_over_music": [True, False, False, False],
    "music_only": [True, False, False, False],
    "drums_over_music": [True, True, False, False],
}


@pytest.mark.parametrize("source", list(DEFAULT_PROPORTIONS))
def test_each_source_gives_finite_stems_with_its_known_mask(source: str) -> None:
    mixer = Mixer(_bank(), seed=1)
    samples = 3 * SR
    stems, known = mixer.item(source, samples)
    assert stems.shape == (4, 2, samples)
    assert torch.isfinite(stems).all()
    assert known.tolist() == EXPECTED_KNOWN[source]
    level = stems.sum(0).pow(2).mean().sqrt()
    assert 10 ** (-27 / 20) < float(level) < 10 ** (-9 / 20)  # mastered-song loudness range
    if source in ("music_only", "drums_over_music"):
        assert float(stems[0].abs().max()) == 0.0  # vocals known to be silent
    if source == "drums_over_music":
        assert float(stems[1].pow(2).mean()) > 0.0


def test_a_batch_mixes_sources_and_its_mixture_is_the_sum() -> None:
    mixer = Mixer(_bank(), seed=2)
    mix, stems, known = mixer.draw(16, 2 * SR)
    assert mix.shape == (16, 2, 2 * SR) and stems.shape == (16, 4, 2, 2 * SR)
    assert torch.equal(mix, stems.sum(1))
    assert known.dtype == torch.bool and known.shape == (16, 4)
    assert known.all(1).any() and (~known).any()  # full and partial labels both drawn


def test_sources_without_material_are_dropped() -> None:
    bank = _bank()
    bank.music_drums = [True, True]  # no drum-free music
    bank.synth = []
    mixer = Mixer(bank, seed=3)
    assert "drums_over_music" not in mixer.sources and "synthetic" not in mixer.sources
    with pytest.raises(ValueError, match="unknown sources"):
        Mixer(bank, {"karaoke": 1.0})


def _write_real_root(root: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("MusicDelta_Rock", "MusicDelta_Punk"):  # Punk is a validation song
        d = root / "multitrack" / name
        d.mkdir(parents=True)
        for stem in ("vocals", "drums", "bass", "other"):
            sf.write(d / f"{stem}.flac", rng.standard_normal((4 * SR, 2)) * 0.05, SR)
    v = root / "vocals" / "singing"
    v.mkdir(parents=True)
    t = np.arange(3 * SR) / SR
    sf.write(v / "a.flac", 0.2 * np.sin(2 * np.pi * 220 * t), SR)
    s = root / "vocals" / "speech"
    s.mkdir(parents=True)
    sf.write(s / "b.flac", 0.1 * rng.standard_normal(2 * SR), SR)


def _write_music_bank(root: Path) -> None:
    rng = np.random.default_rng(1)
    (root / "audio").mkdir(parents=True)
    tracks = []
    for i, drums in enumerate((True, False)):
        arr = (rng.standard_normal((2, 5 * SR)) * 3000).astype(np.int16)
        np.save(root / "audio" / f"{i}.npy", arr)
        tracks.append({"package": "toy-music", "file": f"{i}.ogg", "duration_s": 5.0,
                       "path": f"audio/{i}.npy", "verdict": "keep", "has_drums": drums})
    tracks.append({"package": "toy-music", "file": "sung.ogg", "duration_s": 5.0,
                   "path": "audio/0.npy", "verdict": "drop", "has_drums": True})
    (root / "manifest.json").write_text(json.dumps({"tracks": tracks}))


def _tiny_config(tmp: Path) -> Path:
    cfg = tmp / "tiny.yaml"
    cfg.write_text(
        "name: tiny\nrun_dir: " + str(tmp / "runs") + "\nframes: 32\n"
        "model: {name: unet, bins: 1024, base: 4, depth: 2}\n"
        "data: {target: training.data.mix.MixDataset, config_target: training.data.mix.MixConfig,"
        " config: {}}\n"
        "loss: {spec_l1: 1.0, time_sdr: 0.1}\n"
    )
    specs = tmp / "gpu.yaml"
    specs.write_text(f"runs:\n  - name: tiny\n    config: {cfg}\n    batch: 2\n"
                     "    warmup_steps: 2\n    resumable: true\n    loss: {level: 0.1}\n")
    return specs


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{cmd[2:4]} failed:\n{done.stderr[-3000:]}"


def test_pack_run_import_export_end_to_end(tmp_path: Path) -> None:
    """The GPU command path, on the CPU with toy data: the pack holds Opus files and an index,
    the runner trains and writes its checkpoint + curve, gpu-import makes best/last.pt, and the
    result exports to a model the engine loads."""
    real, music, synth = tmp_path / "real", tmp_path / "music", tmp_path / "synth"
    _write_real_root(real)
    _write_music_bank(music)
    synth.mkdir()
    env = {**__import__("os").environ, "STEMPLAY_REAL_DATA": str(real),
           "STEMPLAY_GPUPACK_DECODED": str(tmp_path / "decoded")}
    pack = tmp_path / "pack"
    py = [sys.executable, "-m", "training"]
    _run(py + ["gpupack", "-o", str(pack), "--no-wheels", "--realmusic", str(music),
               "--synth", str(synth), "--music-minutes", "1"], env)
    index = json.loads((pack / "index.json").read_text())
    assert [s["name"] for s in index["songs"]] == ["MusicDelta_Rock"]
    assert [s["name"] for s in index["valid"]] == ["MusicDelta_Punk"]
    assert sorted(v["weight"] for v in index["voices"]) == [0.25, 1.0]
    assert [m["drums"] for m in index["music"]] in ([True, False], [False, True])  # no "drop"
    assert all(f.suffix == ".opus" for f in pack.rglob("*.opus"))

    out = tmp_path / "out"
    specs = _tiny_config(tmp_path)
    _run([sys.executable, "-m", "training.gpu.run", "--pack", str(pack), "--out", str(out),
          "--specs", str(specs), "--device", "cpu", "--minutes", "0.15", "--jobs", "1",
          "--valid-s", "1000"], env)
    state = torch.load(out / "tiny.pt", weights_only=False)
    assert state["final"] and state["step"] > 0
    assert set(state["valid"]) >= {"vocals", "drums", "bass", "other", "mean"}
    log = json.loads((out / "tiny.json").read_text())
    assert log["train"] and log["train"][0]["excerpts_per_s"] > 0
    assert (out / "tiny.opt.pt").exists()

    runs = tmp_path / "imported"
    _run(py + ["gpu-import", str(out), "--run", "tiny", "--run-dir", str(runs)], env)
    last = torch.load(runs / "last.pt", weights_only=False)
    assert last["gpu_steps"] == state["step"] and last["optimizer"]["state"]
    model_file = tmp_path / "tiny.onnx"
    _run(py + ["export", str(runs / "best.pt"), "-o", str(model_file)], env)
    from engine.model import load_model

    model = load_model(model_file, threads=1, provider="cpu")
    assert model.stems == ("vocals", "drums", "bass", "other")
    y = model.run(np.zeros((1, 4, 1024, 192), dtype=np.float32) + 1e-3)  # exported at 192
    assert y.shape == (1, 4, 4, 1024, 192) and np.isfinite(y).all()
