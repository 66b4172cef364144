"""``python -m training train --config training/configs/NAME.yaml [--resume]``.

Owns the training loop: AdamW with warm-up + cosine schedule, gradient clipping, mixed
precision on CUDA, DistributedDataParallel under ``torchrun`` (NCCL on GPUs, gloo on CPU),
resumable checkpoints, a progress bar, CSV logs (and TensorBoard when installed and enabled), a
validation SDR each epoch on real songs, and best-checkpoint keeping (chosen by validation SDR,
not by training loss). The YAML config and the dataset it names: ``training/trainconfig.py``;
batches and validation: ``training/validation.py``; checkpoint files:
``training/checkpoint.py``.

Runs in the main thread of each training process (one per device under ``torchrun``).

Files in ``run_dir``: ``last.pt`` (everything resuming needs: weights, optimiser, schedule,
step, epoch, best score), ``best.pt`` (weights + config + score only: what export needs),
``train.csv``, ``valid.csv``, ``config.yaml`` (the config the run used).
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from engine.errors import StemplayError
from training.checkpoint import load_model_from_checkpoint, model_kwargs, save_checkpoint
from training.losses import DISTILL_ON, SeparationLoss, distill_loss
from training.models import build_model, init_weights
from training.models.common import spatial_wiener
from training.trainconfig import (
    ConfigError,
    TrainConfig,
    build_dataset,
    config_to_dict,
    excerpt_samples,
    load_config,
)
from training.validation import load_valid_excerpts, to_batch, validate

#: Also imported from here by scripts (benchmarks/): the config reader and the batch maker.
__all__ = ["cpu_has_fast_bf16", "excerpt_samples", "load_config", "main", "to_batch", "train"]

log = logging.getLogger(__name__)


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU multiplies bf16 in hardware (``amx_bf16`` or ``avx512_bf16``): only
    then is CPU autocast to bfloat16 faster than float32 (measured: benchmarks/train_speed.py)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class Logger:
    """CSV logs (and TensorBoard when enabled and installed); rank 0 only."""

    def __init__(self, run_dir: Path, tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:
                log.warning("tensorboard is not installed: CSV logs only")

    def write(self, name: str, row: dict[str, Any]) -> None:
        path = self.run_dir / f"{name}.csv"
        new = not path.exists()
        with path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k not in ("step", "epoch", "time") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{name}/{k}", v, step)
            self.tb.flush()


def _dist_setup() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    return rank, world, device


@dataclass
class Progress:
    """Where a run stands; saved in ``last.pt`` and restored by ``--resume``."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float = -math.inf
    elapsed: float = 0.0  # seconds trained before this process started


def make_loader(
    dataset: torch.utils.data.Dataset, cfg: TrainConfig, world: int, rank: int
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.distributed.DistributedSampler | None]:
    """The run's DataLoader over ``dataset`` (a ``DistributedSampler`` under ``torchrun``, else
    shuffled) and its sampler (None without DDP)."""
    opt = cfg.train
    sampler = (
        torch.utils.data.distributed.DistributedSampler(dataset, world, rank, seed=opt.seed)
        if world > 1
        else None
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=opt.batch_size, shuffle=sampler is None, sampler=sampler,
        num_workers=opt.workers, drop_last=True,
    )
    return loader, sampler


class WeightAverage:
    """An exponential moving average of a model's weights (and BatchNorm statistics), updated
    after every optimiser step: a small-batch run's weights wander from step to step, their
    average does not, so validation compares states rather than noise. ``decay`` per step,
    ramped as ``min(decay, (1 + n) / (10 + n))`` over its first updates."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        own = self.model.state_dict()
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                own[name].lerp_(value, 1.0 - d)
            else:
                own[name].copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up + cosine over ``total_steps`` (``lr_factor``)."""
    opt = cfg.train
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, opt.warmup_steps, total_steps, opt.min_lr_ratio)
    )


def resume_from(
    source: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR, cfg: TrainConfig, total_steps: int,
    restart_schedule: bool, device: torch.device, average: WeightAverage | None = None,
) -> tuple[torch.optim.lr_scheduler.LambdaLR, Progress]:
    """Weights and optimiser from ``source`` (a ``last.pt``); then either the saved schedule
    and progress, or (``restart_schedule``) this config's rate and schedule from step 0.
    ``average``: restored from the checkpoint's, or started at the resumed weights."""
    if not source.exists():
        raise ConfigError(f"--resume: no checkpoint {source}")
    ckpt = torch.load(source, map_location=device, weights_only=False)
    if "optimizer" not in ckpt:
        raise ConfigError(f"--resume: {source} holds weights only (use a last.pt)")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if average is not None:
        if "average" in ckpt:
            average.load_state_dict(ckpt["average"])
        else:
            average.model.load_state_dict(ckpt["model"])
    if restart_schedule:  # a new piece: this config's rate and schedule from step 0
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] = cfg.train.lr
        return make_scheduler(optimizer, cfg, total_steps), Progress()
    scheduler.load_state_dict(ckpt["scheduler"])
    return scheduler, Progress(
        int(ckpt["step"]), int(ckpt["epoch"]), int(ckpt["batch_in_epoch"]),
        float(ckpt["best"]), float(ckpt.get("elapsed_s", 0.0)),
    )


