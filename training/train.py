"""``python -m training train --config training/configs/NAME.yaml [--resume]``.

Owns the training loop: YAML config, dataset construction, AdamW with warm-up + cosine
schedule, gradient clipping, mixed precision on CUDA, DistributedDataParallel under ``torchrun``
(NCCL on GPUs, gloo on CPU), resumable checkpoints, a progress bar, CSV logs (and TensorBoard
when installed and enabled), a validation SDR each epoch on real songs, and best-checkpoint
keeping (chosen by validation SDR, not by training loss).

Runs in the main thread of each training process (one per device under ``torchrun``).

Files in ``run_dir``: ``last.pt`` (everything resuming needs: weights, optimiser, schedule,
step, epoch, best score), ``best.pt`` (weights + config + score only: what export needs),
``train.csv``, ``valid.csv``, ``config.yaml`` (the config the run used).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from training import spec
from training.losses import LossConfig, SeparationLoss, sdr
from training.models import build_model

log = logging.getLogger(__name__)


class ConfigError(StemplayError):
    """A training config is missing, unreadable or has a bad value."""


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation settings (YAML ``train:``)."""

    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    epochs: int = 10
    grad_clip: float = 5.0
    max_steps: int = 0  # 0: no limit
    max_minutes: float = 0.0  # 0: no limit; stop (with a checkpoint) after this long
    checkpoint_minutes: float = 5.0
    workers: int = 0
    threads: int = 1  # torch intra-op threads per process
    seed: int = 0
    amp: bool = True  # CUDA; on the CPU only where bf16 matmuls are fast (cpu_has_fast_bf16)
    tensorboard: bool = False


@dataclass(frozen=True)
class ValidConfig:
    """Validation excerpts (YAML ``valid:``): ``dirs`` are MUSDB-style folders, or ``real``
    for the fixed real validation split of ``training.data.splits``."""

    dirs: tuple[str, ...] = ("real",)
    excerpts: int = 4  # per track, evenly spaced
    frames: int = 192


@dataclass(frozen=True)
class TrainConfig:
    """A whole training config (one YAML file)."""

    name: str
    run_dir: str
    model: dict[str, Any]
    data: dict[str, Any]
    frames: int = 64  # STFT frames per training excerpt
    stems: tuple[str, ...] = DEFAULT_STEMS
    train: OptimConfig = field(default_factory=OptimConfig)
    valid: ValidConfig = field(default_factory=ValidConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    description: str = ""

    @property
    def bins(self) -> int:
        return int(self.model.get("bins", 1024))


def _sub(cls: type, value: Any, what: str) -> Any:
    value = dict(value or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(value) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in {what}: {', '.join(sorted(unknown))}")
    for f in dataclasses.fields(cls):
        if f.name in value and isinstance(value[f.name], list):
            value[f.name] = tuple(value[f.name])
    return cls(**value)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML training config; ``ConfigError`` with a one-line reason on any problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} is not a mapping")
    return config_from_dict(raw | (overrides or {}), str(path))


def config_from_dict(raw: dict[str, Any], what: str = "config") -> TrainConfig:
    raw = dict(raw)
    for key in ("name", "run_dir", "model", "data"):
        if key not in raw:
            raise ConfigError(f"{what}: missing key {key!r}")
    try:
        cfg = TrainConfig(
            name=str(raw.pop("name")),
            run_dir=str(raw.pop("run_dir")),
            model=dict(raw.pop("model")),
            data=dict(raw.pop("data")),
            frames=int(raw.pop("frames", 64)),
            stems=tuple(raw.pop("stems", DEFAULT_STEMS)),
            train=_sub(OptimConfig, raw.pop("train", None), f"{what}: train"),
            valid=_sub(ValidConfig, raw.pop("valid", None), f"{what}: valid"),
            loss=_sub(LossConfig, raw.pop("loss", None), f"{what}: loss"),
            description=str(raw.pop("description", "")),
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what}: {err}") from None
    if raw:
        raise ConfigError(f"{what}: unknown key(s) {', '.join(sorted(raw))}")
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    return yaml.safe_load(yaml.safe_dump(_plain(out)))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# ----------------------------------------------------------------------------- data


#: Dotted names of earlier versions (in old run configs) -> where that class lives now.
RENAMED_TARGETS = {
    "training.data.musdb.MusdbDataset": "training.data.synthetic.SyntheticDataset",
}


def _import(target: str) -> Any:
    target = RENAMED_TARGETS.get(target, target)
    module, _, attr = target.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"data.target {target!r} cannot be imported: {err}") from None


