"""``hybrid_unet``: the ``unet``'s U-Net with a transformer over time frames inside it and
complex masks (magnitude times a learned phase turn) — the quality model of issue "training
campaign", built so that it can start from the trained ``unet`` and only add to it.

Data flow for ``mix (batch, 4, bins, frames)``:

1. features ``log(1 + |X|)`` ``(batch, 2, bins, frames)``, per-bin normalised (as ``unet``);
2. the U-Net's encoder down to level ``at`` (``(batch, C, bins / 2**at, frames / 2**at)``);
3. ``layers`` transformer layers along *time*, one sequence per frequency row (weights shared
   across rows, C-dimensional tokens, sinusoidal positions): every row sees the whole 4.46-s
   segment, which a 3x3 convolution stack cannot;
4. the rest of the encoder, the decoder with its skips, and two heads: the unet's mask logits
   (sigmoid magnitude per stem and channel) and a phase head (one angle per stem and channel);
5. stem = magnitude mask x e^(i angle) x mixture (``phase=False``: no phase head, the mask is
   real and the stem keeps the mixture's phase; version 4's trained phase head turns by about
   1e-3 rad, so ``export --drop-phase`` leaves it out, see models/hybrid.md).

The transformer's output projections and the phase head start at zero, so a freshly built model
with the unet's weights loaded (``init_from_unet``) computes exactly what the unet does; training
then moves it away only where that helps. Runs in the training process (exported: in the
engine's worker thread via ONNX).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.models.common import (
    BinNorm,
    TransformerLayer,
    UNetCore,
    log_magnitude,
    merge_complex,
    sinusoidal_positions,
    spatial_wiener,
    split_complex,
)


class HybridUNet(nn.Module):
    """``mix (batch, 4, bins, frames)`` -> ``stems (batch, stems, 4, bins, frames)``.

    frames must be divisible by ``2 ** depth``; ``at`` (1..depth) is the U-Net level whose
    output the time transformer refines.
    """

    def __init__(
        self,
        stems: int = 4,
        bins: int = 1024,
        base: int = 16,
        depth: int = 4,
        at: int = 3,
        layers: int = 2,
        heads: int = 4,
        ff_mult: int = 2,
        dropout: float = 0.0,
        wiener: float | None = None,
        phase: bool = True,
    ) -> None:
        super().__init__()
        if not 1 <= at <= depth:
            raise ValueError(f"transformer level at={at} must be within 1..depth={depth}")
        self.stems, self.bins, self.at = stems, bins, at
        self.wiener = wiener  # power of common.spatial_wiener on the output (None: none)
        self.norm = BinNorm(bins)
        self.core = UNetCore(2, stems * 2, base, depth, double=True)
        dim = base * 2 ** (at - 1)
        if dim % heads:
            raise ValueError(f"level {at} has {dim} channels, not divisible by heads={heads}")
        self.dim = dim
        self.time = nn.ModuleList(
            [TransformerLayer(dim, heads, ff_mult * dim, dropout) for _ in range(layers)]
        )
        for layer in self.time:  # each layer starts as the identity (residual branches at 0)
            nn.init.zeros_(layer.att.out.weight)
            nn.init.zeros_(layer.att.out.bias)
            nn.init.zeros_(layer.ff[2].weight)
            nn.init.zeros_(layer.ff[2].bias)
        # the phase head (None: real masks, the mixture's phase kept; export --drop-phase)
        self.phase: nn.Conv2d | None = None
        if phase:
            self.phase = nn.Conv2d(self.core.head.in_channels, stems * 2, 1)
            nn.init.zeros_(self.phase.weight)
            nn.init.zeros_(self.phase.bias)

    def _time_transformer(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, C, rows, frames)`` -> same: attention along frames, one sequence per row."""
        b, c, f, t = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(b * f, t, c)
        tokens = tokens + sinusoidal_positions(t, c, x.device)
        for layer in self.time:
            tokens = layer(tokens)
        tokens = tokens - sinusoidal_positions(t, c, x.device)
        return tokens.reshape(b, f, t, c).permute(0, 3, 1, 2)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        re, im = split_complex(mix)
        b, _, f, t = re.shape
        core = self.core
        x = self.norm(log_magnitude(re, im))
        skips = [x]
        for level, layer in enumerate(core.down, start=1):
            x = layer(x)
            if level == self.at:
                x = self._time_transformer(x)
            skips.append(x)
        skips.pop()
        for up, merge in zip(core.up, core.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        mag = torch.sigmoid(core.head(x)).reshape(b, self.stems, 2, f, t)
        re, im = re.unsqueeze(1), im.unsqueeze(1)
        if self.phase is None:
            stems = merge_complex(mag * re, mag * im)
        else:
            angle = self.phase(x).reshape(b, self.stems, 2, f, t)
            ma, mb = mag * torch.cos(angle), mag * torch.sin(angle)
            stems = merge_complex(ma * re - mb * im, ma * im + mb * re)
        if self.wiener is not None:
            stems = spatial_wiener(mix, stems, self.wiener)
        return stems


def init_from_unet(model: HybridUNet, checkpoint: str | Path) -> int:
    """Copy a trained ``unet`` checkpoint's weights (magnitude masks, same base/depth/stems)
    into ``model``'s normalisation and U-Net. Returns the number of tensors copied; raises
    ``ValueError`` when the checkpoint is not such a unet."""
    ckpt = torch.load(Path(checkpoint), map_location="cpu", weights_only=False)
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        # ValueError, like every other misfit checkpoint: the callers turn it into ConfigError
        raise ValueError(f"{checkpoint} is not a stemplay training checkpoint")  # noqa: TRY004
    kind = ckpt.get("config", {}).get("model", {})
    if kind.get("name") != "unet" or kind.get("mask", "magnitude") != "magnitude":
        raise ValueError(f"{checkpoint} is not a magnitude-mask unet checkpoint")
    own = model.state_dict()
    wanted = {k: v for k, v in state.items() if k.startswith(("norm.", "core."))}
    missing = [k for k in own if k.startswith(("norm.", "core.")) and k not in wanted]
    bad = [k for k, v in wanted.items() if k not in own or own[k].shape != v.shape]
    if missing or bad:
        raise ValueError(
            f"{checkpoint}: unet does not fit this model (missing {missing[:2]}, shape {bad[:2]})"
        )
    model.load_state_dict(wanted, strict=False)
    return len(wanted)
