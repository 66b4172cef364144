"""Training configs: the YAML schema of ``python -m training train`` and the dataset it names.

Owns ``TrainConfig`` (frozen; ``train:`` ``OptimConfig``, ``valid:`` ``ValidConfig``, ``loss:``
``LossConfig``), ``load_config`` / ``config_from_dict`` (``ConfigError`` with a one-line reason
on any problem), ``config_to_dict`` (plain YAML types: what a checkpoint and ``run_dir/
config.yaml`` hold), and ``build_dataset``: the ``data.target`` class built from ``data.kwargs``
or ``data.config_target`` + ``data.config``. Runs in the training process's main thread.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from training import spec
from training.losses import LossConfig


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
    ema: float = 0.0  # 0: off; else the per-step decay of an average of the weights that is
    #                   what validation scores and best.pt holds (e.g. 0.995: ~200 steps)
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