def build_dataset(cfg: TrainConfig, seed: int) -> torch.utils.data.Dataset:
    """The training dataset named by ``data.target`` (``module.Class``).

    Two ways to configure it: ``data.kwargs`` (keyword arguments; an ``augment`` mapping becomes
    the module's ``AugmentConfig`` when it has one), or ``data.config`` + ``data.config_target``
    (a config class with ``from_dict``, e.g. ``training.data.mix.MixConfig``, passed as the one
    argument). ``seconds`` and ``seed`` are filled in when absent. Items must be ``(mix (2,
    samples), stems (stems, 2, samples))`` float32 tensors of at least ``(frames - 1) * HOP``
    samples, optionally followed by ``known`` ``(stems,)`` bool (partial labels: which stems
    are exact; the loss scores the others only through their sum).
    """
    target = cfg.data.get("target")
    if not target:
        raise ConfigError("data.target missing (e.g. training.data.mix.MixDataset)")
    cls = _import(str(target))
    seconds = excerpt_samples(cfg.frames) / SAMPLE_RATE + 0.01
    try:
        if "config" in cfg.data:
            config_cls = _import(str(cfg.data.get("config_target", "")))
            conf = dict(cfg.data["config"] or {})
            conf.setdefault("seconds", seconds)
            conf["seed"] = int(conf.get("seed", 0)) + seed
            return cls(config_cls.from_dict(conf))
        kwargs = dict(cfg.data.get("kwargs") or {})
        kwargs.setdefault("seconds", seconds)
        kwargs.setdefault("seed", seed)
        if isinstance(kwargs.get("augment"), dict):
            module = importlib.import_module(cls.__module__)
            if hasattr(module, "AugmentConfig"):
                kwargs["augment"] = module.AugmentConfig(**kwargs["augment"])
        return cls(**kwargs)
    except (TypeError, ValueError, OSError, StemplayError) as err:
        raise ConfigError(f"cannot build dataset {target}: {err}") from None


def excerpt_samples(frames: int) -> int:
    """Samples of a training excerpt whose centred STFT has exactly ``frames`` frames."""
    return spec.samples_for(frames)


