"""``python -m training train``: config handling, validation + best checkpoint, resume, and a
two-process DDP (gloo) smoke run. Tiny models on a toy dataset written by the test; CPU only."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from training import train
from training.checkpoint import load_model_from_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(tmp_path: Path, data: Path, **train_overrides: object) -> Path:
    cfg = {
        "name": "tiny",
        "run_dir": str(tmp_path / "run"),
        "frames": 32,
        "model": {"name": "hybrid", "dim": 32, "heads": 2, "ff": 64, "layers": 1,
                  "unet_base": 4, "unet_depth": 2},
        "data": {
            "target": "training.data.mix.MixDataset",
            "config_target": "training.data.mix.MixConfig",
            "config": {"proportions": {"synthetic": 1.0}, "synthetic_dirs": [str(data)],
                       "cache_dir": None, "samples_per_epoch": 8},
        },
        "valid": {"dirs": [str(data)], "excerpts": 2, "frames": 32},
        "train": {"batch_size": 2, "epochs": 3, "warmup_steps": 2, **train_overrides},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_epochs_log_validation_and_keep_best(tmp_path: Path, toy_dataset: Path) -> None:
    cfg = tiny_config(tmp_path, toy_dataset, epochs=2)
    assert train.main(["--config", str(cfg)]) == 0
    run = tmp_path / "run"
    valid = rows(run / "valid.csv")
    assert [int(r["step"]) for r in valid] == [4, 8]  # 8 excerpts / batch 2 = 4 steps per epoch
    for stem in ("vocals", "drums", "bass", "other", "mean"):
        assert all(float(r[f"sdr_{stem}"]) == float(r[f"sdr_{stem}"]) for r in valid)  # not NaN
    best = torch.load(run / "best.pt", weights_only=False)
    assert best["score"] == max(float(r["sdr_mean"]) for r in valid) or abs(
        best["score"] - max(float(r["sdr_mean"]) for r in valid)) < 1e-3
    assert set(best["valid"]) == {"vocals", "drums", "bass", "other", "mean"}
    model, _ = load_model_from_checkpoint(run / "best.pt")
    assert not model.training


def test_resume_continues_from_the_saved_step(tmp_path: Path, toy_dataset: Path) -> None:
    cfg = tiny_config(tmp_path, toy_dataset)
    assert train.main(["--config", str(cfg), "--max-steps", "3"]) == 0
    first = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert first["step"] == 3 and first["batch_in_epoch"] == 3
    assert train.main(["--config", str(cfg), "--resume", "--max-steps", "6"]) == 0
    log = rows(tmp_path / "run" / "train.csv")
    assert [int(r["step"]) for r in log] == [1, 2, 3, 4, 5, 6]
    lrs = [float(r["lr"]) for r in log]
    # warm-up over 2 steps then cosine decay: the resumed run continues the same schedule
    assert lrs[0] < lrs[1] == pytest.approx(1e-3) and lrs[2] > lrs[3] > lrs[4] > lrs[5]
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert last["step"] == 6 and last["epoch"] == 1 and last["batch_in_epoch"] == 2
    changed = any(not torch.equal(first["model"][k], last["model"][k]) for k in first["model"])
    assert changed


def test_max_minutes_counts_the_whole_run_and_a_resume_says_what_is_left(
        tmp_path: Path, toy_dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``train.max_minutes`` is the run's total over every piece: a resumed piece whose run has
    used it up takes one step and stops, with a warning that says so (not a silent stop)."""
    import logging

    cfg = tiny_config(tmp_path, toy_dataset, max_minutes=0.5)
    assert train.main(["--config", str(cfg), "--max-steps", "2"]) == 0
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    state["elapsed_s"] = 45.0  # the earlier pieces used 0.75 of the run's 0.5 minutes
    torch.save(state, tmp_path / "run" / "last.pt")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=train.log.name):
        assert train.main(["--config", str(cfg), "--resume"]) == 0
    said = [r for r in caplog.records if "counts the whole run" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert "raise train.max_minutes" in said[0].getMessage()
    assert [int(r["step"]) for r in rows(tmp_path / "run" / "train.csv")] == [1, 2, 3]


def test_resume_from_a_copied_checkpoint(tmp_path: Path, toy_dataset: Path) -> None:
    """A committed checkpoint (models/checkpoints/NAME.pt) resumes into a fresh run_dir."""
    cfg = tiny_config(tmp_path, toy_dataset)
    assert train.main(["--config", str(cfg), "--max-steps", "2"]) == 0
    saved = tmp_path / "saved.pt"
    (tmp_path / "run" / "last.pt").rename(saved)
    fresh = tmp_path / "elsewhere"
    assert train.main(["--config", str(cfg), "--run-dir", str(fresh), "--resume", str(saved),
                       "--max-steps", "4"]) == 0
    assert [int(r["step"]) for r in rows(fresh / "train.csv")] == [3, 4]


def test_weight_average_is_what_is_scored_kept_and_resumed(tmp_path: Path,
                                                           toy_dataset: Path) -> None:
    """``train.ema``: best.pt holds the averaged weights, last.pt the raw ones plus the average,
    and a resumed run goes on averaging from where it stopped."""
    cfg = tiny_config(tmp_path, toy_dataset, epochs=2, ema=0.9, lr=3e-3)
    assert train.main(["--config", str(cfg)]) == 0
    run = tmp_path / "run"
    last = torch.load(run / "last.pt", weights_only=False)
    best = torch.load(run / "best.pt", weights_only=False)
    assert last["average"]["updates"] == last["step"] == 8 and best["averaged"]
    avg = last["average"]["model"]
    key = next(k for k, v in avg.items() if v.dtype.is_floating_point and v.numel() > 100)
    assert not torch.equal(avg[key], last["model"][key])  # an average, not a copy
    if best["step"] == last["step"]:
        assert torch.equal(best["model"][key], avg[key])
    load_model_from_checkpoint(run / "best.pt")  # exportable like any best.pt

    cfg = tiny_config(tmp_path, toy_dataset, epochs=3, ema=0.9, lr=3e-3)
    assert train.main(["--config", str(cfg), "--resume"]) == 0
    again = torch.load(run / "last.pt", weights_only=False)
    assert again["step"] == 12 and again["average"]["updates"] == 12


def test_user_errors_are_one_line(tmp_path: Path, toy_dataset: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "run_dir": "y", "model": {}, "data": {},
                                   "learning_rate": 1}))
    assert train.main(["--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "learning_rate" in err and "\n" not in err
    cfg = tiny_config(tmp_path, toy_dataset)
    assert train.main(["--config", str(cfg), "--resume"]) == 1
    assert "no checkpoint" in capsys.readouterr().err


def test_ddp_two_cpu_processes(tmp_path: Path, toy_dataset: Path) -> None:
    """torchrun with two CPU processes (gloo): both train in lock-step, rank 0 logs."""
    cfg = tiny_config(tmp_path, toy_dataset, epochs=1)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "training", "train", "--config", str(cfg)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 processes" in proc.stdout
    log = rows(tmp_path / "run" / "train.csv")
    # 8 excerpts split over 2 processes, batch 2 each: 2 steps per epoch
    assert [int(r["step"]) for r in log] == [1, 2]
    assert len(rows(tmp_path / "run" / "valid.csv")) == 1


def test_cpu_precision_is_bf16_only_where_the_cpu_multiplies_bf16() -> None:
    from training.train import cpu_has_fast_bf16

    assert cpu_has_fast_bf16("flags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n")
    assert cpu_has_fast_bf16("flags\t\t: fpu avx512f avx512_bf16\n")
    assert not cpu_has_fast_bf16("flags\t\t: fpu sse avx2 avx512f\n")  # bf16 is emulated: slow
    assert not cpu_has_fast_bf16("")
