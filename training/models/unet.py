"""``unet``: the baseline — a 2-D U-Net on the stereo log-magnitude spectrogram that predicts one
mask per stem and channel; the mixture phase is reused (``mask="magnitude"``, sigmoid masks).
``mask="complex"`` swaps in bounded complex masks for the magnitude-vs-complex comparison.

Runs in the training process (and, exported, inside the engine's worker thread via ONNX).
"""

from __future__ import annotations

import torch
from torch import nn

from training.models.common import (
    BinNorm,
    UNetCore,
    apply_masks,
    log_magnitude,
    mask_channels,
    merge_complex,
    split_complex,
)


class UNet(nn.Module):
    """``mix (batch, 4, bins, frames)`` -> ``stems (batch, stems, 4, bins, frames)``.

    frames must be divisible by ``2 ** depth`` (192 and 64 are, for depth <= 6).
    """

    def __init__(
        self,
        stems: int = 4,
        bins: int = 1024,
        base: int = 16,
        depth: int = 4,
        mask: str = "magnitude",
        bound: float = 1.5,
        double: bool = True,
    ) -> None:
        super().__init__()
        self.stems, self.bins, self.mask, self.bound = stems, bins, mask, bound
        self.per = mask_channels(mask)
        self.norm = BinNorm(bins)
        self.core = UNetCore(2, stems * 2 * self.per, base, depth, double)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        re, im = split_complex(mix)
        b, _, f, t = re.shape
        logits = self.core(self.norm(log_magnitude(re, im)))
        if self.per == 1:
            logits = logits.reshape(b, self.stems, 2, f, t)
        else:
            logits = logits.reshape(b, self.stems, 2, 2, f, t)
        out_re, out_im = apply_masks(logits, re, im, self.mask, self.bound)
        return merge_complex(out_re, out_im)
