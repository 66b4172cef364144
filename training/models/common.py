"""Layers and helpers shared by the separation models (PyTorch, training process / export).

Every model maps the ONNX contract's input ``mix`` ``(batch, 4, bins, frames)`` — channels
(L re, L im, R re, R im) of the mixture STFT — to ``stems`` ``(batch, stems, 4, bins, frames)``.
All arithmetic is real-valued (complex numbers are carried as re/im pairs) so the graph exports
to plain ONNX operators.
"""

from __future__ import annotations

import math

import torch
from torch import nn

EPS = 1e-8


def split_complex(mix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch, 4, bins, frames)`` -> re, im, each ``(batch, 2 channels, bins, frames)``."""
    return mix[:, 0::2], mix[:, 1::2]


def merge_complex(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """re, im ``(batch, stems, 2 channels, bins, frames)`` -> ``(batch, stems, 4, bins, frames)``."""
    b, s, c, f, t = re.shape
    return torch.stack([re, im], dim=3).reshape(b, s, 2 * c, f, t)


def log_magnitude(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """Compressed magnitude ``log(1 + |X|)``, same shape as ``re``."""
    return torch.log1p(torch.sqrt(re * re + im * im + EPS))


class BinNorm(nn.Module):
    """Learned per-frequency-bin affine on ``(batch, channels, bins, frames)`` features."""

    def __init__(self, bins: int, mean: float = 1.5, std: float = 1.5) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.full((1, 1, bins, 1), -mean / std))
        self.scale = nn.Parameter(torch.full((1, 1, bins, 1), 1.0 / std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


def apply_masks(
    logits: torch.Tensor, re: torch.Tensor, im: torch.Tensor, mask: str, bound: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn mask logits into stem spectrograms.

    logits: ``(batch, stems, 2 channels, bins, frames)`` for ``mask="magnitude"`` (sigmoid, the
    mixture phase is kept) or ``(batch, stems, 2 channels, 2 re/im, bins, frames)`` for
    ``mask="complex"`` (magnitude bounded by ``bound`` with a smooth tanh, phase free).
    re, im: mixture ``(batch, 2 channels, bins, frames)``.
    Returns stem re, im, each ``(batch, stems, 2 channels, bins, frames)``.
    """
    re = re.unsqueeze(1)
    im = im.unsqueeze(1)
    if mask == "magnitude":
        m = torch.sigmoid(logits)
        return m * re, m * im
    if mask != "complex":
        raise ValueError(f"unknown mask kind {mask!r} (magnitude or complex)")
    a, b = logits[:, :, :, 0], logits[:, :, :, 1]
    r = torch.sqrt(a * a + b * b + EPS)
    scale = bound * torch.tanh(r / bound) / r
    ma, mb = a * scale, b * scale
    return ma * re - mb * im, ma * im + mb * re


