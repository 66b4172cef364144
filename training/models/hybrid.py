"""``hybrid``: transformer over frames + small parallel U-Net, with vocals<->drums
cross-attention, a lighter bass branch and bounded complex masks; ``other`` is the residual
(so the four stems always sum to the mixture).

Data flow for ``mix (batch, 4, bins, frames)``:

1. features ``log(1 + |X|)`` ``(batch, 2, bins, frames)``, per-bin normalised;
2. frame tokens: a linear projection collapsing (channels, bins) -> ``(batch, frames, dim)``,
   plus sinusoidal positions, then ``layers`` shared transformer layers;
3. vocals and drums branches: one self-attention layer each, then each cross-attends to the
   other's tokens (drum bleed in vocals is the error to beat); each emits coarse mask logits
   over ``bins // coarse`` bands, repeated up to full resolution;
4. bass branch: a small MLP on the shared tokens emitting full-resolution logits for the lowest
   ``bass_bins`` bins only (bass above that is masked to zero);
5. a small U-Net on the features adds fine-detail logits for vocals, drums, bass at every bin;
6. masks (bounded complex or sigmoid magnitude) times the mixture; other = mixture - the rest.

Runs in the training process (and, exported, inside the engine's worker thread via ONNX).
"""

from __future__ import annotations

import torch
from torch import nn

from training.models.common import (
    BinNorm,
    TransformerLayer,
    UNetCore,
    apply_masks,
    log_magnitude,
    mask_channels,
    merge_complex,
    sinusoidal_positions,
    split_complex,
)


class Hybrid(nn.Module):
    """``mix (batch, 4, bins, frames)`` -> ``stems (batch, 4, 4, bins, frames)`` in the order
    vocals, drums, bass, other. frames must be divisible by ``2 ** unet_depth``."""

    def __init__(
        self,
        stems: int = 4,
        bins: int = 1024,
        dim: int = 128,
        heads: int = 4,
        ff: int = 256,
        layers: int = 3,
        coarse: int = 4,
        bass_bins: int = 128,
        unet_base: int = 8,
        unet_depth: int = 3,
        mask: str = "complex",
        bound: float = 1.5,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if stems != 4:
            raise ValueError("hybrid is built for vocals, drums, bass, other (stems=4)")
        if bins % coarse:
            raise ValueError(f"bins {bins} not divisible by coarse {coarse}")
        self.bins, self.dim, self.coarse, self.bass_bins = bins, dim, coarse, bass_bins
        self.mask, self.bound = mask, bound
        self.per = mask_channels(mask)
        self.norm = BinNorm(bins)
        self.embed = nn.Linear(2 * bins, dim)
        self.encoder = nn.ModuleList(
            [TransformerLayer(dim, heads, ff, dropout) for _ in range(layers)]
        )
        self.vocals_self = TransformerLayer(dim, heads, ff, dropout)
        self.drums_self = TransformerLayer(dim, heads, ff, dropout)
        self.vocals_cross = TransformerLayer(dim, heads, ff, dropout, cross=True)
        self.drums_cross = TransformerLayer(dim, heads, ff, dropout, cross=True)
        band_out = 2 * self.per * (bins // coarse)
        self.vocals_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, band_out))
        self.drums_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, band_out))
        self.bass_head = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim // 2),
            nn.GELU(),
            nn.Linear(dim // 2, 2 * self.per * bass_bins),
        )
        self.unet = UNetCore(2, 3 * 2 * self.per, unet_base, unet_depth)

    def _bands_to_bins(self, logits: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, 2 * per * bands)`` -> ``(batch, 2, per, bins, frames)``."""
        b, t, _ = logits.shape
        bands = self.bins // self.coarse
        x = logits.reshape(b, t, 2, self.per, bands, 1).expand(b, t, 2, self.per, bands, self.coarse)
        return x.reshape(b, t, 2, self.per, self.bins).permute(0, 2, 3, 4, 1)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        re, im = split_complex(mix)
        b, _, f, t = re.shape
        feats = self.norm(log_magnitude(re, im))  # (batch, 2, bins, frames)

        tokens = self.embed(feats.permute(0, 3, 1, 2).reshape(b, t, 2 * f))
        tokens = tokens + sinusoidal_positions(t, self.dim, tokens.device)
        for layer in self.encoder:
            tokens = layer(tokens)
        voc = self.vocals_self(tokens)
        drm = self.drums_self(tokens)
        voc, drm = self.vocals_cross(voc, drm), self.drums_cross(drm, voc)

        voc_l = self._bands_to_bins(self.vocals_head(voc))
        drm_l = self._bands_to_bins(self.drums_head(drm))
        bass_low = self.bass_head(tokens).reshape(b, t, 2, self.per, self.bass_bins)
        bass_low = bass_low.permute(0, 2, 3, 4, 1)
        fine = self.unet(feats).reshape(b, 3, 2, self.per, f, t)

        voc_l, drm_l = voc_l + fine[:, 0], drm_l + fine[:, 1]
        low = fine[:, 2, :, :, : self.bass_bins] + bass_low
        if self.per == 2:
            # (batch, 2 ch, 2 re/im, bins, frames): bias the real part so masks start near 1/3
            bias = re.new_tensor([0.35, 0.0]).reshape(1, 1, 2, 1, 1)
            voc_l, drm_l, low = voc_l + bias, drm_l + bias, low + bias
            high = torch.zeros_like(fine[:, 2, :, :, self.bass_bins :])  # mask 0: no bass
        else:
            high = torch.full_like(fine[:, 2, :, :, self.bass_bins :], -30.0)  # sigmoid ~ 0
        bass_l = torch.cat([low, high], dim=3)
        logits = torch.stack([voc_l, drm_l, bass_l], dim=1)
        if self.per == 1:
            logits = logits.squeeze(3)
        s_re, s_im = apply_masks(logits, re, im, self.mask, self.bound)
        o_re = re.unsqueeze(1) - s_re.sum(dim=1, keepdim=True)
        o_im = im.unsqueeze(1) - s_im.sum(dim=1, keepdim=True)
        return merge_complex(torch.cat([s_re, o_re], dim=1), torch.cat([s_im, o_im], dim=1))
