"""``python -m training gpu-import DIR --run NAME [--run-dir D]``: turn what a GPU run returned
(``NAME.pt`` and, when written, ``NAME.opt.pt`` of ``training.gpu.run``) into the files of a
CPU training run: ``D/best.pt`` (what ``python -m training export`` reads) and ``D/last.pt``
(what ``python -m training train --resume`` continues: weights, AdamW moments restored to
float32, a fresh schedule position so the CPU piece runs its own warm-up + cosine).

Runs on the CPU machine after a GPU run.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from training.checkpoint import model_kwargs, save_checkpoint
from training.models import build_model


def import_run(src: Path, name: str, run_dir: Path, lr: float | None = None) -> dict:
    state = torch.load(src / f"{name}.pt", map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = build_model(**model_kwargs(cfg))
    model.load_state_dict(state["model"])
    run_dir.mkdir(parents=True, exist_ok=True)
    valid = state.get("valid", {})
    save_checkpoint(run_dir / "best.pt", {
        "model": model.state_dict(), "config": cfg, "step": state["step"], "epoch": 0,
        "valid": valid, "score": valid.get("mean", -math.inf), "gpu": state.get("gpu", {}),
    })
    spec = state.get("spec", {})
    # the CPU piece's peak rate: its own (lower) one, or the GPU run's
    opt = torch.optim.AdamW(model.parameters(), lr=float(lr or spec.get("lr", 1e-3)),
                            weight_decay=float(spec.get("weight_decay", 1e-4)))
    moments_path = src / f"{name}.opt.pt"
    if moments_path.exists():
        moments = torch.load(moments_path, map_location="cpu", weights_only=False)
        for p, m1, m2 in zip(model.parameters(), moments["exp_avg"], moments["exp_avg_sq"]):
            opt.state[p] = {"step": torch.tensor(float(moments["adam_step"])),
                            "exp_avg": m1.float(), "exp_avg_sq": m2.float()}
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    save_checkpoint(run_dir / "last.pt", {
        "model": model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "step": 0, "epoch": 0, "batch_in_epoch": 0,
        "best": -math.inf, "elapsed_s": 0.0, "config": cfg, "gpu": state.get("gpu", {}),
        "gpu_steps": state["step"],
    })
    return {"step": state["step"], "valid": valid, "moments": moments_path.exists()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training gpu-import", description=__doc__.split(
        "\n")[0])
    p.add_argument("src", type=Path, help="the folder the GPU run wrote ($OUT)")
    p.add_argument("--run", required=True, help="run name (NAME.pt)")
    p.add_argument("--run-dir", type=Path, default=None, help="default: /work/runs/NAME")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate of the CPU piece that resumes (default: the GPU's)")
    args = p.parse_args(argv)
    if not (args.src / f"{args.run}.pt").exists():
        print(f"error: no {args.run}.pt in {args.src}", file=sys.stderr)
        return 1
    info = import_run(args.src, args.run, args.run_dir or Path("/work/runs") / args.run, args.lr)
    print(f"imported {args.run}: GPU step {info['step']}, validation {info['valid']}, "
          f"optimiser moments {'restored' if info['moments'] else 'absent (weights only)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
