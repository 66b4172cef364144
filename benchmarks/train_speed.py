"""Training step speed on this CPU: float32 against bfloat16 autocast, per model.

``python benchmarks/train_speed.py [--steps 6] [--threads 2]`` prints excerpts per second of a
full training step (STFT, forward, loss, backward, AdamW) with random audio, float32 and
bf16 interleaved (median of the steps after one warm-up), and whether this CPU has AMX /
AVX-512 BF16 (``training.train.cpu_has_fast_bf16``: what picks the precision automatically).
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from training.losses import LossConfig, SeparationLoss
from training.models import build_model
from training.train import cpu_has_fast_bf16, load_config, to_batch


def step_time(model: torch.nn.Module, frames: int, batch: int, bf16: bool) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = SeparationLoss(LossConfig())
    n = (frames - 1) * 1024
    stems = torch.randn(batch, 4, 2, n) * 0.1
    x, ref, wave = to_batch(stems.sum(1), stems, frames, 1024)
    t = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        est = model(x)
    loss, _ = loss_fn(est.float(), ref, wave)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--configs", default="training/configs/hybrid.yaml,training/configs/unet.yaml")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"AMX / AVX-512 BF16 on this CPU: {cpu_has_fast_bf16()}; threads {args.threads}")
    for path in args.configs.split(","):
        cfg = load_config(path)
        model = build_model(**cfg.model)
        batch = cfg.train.batch_size
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(args.steps + 1):
            for bf16 in (False, True):
                dt = step_time(model, cfg.frames, batch, bf16)
                if i:
                    times[bf16].append(dt)
        f32, b16 = statistics.median(times[False]), statistics.median(times[True])
        print(f"{cfg.name}: float32 {batch / f32:.2f} excerpts/s, bf16 {batch / b16:.2f} "
              f"excerpts/s (bf16/fp32 speed {f32 / b16:.2f}x), batch {batch}, {cfg.frames} frames")


if __name__ == "__main__":
    main()