def spatial_wiener(mix: torch.Tensor, stems: torch.Tensor, power: float,
                   reg: float = 1e-3) -> torch.Tensor:
    """Multichannel Wiener post-filter of one segment's stems (real arithmetic, exports to ONNX).

    mix ``(batch, 4, bins, frames)``, stems ``(batch, S, 4, bins, frames)`` (channels L re, L im,
    R re, R im) -> the stems re-estimated from the mixture: each stem ``j`` is modelled as a
    zero-mean Gaussian with a time-frequency weight ``w_j = v_j ** power`` (``v_j``: its
    power summed over both channels) and a 2×2 spatial covariance ``R_j(f)`` (its
    inter-channel covariance summed over the segment's frames, divided by the summed ``v_j``);
    the posterior mean is ``w_j R_j (sum_k w_k R_k)^-1 x``. With ``power`` 1 this is the
    usual one-iteration EM step of Open-Unmix's post-processing; smaller powers flatten the
    weights so the spatial covariances decide more (measured on real songs, session 10:
    0.3 is best, 1 is worse than nothing). ``reg``: ``reg`` × the mean diagonal is added to
    the mixture covariance's diagonal so a one-source (rank-1) bin stays invertible. The
    stems then sum to the mixture up to that regularisation. Computed in float32.

    Written for ONNX Runtime's CPU kernels (no fusion of elementwise operators): the sums
    over stems and the products with the 2×2 covariances are matrix products over
    ``(batch, bins)``, which costs one transpose of the output and runs in about 60 % of the
    time of the same maths written elementwise (session 10).
    """
    dtype = stems.dtype
    if dtype != torch.float32:  # (bf16 autocast); a no-op cast would be an ONNX copy
        mix, stems = mix.float(), stems.float()
    b, s, _, f, t = stems.shape
    y0, y1, y2, y3 = stems.unbind(dim=2)  # (b, S, F, T): L re, L im, R re, R im
    p_l = y0 * y0 + y1 * y1
    p_r = y2 * y2 + y3 * y3
    s_l, s_r = p_l.sum(dim=-1), p_r.sum(dim=-1)  # (b, S, F)
    inv_den = 1.0 / (s_l + s_r + 1e-12)
    r11, r22 = s_l * inv_den, s_r * inv_den
    r12r = (y0 * y2 + y1 * y3).sum(dim=-1) * inv_den  # y_L conj(y_R), summed over frames
    r12i = (y1 * y2 - y0 * y3).sum(dim=-1) * inv_den
    w = torch.exp(power * torch.log(p_l + p_r + 1e-12))  # (b, S, F, T)
    r = torch.stack([r11, r22, r12r, r12i], dim=-1)  # (b, S, F, 4)
    # the mixture's covariance sum_j w_j R_j: per (batch, bin), (4, S) @ (S, T)
    c = r.permute(0, 2, 3, 1) @ w.transpose(1, 2)  # (b, F, 4, T)
    c11, c22, c12r, c12i = c.unbind(dim=2)
    delta = reg * 0.5 * (c11 + c22) + 1e-12
    c11, c22 = c11 + delta, c22 + delta
    inv_det = 1.0 / (c11 * c22 - c12r * c12r - c12i * c12i)
    x1r, x1i, x2r, x2i = mix.transpose(1, 2).unbind(dim=2)  # (b, F, T)
    z = torch.stack([  # C^-1 x: z1 = (c22 x1 - c12 x2) / det, z2 = (c11 x2 - conj(c12) x1) / det
        (c22 * x1r - (c12r * x2r - c12i * x2i)) * inv_det,
        (c22 * x1i - (c12r * x2i + c12i * x2r)) * inv_det,
        (c11 * x2r - (c12r * x1r + c12i * x1i)) * inv_det,
        (c11 * x2i - (c12r * x1i - c12i * x1r)) * inv_det,
    ], dim=2)  # (b, F, 4, T)
    zero = torch.zeros_like(r11)
    m = torch.stack([  # R_j as a real 4×4 acting on (re, im) pairs of the two channels
        torch.stack([r11, zero, r12r, -r12i], dim=-1),
        torch.stack([zero, r11, r12i, r12r], dim=-1),
        torch.stack([r12r, r12i, r22, zero], dim=-1),
        torch.stack([-r12i, r12r, zero, r22], dim=-1),
    ], dim=-2)  # (b, S, F, 4, 4)
    m = m.permute(0, 2, 1, 3, 4).reshape(b, f, s * 4, 4)
    out = (m @ z).reshape(b, f, s, 4, t).permute(0, 2, 3, 1, 4)  # (b, S, 4, F, T)
    out = out * w.unsqueeze(2)
    return out if dtype == torch.float32 else out.to(dtype)


def mask_channels(mask: str) -> int:
    """Logit channels per stem and audio channel: 1 for magnitude masks, 2 for complex."""
    return 1 if mask == "magnitude" else 2


ACTIVATIONS = ("gelu", "relu", "leaky")


def activation(name: str) -> nn.Module:
    """``gelu`` (smooth), ``relu`` or ``leaky`` (LeakyReLU 0.1: no unit dies; both folded into
    the convolution by ONNX Runtime, free at inference)."""
    if name == "gelu":
        return nn.GELU()
    if name == "relu":
        return nn.ReLU()
    if name == "leaky":
        return nn.LeakyReLU(0.1)
    raise ValueError(f"unknown activation {name!r} ({' or '.join(ACTIVATIONS)})")