def amp_settings(use_amp: bool, device: torch.device, rank: int) -> tuple[bool, torch.dtype]:
    """``(autocast on, its dtype)``: on CUDA when asked; on the CPU only with fast bf16."""
    use_amp = use_amp and (device.type == "cuda" or cpu_has_fast_bf16())
    if device.type == "cpu":
        if rank == 0:
            log.info("CPU training in %s", "bfloat16 autocast (AMX / AVX-512 BF16)" if use_amp
                     else "float32 (no AMX / AVX-512 BF16: bf16 was slower, see models/*.md)")
        return use_amp, torch.bfloat16
    return use_amp, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class Optimiser:
    """One optimisation step of a process: batch -> model -> loss -> clipped AdamW step and the
    schedule's next rate (autocast and gradient scaling as ``amp_settings`` chose)."""

    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    criterion: SeparationLoss
    cfg: TrainConfig
    device: torch.device
    use_amp: bool
    amp_dtype: torch.dtype
    teacher: nn.Module | None = None  # loss.distill: a trained model the output learns from

    def __post_init__(self) -> None:
        fp16 = self.use_amp and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    def step(self, batch: list[torch.Tensor]) -> dict[str, Any]:
        """Train on ``batch`` (``mix, stems[, known]``); returns the row for ``train.csv``
        (``lr`` is the rate this step used)."""
        mix, stems = batch[0], batch[1]
        known = batch[2].to(self.device) if len(batch) > 2 else None  # (batch, stems) bool
        x, ref_spec, ref_wave = to_batch(mix.to(self.device), stems.to(self.device),
                                         self.cfg.frames, self.cfg.bins)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            est = self.net(x)
        loss, parts = self.criterion(est.float(), ref_spec, ref_wave, known)
        if self.teacher is not None:
            # the teacher under the same autocast (bf16 on a CPU with it: ~30 % faster, the
            # targets within 0.15 % of float32's, relative L1 on hybrid v2 + unet v2)
            with torch.no_grad(), torch.autocast(self.device.type, dtype=self.amp_dtype,
                                                 enabled=self.use_amp):
                target = self.teacher(x).float()
            d = distill_loss(est.float(), target, self.cfg.loss.distill_on)
            parts["distill"] = float(d.detach())
            loss = loss + self.cfg.loss.distill * d
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses
        self.scaler.unscale_(self.optimizer)
        grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(),
                                                   self.cfg.train.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {"lr": lr, "loss": float(loss.detach()), **parts, "grad_norm": grad_norm}


class MeanTeacher(nn.Module):
    """The mean of several frozen models' outputs ``(batch, stems, 4, bins, frames)``: the
    stems an ensemble of them makes (``training.ensemble`` with equal weights). ``wiener``: the
    power of a spatial Wiener post-filter applied to that mean (``loss.teacher_wiener``)."""

    def __init__(self, members: list[nn.Module], wiener: float | None = None) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.wiener = wiener

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.members[0](x).float()
        for m in self.members[1:]:
            out = out + m(x).float()
        out = out / len(self.members)
        return out if self.wiener is None else spatial_wiener(x, out, self.wiener)


