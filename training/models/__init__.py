"""Separation models (PyTorch) and the registry used by training and export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from training.models.hybrid import Hybrid
from training.models.hybrid_unet import HybridUNet, init_from_unet
from training.models.unet import UNet, init_from_wider

MODELS: dict[str, type[nn.Module]] = {"unet": UNet, "hybrid": Hybrid, "hybrid_unet": HybridUNet}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a registered model by name with its keyword arguments (from a YAML config)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)


def init_weights(model: nn.Module, checkpoint: str | Path) -> int:
    """Start ``model`` from another model's trained weights (a ``unet`` checkpoint into a
    ``hybrid_unet``, or into a ``unet`` as wide or narrower). Returns the number of tensors
    copied; ``ValueError`` when they do not fit."""
    if isinstance(model, HybridUNet):
        return init_from_unet(model, checkpoint)
    if isinstance(model, UNet):
        return init_from_wider(model, checkpoint)
    raise ValueError(f"{type(model).__name__} cannot start from another model's weights")
