"""``unet``: the baseline — a 2-D U-Net on the stereo log-magnitude spectrogram that predicts one
mask per stem and channel; the mixture phase is reused (``mask="magnitude"``, sigmoid masks).
``mask="complex"`` swaps in bounded complex masks for the magnitude-vs-complex comparison.

``act="relu"`` and ``top_kernel=1`` make it cheaper to run (version 3, the fast model): ONNX
Runtime folds a ReLU into its convolution, and the one block at full resolution then costs a
ninth. With magnitude masks, one broadcast product of each mask and the (re, im) pair of its
channel makes the stems in the input's layout, with no stacking of real and imaginary parts
(the same values; a few ms less per ONNX Runtime run).

Runs in the training process (and, exported, inside the engine's worker thread via ONNX).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.models.common import (
    BinNorm,
    UNetCore,
    apply_masks,
    log_magnitude,
    mask_channels,
    merge_complex,
    spatial_wiener,
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
        act: str = "gelu",
        top_kernel: int = 3,
        top_width: int | None = None,
        wiener: float | None = None,
    ) -> None:
        super().__init__()
        self.stems, self.bins, self.mask, self.bound = stems, bins, mask, bound
        self.wiener = wiener  # power of common.spatial_wiener on the output (None: none)
        self.per = mask_channels(mask)
        self.norm = BinNorm(bins)
        self.core = UNetCore(2, stems * 2 * self.per, base, depth, double, act, top_kernel,
                             top_width)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        re, im = split_complex(mix)
        b, _, f, t = re.shape
        if self.per == 1:
            # one mask per stem and channel times (ch, re/im) of `mix`: a broadcast product
            # lands in the output layout (stem, ch*2 + re/im)
            logits = self.core(self.norm(log_magnitude(re, im)))
            masks = torch.sigmoid(logits.reshape(b, self.stems, 2, 1, f, t))
            stems = (masks * mix.reshape(b, 1, 2, 2, f, t)).reshape(b, self.stems, 4, f, t)
        else:
            logits = self.core(self.norm(log_magnitude(re, im))).reshape(
                b, self.stems, 2, 2, f, t)
            out_re, out_im = apply_masks(logits, re, im, self.mask, self.bound)
            stems = merge_complex(out_re, out_im)
        if self.wiener is not None:
            stems = spatial_wiener(mix, stems, self.wiener)
        return stems


def init_from_wider(model: UNet, checkpoint: str | Path) -> int:
    """Start ``model`` from a trained ``unet`` checkpoint of the same depth and stems and an
    equal or larger ``base``: every tensor keeps the first channels of the checkpoint's (the
    merges' inputs, concatenations of the upsampled and the skip channels, per part; a 3×3
    kernel where ``model`` has 1×1 keeps its centre tap). Activation and kernel may differ:
    training then adapts what was learnt (a zeroed head, every mask 0.5, learnt more slowly
    than the kept one in session 6: real validation −0.5 dB after 320 steps against +0.9). Returns the number of tensors copied; ``ValueError``
    when the checkpoint is not such a unet."""
    ckpt = torch.load(Path(checkpoint), map_location="cpu", weights_only=False)
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        # ValueError, like every other misfit checkpoint: the callers turn it into ConfigError
        raise ValueError(f"{checkpoint} is not a stemplay training checkpoint")  # noqa: TRY004
    kind = ckpt.get("config", {}).get("model", {})
    if kind.get("name") != "unet" or kind.get("mask", "magnitude") != model.mask:
        raise ValueError(f"{checkpoint} is not a {model.mask}-mask unet checkpoint")
    own = model.state_dict()
    if set(own) != set(state):
        raise ValueError(f"{checkpoint}: unet of another depth or layout than this model")
    new: dict[str, torch.Tensor] = {}
    for key, mine in own.items():
        old = state[key]
        if old.dim() != mine.dim() or any(o < m for o, m in zip(old.shape, mine.shape)):
            raise ValueError(f"{checkpoint}: {key} {tuple(old.shape)} is narrower than "
                             f"{tuple(mine.shape)}")
        if key.startswith("core.merge.") and key.endswith(".conv.weight"):
            i = key.split(".")[2]
            up_old, up_new = state[f"core.up.{i}.bias"].shape[0], own[f"core.up.{i}.bias"].shape[0]
            old = torch.cat([old[:, :up_new], old[:, up_old : up_old + mine.shape[1] - up_new]],
                            dim=1)
        if old.dim() == 4 and old.shape[-1] != mine.shape[-1]:  # 3×3 → 1×1: the centre tap
            c = old.shape[-1] // 2
            old = old[..., c : c + 1, c : c + 1]
        new[key] = old[tuple(slice(0, n) for n in mine.shape)].clone()
    model.load_state_dict(new)
    return len(new)