class ConvBlock(nn.Module):
    """Conv ``kernel``×``kernel`` (3 or 1) + BatchNorm + an activation (``activation``) on
    ``(batch, channels, bins, frames)``."""

    def __init__(self, cin: int, cout: int, stride: int = 1, act: str = "gelu",
                 kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class UNetCore(nn.Module):
    """A 2-D U-Net over (bins, frames): each level halves both axes.

    Input ``(batch, cin, bins, frames)`` -> ``(batch, cout, bins, frames)``; bins and frames must
    be divisible by ``2 ** depth``. ``act``: the blocks' activation; ``top_kernel``: the kernel of
    the last merge, the one block at full resolution (1 costs a ninth of 3 there);
    ``top_width``: its channels (default ``base // 2``: a narrow U-Net's last block would
    otherwise have fewer channels than the masks it makes).
    """

    def __init__(self, cin: int, cout: int, base: int, depth: int, double: bool = True,
                 act: str = "gelu", top_kernel: int = 3, top_width: int | None = None) -> None:
        super().__init__()
        if top_kernel not in (1, 3):
            raise ValueError(f"top_kernel must be 1 or 3, got {top_kernel}")
        self.depth = depth
        chans = [base * 2**i for i in range(depth)]
        self.down = nn.ModuleList()
        prev = cin
        for c in chans:
            layers: list[nn.Module] = [ConvBlock(prev, c, stride=2, act=act)]
            if double:
                layers.append(ConvBlock(c, c, act=act))
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        skips = [cin] + chans[:-1]
        for i, (c, skip) in enumerate(zip(reversed(chans), reversed(skips))):
            out = max(skip, base // 2 if top_width is None or i < depth - 1 else top_width)
            self.up.append(nn.ConvTranspose2d(c, out, 2, stride=2))
            kernel = top_kernel if i == depth - 1 else 3
            self.merge.append(ConvBlock(out + skip, out, act=act, kernel=kernel))
        self.head = nn.Conv2d(max(cin, base // 2 if top_width is None else top_width), cout, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last merge's output, before the 1×1 :attr:`head`."""
        skips = [x]
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = up(x)
            x = merge(torch.cat([x, skips.pop()], dim=1))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def sinusoidal_positions(frames: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fixed sinusoidal positional encoding ``(frames, dim)`` (works for any number of frames)."""
    pos = torch.arange(frames, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    angles = pos * freq
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(frames, dim)


class Attention(nn.Module):
    """Multi-head attention written with plain matmuls (exports cleanly, FLOPs countable).

    query ``(batch, frames_q, dim)``, context ``(batch, frames_k, dim)`` -> ``(batch, frames_q, dim)``.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        assert dim % heads == 0, f"dim {dim} not divisible by heads {heads}"
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, tq, d = query.shape
        h = self.heads
        q = self.q(query).reshape(b, tq, h, d // h).transpose(1, 2)
        k, v = self.kv(context).reshape(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.softmax(q @ k.transpose(-1, -2) * (d // h) ** -0.5, dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, tq, d))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: self-attention, or cross-attention to ``context`` when built
    with ``cross=True``, then a feed-forward block. ``(batch, frames, dim)`` -> same."""

    def __init__(
        self, dim: int, heads: int, ff: int, dropout: float = 0.0, cross: bool = False
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.norm_ctx = nn.LayerNorm(dim) if cross else None
        self.att = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Linear(ff, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm1(x)
        if context is None:
            ctx = q
        else:
            assert self.norm_ctx is not None, "layer built without cross=True"
            ctx = self.norm_ctx(context)
        x = x + self.drop(self.att(q, ctx))
        return x + self.drop(self.ff(self.norm2(x)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, bins: int = 1024, frames: int = 192) -> int:
    """FLOPs of one forward pass on a ``(1, 4, bins, frames)`` segment, counted by
    ``torch.utils.flop_counter`` (matmuls and convolutions; 1 multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.randn(1, 4, bins, frames)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())