def to_batch(
    mix: torch.Tensor, stems: torch.Tensor, frames: int, bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Waveforms -> model input and targets.

    mix ``(batch, 2, samples)``, stems ``(batch, stems, 2, samples)`` ->
    x ``(batch, 4, bins, frames)``, ref_spec ``(batch, stems, 4, bins, frames)``,
    ref_wave ``(batch, stems, 2, (frames - 1) * HOP)`` (the targets limited to the model band).
    """
    n = excerpt_samples(frames)
    if mix.shape[-1] < n:
        raise ConfigError(f"dataset excerpts hold {mix.shape[-1]} samples, need {n}")
    mix, stems = mix[..., :n].float(), stems[..., :n].float()
    x = spec.to_model(spec.stft(mix), bins)
    ref_spec = spec.to_model(spec.stft(stems), bins)
    ref_wave = spec.istft(spec.from_model(ref_spec), n)
    return x, ref_spec, ref_wave


# ----------------------------------------------------------------------------- validation


def load_valid_excerpts(
    cfg: TrainConfig,
) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, list[bool]]]:
    """Fixed validation excerpts: per track ``(name, x (k, 4, bins, T), ref_spec (k, S, 4, bins,
    T), ref_wave (k, S, 2, samples), present per stem)``."""
    from training.data.multitrack import Multitrack, find_multitracks, load_multitrack

    tracks: list[Multitrack] = []
    for d in cfg.valid.dirs:
        if d == "real":
            from training.data.splits import real_tracks

            tracks += real_tracks("valid")
        else:
            tracks += find_multitracks([d], cfg.stems)
    out = []
    frames = cfg.valid.frames
    n = excerpt_samples(frames)
    for track in tracks:
        song = load_multitrack(track, cfg.stems)
        stems = torch.from_numpy(np.asarray(song.stems, dtype=np.float32))  # (S, 2, samples)
        if stems.shape[-1] < n:
            log.warning("validation track %s shorter than one excerpt, skipped", track.path)
            continue
        starts = np.linspace(0, stems.shape[-1] - n, cfg.valid.excerpts).astype(int)
        chunk = torch.stack([stems[..., s : s + n] for s in starts])  # (k, S, 2, n)
        x, ref_spec, ref_wave = to_batch(chunk.sum(1), chunk, frames, cfg.bins)
        present = [bool(song.has_stem(i)) for i in range(len(cfg.stems))]
        out.append((song.name, x, ref_spec, ref_wave, present))
    return out


@torch.no_grad()
def validate(model: nn.Module, excerpts: list, stems: tuple[str, ...]) -> dict[str, float]:
    """Global SDR (dB) per stem over each track's excerpts, averaged over tracks where the stem
    is present, and their mean (``"mean"``). Band-limited to the model's bins."""
    model.eval()
    per_stem: dict[str, list[float]] = {s: [] for s in stems}
    for _, x, _, ref_wave, present in excerpts:
        est = torch.cat([model(x[i : i + 1]) for i in range(x.shape[0])])
        est_wave = spec.istft(spec.from_model(est), ref_wave.shape[-1])
        # (S, excerpts * 2 * samples): one global SDR per stem over the whole track excerpt set
        e = est_wave.transpose(0, 1).reshape(len(stems), -1)
        r = ref_wave.transpose(0, 1).reshape(len(stems), -1)
        values = sdr(e, r)
        for i, s in enumerate(stems):
            if present[i]:
                per_stem[s].append(float(values[i]))
    model.train()
    scores = {s: float(np.mean(v)) for s, v in per_stem.items() if v}
    if scores:
        scores["mean"] = float(np.mean(list(scores.values())))
    return scores


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic save: write a temporary file, then rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint (``last.pt`` or ``best.pt``) in eval mode.

    Returns ``(model, checkpoint dict)``; ``ConfigError`` when the file is not a checkpoint.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise ConfigError(f"cannot read checkpoint {path}: {err}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ConfigError(f"{path} is not a stemplay training checkpoint")
    cfg = ckpt["config"]
    try:
        model = build_model(**_model_kwargs(cfg))
        model.load_state_dict(ckpt["model"])
    except (TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"checkpoint {path} does not match its model: {first}") from None
    model.eval()
    return model, ckpt


def _model_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(cfg["model"])
    kwargs.setdefault("stems", len(cfg.get("stems", DEFAULT_STEMS)))
    return kwargs


# ----------------------------------------------------------------------------- loop


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


def train(cfg: TrainConfig, resume: bool | str | Path = False,
          restart_schedule: bool = False) -> dict[str, Any]:
    """Run (or resume) training. ``restart_schedule``: keep the resumed weights and optimiser
    moments but start a new piece (step 0, this config's warm-up + cosine, a fresh best).
    ``resume``: True = from ``run_dir/last.pt``, a path = from that
    checkpoint (e.g. a committed ``models/checkpoints/NAME.pt``). Returns a summary: steps,
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

    model = build_model(**_model_kwargs(cfg_dict)).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay
    )
    dataset = build_dataset(cfg, opt_cfg.seed + 1000 * rank)
    sampler = (
        torch.utils.data.distributed.DistributedSampler(dataset, world, rank, seed=opt_cfg.seed)
        if world > 1
        else None
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=opt_cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=opt_cfg.workers,
        drop_last=True,
    )
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ConfigError("dataset smaller than one batch per process")
    total_steps = opt_cfg.epochs * steps_per_epoch  # the schedule; max_steps only stops early
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(s, opt_cfg.warmup_steps, total_steps, opt_cfg.min_lr_ratio),
    )
    step, epoch, batch_in_epoch, best, elapsed = 0, 0, 0, -math.inf, 0.0
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume:
        source = last_path if resume is True else Path(resume)
        if not source.exists():
            raise ConfigError(f"--resume: no checkpoint {source}")
        ckpt = torch.load(source, map_location=device, weights_only=False)
        if "optimizer" not in ckpt:
            raise ConfigError(f"--resume: {source} holds weights only (use a last.pt)")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if restart_schedule:  # a new piece: this config's rate and schedule from step 0
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] = opt_cfg.lr
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer,
                lambda s: lr_factor(s, opt_cfg.warmup_steps, total_steps, opt_cfg.min_lr_ratio),
            )
        else:
            scheduler.load_state_dict(ckpt["scheduler"])
            step, epoch = int(ckpt["step"]), int(ckpt["epoch"])
            batch_in_epoch, best = int(ckpt["batch_in_epoch"]), float(ckpt["best"])
            elapsed = float(ckpt.get("elapsed_s", 0.0))
        if rank == 0:
            log.info("resumed %s at step %d (epoch %d)", source, step, epoch)

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    use_amp = opt_cfg.amp and (device.type == "cuda" or cpu_has_fast_bf16())
    if device.type == "cpu":
        amp_dtype = torch.bfloat16
        if rank == 0:
            log.info("CPU training in %s", "bfloat16 autocast (AMX / AVX-512 BF16)" if use_amp
                     else "float32 (no AMX / AVX-512 BF16: bf16 was slower, see models/*.md)")
    else:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    criterion = SeparationLoss(cfg.loss)
    logger = Logger(run_dir, opt_cfg.tensorboard) if rank == 0 else None
    excerpts = load_valid_excerpts(cfg) if rank == 0 else []
    if rank == 0 and not excerpts:
        log.warning("no validation tracks found: best.pt follows the training loss instead")

    def state() -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "best": best,
            "elapsed_s": elapsed + time.monotonic() - started,
            "config": cfg_dict,
        }

    started = time.monotonic()
    last_ckpt = started
    stop = False
    model.train()
    while epoch < opt_cfg.epochs and not stop:
        if sampler is not None:
            sampler.set_epoch(epoch)
        if cfg.data.get("refresh") and epoch > 0 and batch_in_epoch == 0:
            # rebuild the dataset so songs generated while training are drawn from too
            dataset = build_dataset(cfg, opt_cfg.seed + 1000 * rank)
            if sampler is not None:
                sampler = torch.utils.data.distributed.DistributedSampler(
                    dataset, world, rank, seed=opt_cfg.seed
                )
                sampler.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=opt_cfg.batch_size, shuffle=sampler is None,
                sampler=sampler, num_workers=opt_cfg.workers, drop_last=True,
            )
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)  # fresh excerpts each epoch (workers are not persistent)
        remaining = steps_per_epoch - batch_in_epoch
        bar = None
        if rank == 0:
            from tqdm import tqdm

            bar = tqdm(
                total=steps_per_epoch, initial=batch_in_epoch, desc=f"{cfg.name} epoch {epoch}",
                mininterval=10.0, file=sys.stderr, dynamic_ncols=True,
            )
        running: list[float] = []
        for i, batch in enumerate(loader):
            if i >= remaining:
                break
            mix, stems = batch[0], batch[1]
            known = batch[2].to(device) if len(batch) > 2 else None  # (batch, stems) bool
            x, ref_spec, ref_wave = to_batch(mix.to(device), stems.to(device), cfg.frames, cfg.bins)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                est = net(x)
            loss, parts = criterion(est.float(), ref_spec, ref_wave, known)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            lr = optimizer.param_groups[0]["lr"]  # the rate this step uses
            scaler.unscale_(optimizer)
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), opt_cfg.grad_clip))
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            batch_in_epoch += 1
            running.append(float(loss.detach()))
            if rank == 0:
                assert bar is not None and logger is not None
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(running[-20:]):.4f}", refresh=False)
                logger.write("train", {
                    "time": round(elapsed + time.monotonic() - started, 2), "epoch": epoch,
                    "step": step, "lr": lr, "loss": float(loss.detach()),
                    **parts, "grad_norm": grad_norm,
                })
            now = time.monotonic()
            if opt_cfg.max_steps and step >= opt_cfg.max_steps:
                stop = True
            if opt_cfg.max_minutes and elapsed + now - started >= 60 * opt_cfg.max_minutes:
                stop = True
            if rank == 0 and (stop or now - last_ckpt >= 60 * opt_cfg.checkpoint_minutes):
                save_checkpoint(last_path, state())
                last_ckpt = now
            if stop:
                break
        if bar is not None:
            bar.close()
        if batch_in_epoch >= steps_per_epoch:
            epoch += 1
            batch_in_epoch = 0
            if rank == 0:
                assert logger is not None
                if excerpts:
                    scores = validate(model, excerpts, cfg.stems)
                    score = scores.get("mean", -math.inf)
                else:
                    scores = {}
                    score = -float(np.mean(running)) if running else -math.inf
                row = {"time": round(elapsed + time.monotonic() - started, 2), "epoch": epoch,
                       "step": step, **{f"sdr_{k}": round(v, 3) for k, v in scores.items()},
                       "train_loss": float(np.mean(running)) if running else float("nan")}
                logger.write("valid", row)
                log.info("epoch %d step %d valid %s", epoch, step, row)
                if score > best:
                    best = score
                    save_checkpoint(best_path, {
                        "model": model.state_dict(), "config": cfg_dict, "step": step,
                        "epoch": epoch, "valid": scores, "score": score,
                    })
                save_checkpoint(last_path, state())
                last_ckpt = time.monotonic()
        if world > 1:
            flag = torch.tensor([int(stop)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stop = bool(flag.item())
    if rank == 0 and not best_path.exists():
        # no epoch finished (e.g. a short max_steps run): best.pt = the current weights
        save_checkpoint(best_path, {"model": model.state_dict(), "config": cfg_dict, "step": step,
                                    "epoch": epoch, "valid": {}, "score": best})
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return {"step": step, "epoch": epoch, "best": best, "rank": rank, "world": world}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training train", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument("--restart-schedule", action="store_true",
                        help="with --resume: keep weights and optimiser, start a new piece "
                             "(step 0, this config's learning rate, warm-up and cosine)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="CKPT",
                        help="continue from run_dir/last.pt, or from the checkpoint CKPT")
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
        summary = train(cfg, resume=args.resume, restart_schedule=args.restart_schedule)
    except StemplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if summary["rank"] == 0:
        print(f"trained {cfg.name}: step {summary['step']}, epoch {summary['epoch']}, "
              f"best validation score {summary['best']:.3f} ({summary['world']} processes)")
    return 0
