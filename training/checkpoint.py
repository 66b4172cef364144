"""Training checkpoints: atomic saving, and the model of a checkpoint rebuilt.

A checkpoint is a ``torch.save`` dict: ``model`` (state dict), ``config`` (the plain training
config of ``trainconfig.config_to_dict``), and for ``last.pt`` also ``optimizer``,
``scheduler``, ``step``, ``epoch``, ``batch_in_epoch``, ``best``, ``elapsed_s`` and, with
``train.ema``, ``average`` (everything resuming needs); ``best.pt`` adds ``valid``, ``score``
and ``averaged`` (its ``model`` is then the weight average validation scored). Any thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.config import DEFAULT_STEMS
from training.models import build_model
from training.trainconfig import ConfigError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic save: write a temporary file, then rename."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_model_from_checkpoint(path: str | Path, average: bool | None = False,
                               ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint (``last.pt`` or ``best.pt``) in eval mode.

    ``average``: False = the weights of ``model``; True = the weight average a ``last.pt``
    carries (``ConfigError`` without one); None = that average when there is one.
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
        model = build_model(**model_kwargs(cfg))
        has_average = isinstance(ckpt.get("average"), dict)
        if average and not has_average:
            raise ConfigError(f"{path} has no weight average (train.ema) to use")
        use_average = has_average and average is not False
        model.load_state_dict(ckpt["average"]["model"] if use_average else ckpt["model"])
    except (TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"checkpoint {path} does not match its model: {first}") from None
    model.eval()
    return model, ckpt


def model_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """``build_model`` keyword arguments of a plain training config (``stems`` filled in)."""
    kwargs = dict(cfg["model"])
    kwargs.setdefault("stems", len(cfg.get("stems", DEFAULT_STEMS)))
    return kwargs