def _teacher_member(path: str, bins: int) -> nn.Module:
    """One teacher checkpoint's model, with its weight average when it has one (what its
    export holds); ``ConfigError`` when it cannot be loaded or does not fit."""
    try:
        model, ckpt = load_model_from_checkpoint(path, average=None)
    except (ConfigError, OSError, KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ConfigError(f"loss.teacher: {err}".splitlines()[0]) from None
    own = int(ckpt.get("config", {}).get("model", {}).get("bins", 1024))
    if own != bins:
        raise ConfigError(f"loss.teacher {path}: {own} bins, the model has {bins}")
    return model


def load_teacher(cfg: TrainConfig, device: torch.device) -> nn.Module | None:
    """The frozen teacher of ``loss.distill`` (None without one): one checkpoint's model, or
    the mean of several; ``ConfigError`` when one cannot be loaded or does not fit."""
    if not cfg.loss.distill:
        return None
    if cfg.loss.distill_on not in DISTILL_ON:
        raise ConfigError(f"loss.distill_on must be {' or '.join(DISTILL_ON)}, "
                          f"got {cfg.loss.distill_on!r}")
    paths = [cfg.loss.teacher] if isinstance(cfg.loss.teacher, str) else list(cfg.loss.teacher)
    paths = [p for p in paths if p]
    if not paths:
        raise ConfigError("loss.distill needs loss.teacher (a training checkpoint, or a list)")
    members = [_teacher_member(p, cfg.bins) for p in paths]
    wiener = cfg.loss.teacher_wiener
    if len(members) == 1 and wiener is None:
        teacher = members[0]
    else:
        teacher = MeanTeacher(members, None if wiener is None else float(wiener))
    teacher = teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def progress_bar(cfg: TrainConfig, at: Progress, steps_per_epoch: int) -> Any:
    """The epoch's tqdm bar on stderr (rank 0)."""
    from tqdm import tqdm

    return tqdm(total=steps_per_epoch, initial=at.batch_in_epoch,
                desc=f"{cfg.name} epoch {at.epoch}", mininterval=10.0, file=sys.stderr,
                dynamic_ncols=True)


def train(cfg: TrainConfig, resume: bool | str | Path = False,
          restart_schedule: bool = False, init_from: str | Path | None = None) -> dict[str, Any]:
    """Run (or resume) training. ``restart_schedule``: keep the resumed weights and optimiser
    moments but start a new piece (step 0, this config's warm-up + cosine, a fresh best).
    ``resume``: True = from ``run_dir/last.pt``, a path = from that
    checkpoint (e.g. a committed ``models/checkpoints/NAME.pt``). ``init_from``: a new run
    starting from another model's weights (``training.models.init_weights``). Returns a summary: steps,
    epochs, best validation score."""
    rank, world, device = _dist_setup()
    opt_cfg = cfg.train
    torch.set_num_threads(max(1, opt_cfg.threads))
    torch.manual_seed(opt_cfg.seed + rank)
    run_dir = Path(cfg.run_dir)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    cfg_dict = config_to_dict(cfg)

    try:
        model = build_model(**model_kwargs(cfg_dict))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: {err}") from None
    if init_from is not None:
        if resume:
            raise ConfigError("--init-from starts a new run; it cannot be combined with --resume")
        try:
            copied = init_weights(model, init_from)
        except (OSError, ValueError, RuntimeError) as err:
            raise ConfigError(f"--init-from: {err}") from None
        if rank == 0:
            log.info("started from %s (%d tensors)", init_from, copied)
    model = model.to(device)
    average = WeightAverage(model, opt_cfg.ema) if opt_cfg.ema else None
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay
    )
    dataset = build_dataset(cfg, opt_cfg.seed + 1000 * rank)
    loader, sampler = make_loader(dataset, cfg, world, rank)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ConfigError("dataset smaller than one batch per process")
    total_steps = opt_cfg.epochs * steps_per_epoch  # the schedule; max_steps only stops early
    scheduler = make_scheduler(optimizer, cfg, total_steps)
    at = Progress()
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume:
        source = last_path if resume is True else Path(resume)
        scheduler, at = resume_from(source, model, optimizer, scheduler, cfg, total_steps,
                                    restart_schedule, device, average)
        if rank == 0:
            log.info("resumed %s at step %d (epoch %d)", source, at.step, at.epoch)
    if rank == 0 and opt_cfg.max_minutes:
        # train.max_minutes counts the whole run, every piece (session 11 lost half an hour
        # to a piece that stopped early because the earlier piece's minutes counted)
        done = at.elapsed / 60
        left = opt_cfg.max_minutes - done
        if left > 0:
            log.info("train.max_minutes %g counts the whole run: %.0f min done, this piece "
                     "stops after %.0f more", opt_cfg.max_minutes, done, left)
        else:
            log.warning("train.max_minutes %g counts the whole run: %.0f min done, this piece "
                        "stops after one step: raise train.max_minutes to go on",
                        opt_cfg.max_minutes, done)

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    opt = Optimiser(net, model, optimizer, scheduler, SeparationLoss(cfg.loss), cfg, device,
                    *amp_settings(opt_cfg.amp, device, rank), load_teacher(cfg, device))
    logger = Logger(run_dir, opt_cfg.tensorboard) if rank == 0 else None
    excerpts = load_valid_excerpts(cfg) if rank == 0 else []
    if rank == 0 and not excerpts:
        log.warning("no validation tracks found: best.pt follows the training loss instead")

    started = time.monotonic()

    def clock() -> float:
        return round(at.elapsed + time.monotonic() - started, 2)

    scored = average.model if average is not None else model  # what validation and best.pt see

    def last_checkpoint() -> dict[str, Any]:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": opt.scheduler.state_dict(), "step": at.step, "epoch": at.epoch,
                 "batch_in_epoch": at.batch_in_epoch, "best": at.best,
                 "elapsed_s": at.elapsed + time.monotonic() - started, "config": cfg_dict}
        if average is not None:
            state["average"] = average.state_dict()
        return state

    def best_checkpoint(scores: dict[str, float], score: float) -> dict[str, Any]:
        return {"model": scored.state_dict(), "config": cfg_dict, "step": at.step,
                "epoch": at.epoch, "valid": scores, "score": score,
                "averaged": average is not None}

    last_ckpt = started
    stop = False
    model.train()
    while at.epoch < opt_cfg.epochs and not stop:
        if cfg.data.get("refresh") and at.epoch > 0 and at.batch_in_epoch == 0:
            # rebuild the dataset so songs generated while training are drawn from too
            dataset = build_dataset(cfg, opt_cfg.seed + 1000 * rank)
            loader, sampler = make_loader(dataset, cfg, world, rank)
        if sampler is not None:
            sampler.set_epoch(at.epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(at.epoch)  # fresh excerpts each epoch (workers are not persistent)
        remaining = steps_per_epoch - at.batch_in_epoch
        bar = progress_bar(cfg, at, steps_per_epoch) if rank == 0 else None
        running: list[float] = []
        for i, batch in enumerate(loader):
            if i >= remaining:
                break
            row = opt.step(batch)
            if average is not None:
                average.update(model)
            at.step += 1
            at.batch_in_epoch += 1
            running.append(row["loss"])
            if rank == 0:
                assert bar is not None and logger is not None
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(running[-20:]):.4f}", refresh=False)
                logger.write("train", {"time": clock(), "epoch": at.epoch, "step": at.step,
                                       **row})
            now = time.monotonic()
            if opt_cfg.max_steps and at.step >= opt_cfg.max_steps:
                stop = True
            if opt_cfg.max_minutes and at.elapsed + now - started >= 60 * opt_cfg.max_minutes:
                stop = True
            if rank == 0 and (stop or now - last_ckpt >= 60 * opt_cfg.checkpoint_minutes):
                save_checkpoint(last_path, last_checkpoint())
                last_ckpt = now
            if stop:
                break
        if bar is not None:
            bar.close()
        if at.batch_in_epoch >= steps_per_epoch:
            at.epoch += 1
            at.batch_in_epoch = 0
            if rank == 0:
                assert logger is not None
                scores, score = epoch_score(scored, excerpts, cfg, running)
                row = {"time": clock(), "epoch": at.epoch, "step": at.step,
                       **{f"sdr_{k}": round(v, 3) for k, v in scores.items()},
                       "train_loss": float(np.mean(running)) if running else float("nan")}
                logger.write("valid", row)
                log.info("epoch %d step %d valid %s", at.epoch, at.step, row)
                if score > at.best:
                    at.best = score
                    save_checkpoint(best_path, best_checkpoint(scores, score))
                save_checkpoint(last_path, last_checkpoint())
                last_ckpt = time.monotonic()
        if world > 1:
            flag = torch.tensor([int(stop)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stop = bool(flag.item())
    if rank == 0 and not best_path.exists():
        # no epoch finished (e.g. a short max_steps run): best.pt = the current weights
        save_checkpoint(best_path, best_checkpoint({}, at.best))
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return {"step": at.step, "epoch": at.epoch, "best": at.best, "rank": rank, "world": world}


def epoch_score(
    model: nn.Module, excerpts: list, cfg: TrainConfig, running: list[float]
) -> tuple[dict[str, float], float]:
    """``(validation SDR per stem and "mean", the score best.pt is kept by)``: the mean SDR,
    or minus the epoch's mean training loss when there are no validation songs."""
    if excerpts:
        scores = validate(model, excerpts, cfg.stems)
        return scores, scores.get("mean", -math.inf)
    return {}, -float(np.mean(running)) if running else -math.inf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training train", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument("--restart-schedule", action="store_true",
                        help="with --resume: keep weights and optimiser, start a new piece "
                             "(step 0, this config's learning rate, warm-up and cosine)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                        help="continue from run_dir/last.pt, or from the checkpoint CKPT")
    parser.add_argument("--init-from", default=None, metavar="CKPT",
                        help="a new run starting from another model's trained weights "
                             "(a unet checkpoint for hybrid_unet)")
    parser.add_argument("--run-dir", default=None, help="override the config's run_dir")
    parser.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, {"run_dir": args.run_dir} if args.run_dir else None)
        if args.max_steps is not None:
            cfg = dataclasses.replace(
                cfg, train=dataclasses.replace(cfg.train, max_steps=args.max_steps)
            )
        summary = train(cfg, resume=args.resume, restart_schedule=args.restart_schedule,
                        init_from=args.init_from)
    except StemplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if summary["rank"] == 0:
        print(f"trained {cfg.name}: step {summary['step']}, epoch {summary['epoch']}, "
              f"best validation score {summary['best']:.3f} ({summary['world']} processes)")
    return 0
