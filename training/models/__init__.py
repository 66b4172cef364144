"""Separation models (PyTorch) and the registry used by training and export."""

from __future__ import annotations

from typing import Any

from torch import nn

from training.models.hybrid import Hybrid
from training.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {"unet": UNet, "hybrid": Hybrid}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a registered model by name with its keyword arguments (from a YAML config)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
