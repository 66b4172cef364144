"""Training losses: L1 on spectrograms plus a time-domain SDR loss (training process).

Shapes: estimates and targets in the model layout ``(batch, stems, 4, bins, frames)``; target
waveforms ``(batch, stems, 2 channels, samples)``. The time-domain term inverts the estimated
spectrogram (bins above the model's band are zero) and compares it with the target limited to
the same band, so both sides hear the same 0-11 kHz.

Partial labels: an item may know only some of its stems exactly (e.g. a real voice over a real
instrumental recording: vocals known, drums / bass / other known only as their sum). ``known``
``(batch, stems)`` says which; the loss scores each known stem on its own and the unknown ones
only through their sum (one extra "group" per item), so moving content between unknown stems of
the target changes nothing. Without ``known`` every stem is known (the plain loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training import spec

EPS = 1e-8


def sdr(est: torch.Tensor, ref: torch.Tensor, eps: float | torch.Tensor = EPS) -> torch.Tensor:
    """Signal-to-distortion ratio in dB over the last axis (samples): ``10 log10(|s|^2 /
    |s - s_hat|^2)``. Any leading shape; returns that shape without the last axis. ``eps`` is
    added to both energies (a tensor broadcasting to the leading shape, or a number)."""
    num = (ref * ref).sum(-1) + eps
    den = ((ref - est) ** 2).sum(-1) + eps
    return 10.0 * torch.log10(num / den)


def group_stems(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``(batch, stems, ...)`` -> ``(batch, stems + 1, ...)``: each known stem as it is (an unknown
    stem's slot is zeroed), then the sum of the unknown stems as one extra slot.
    ``known``: ``(batch, stems)`` bool or 0/1."""
    k = known.to(x.dtype).reshape(*known.shape, *([1] * (x.dim() - 2)))
    return torch.cat([x * k, (x * (1 - k)).sum(1, keepdim=True)], dim=1)


def group_weights(known: torch.Tensor) -> torch.Tensor:
    """``(batch, stems)`` -> ``(batch, stems + 1)`` float weights of the slots of
    ``group_stems``: 1 for a known stem, 1 for the unknown group when any stem is unknown."""
    k = known.float()
    return torch.cat([k, (k < 0.5).any(1, keepdim=True).float()], dim=1)


def level_loss(est: torch.Tensor, ref: torch.Tensor, weight: torch.Tensor,
               audible_db: float = -40.0) -> torch.Tensor:
    """Mean ``|log10 E(est) - log10 E(ref)|`` (bels) over the slots ``(batch, slots, samples)``
    whose reference is audible: within ``audible_db`` of the item's loudest slot. ``weight``
    ``(batch, slots)`` masks slots out (see ``group_weights``)."""
    e_est = est.pow(2).mean(-1)
    e_ref = ref.pow(2).mean(-1)
    loudest = e_ref.max(dim=1, keepdim=True).values
    audible = (e_ref > loudest * 10 ** (audible_db / 10)).float() * weight
    floor = loudest * 1e-6 + EPS
    diff = (torch.log10(e_est + floor) - torch.log10(e_ref + floor)).abs()
    return (diff * audible).sum() / audible.sum().clamp_min(1.0)


def band_limited(wave: torch.Tensor, bins: int) -> torch.Tensor:
    """The part of ``wave (..., samples)`` in STFT bins ``0..bins-1`` (the model's band)."""
    return spec.istft(spec.stft(wave)[..., :bins, :], wave.shape[-1])


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (from the YAML ``loss:`` section)."""

    spec_l1: float = 1.0
    time_sdr: float = 0.1
    # |log10 energy(est) - log10 energy(ref)| of each audible target: a stem cannot score well
    # by staying silent (a silent estimate gets SDR 0 dB, better than a poor one: the unet's
    # bass collapsed that way)
    level: float = 0.0
    # energy floor of the SDR term, in dB under the item's mixture: bleed quieter than this
    # costs nothing, and a silent target (an instrumental song's vocals, a "music only" item)
    # gives a bounded term instead of ~-80 dB that would drown every other stem's gradient.
    # None: the old absolute 1e-8 (what the models shipped before data v2 were trained with).
    sdr_floor_db: float | None = -30.0
    # distillation: ``distill`` × the relative spectrogram L1 distance of every stem to what a
    # trained ``teacher`` (a training checkpoint of a model with the same bins) makes of the
    # same mixture. It labels every stem of every item (the partial-label families too), so a
    # smaller model can learn from a larger one what the data alone teaches it slowly. Several
    # checkpoints (a YAML list): the teacher is the mean of their outputs, as `python -m
    # training ensemble` makes it (an ensemble teaching one model, which then runs at one
    # model's cost). Each member's weight average is used when its checkpoint has one.
    distill: float = 0.0
    teacher: str | tuple[str, ...] = ""
    # the power of a spatial Wiener post-filter (models.common.spatial_wiener) applied to the
    # teacher's stems (the mean, for several): a student that ends in that filter learns
    # from a teacher that ends in it too. None: the teacher's stems as they are.
    teacher_wiener: float | None = None
    # what the distillation compares: "complex" (the stems' real and imaginary parts) or
    # "magnitude" (their magnitudes per channel). A magnitude-mask student keeps the mixture's
    # phase, so a complex-mask teacher's own phase is a distance it can never close (unet v3
    # against hybrid v4 at the start, session 11: 0.46 as magnitudes, 0.49-0.51 as complex).
    distill_on: str = "complex"


class SeparationLoss(torch.nn.Module):
    """``loss(est, ref_spec, ref_wave) -> (total, {"spec_l1": ..., "time_sdr": ...})``.

    est, ref_spec: ``(batch, stems, 4, bins, frames)``; ref_wave ``(batch, stems, 2, samples)``
    (already band-limited to ``bins`` by the caller, see ``band_limited``).
    """

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(
        self,
        est: torch.Tensor,
        ref_spec: torch.Tensor,
        ref_wave: torch.Tensor,
        known: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``known`` ``(batch, stems)`` bool: which target stems are exact (None: all). Unknown
        stems are scored only through their sum (see the module docstring)."""
        parts: dict[str, torch.Tensor] = {}
        total = est.new_zeros(())
        if known is None:
            known = torch.ones(est.shape[:2], dtype=torch.bool, device=est.device)
        w = group_weights(known)  # (batch, stems + 1)
        if self.config.spec_l1:
            est_g, ref_g = group_stems(est, known), group_stems(ref_spec, known)
            per = (est_g - ref_g).abs().mean(dim=(2, 3, 4))  # (batch, stems + 1)
            scale = ((ref_g.abs().mean(dim=(2, 3, 4)) * w).sum() / w.sum()).clamp_min(EPS)
            parts["spec_l1"] = (per * w).sum() / w.sum() / scale
            total = total + self.config.spec_l1 * parts["spec_l1"]
        if self.config.time_sdr or self.config.level:
            est_wave = spec.istft(spec.from_model(est.float()), ref_wave.shape[-1])
            b = est.shape[0]
            e = group_stems(est_wave, known).reshape(b, w.shape[1], -1)
            r = group_stems(ref_wave, known).reshape(b, w.shape[1], -1)
            if self.config.time_sdr:
                eps: float | torch.Tensor = EPS
                if self.config.sdr_floor_db is not None:
                    mix_energy = r.sum(1).pow(2).sum(-1, keepdim=True)  # (batch, 1)
                    eps = mix_energy * 10 ** (self.config.sdr_floor_db / 10) + EPS
                parts["time_sdr"] = -(sdr(e, r, eps) * w).sum() / w.sum() / 10.0
                total = total + self.config.time_sdr * parts["time_sdr"]
            if self.config.level:
                parts["level"] = level_loss(e, r, w)
                total = total + self.config.level * parts["level"]
        return total, {k: float(v.detach()) for k, v in parts.items()}


DISTILL_ON = ("complex", "magnitude")


def stem_magnitudes(out: torch.Tensor) -> torch.Tensor:
    """Model output ``(batch, stems, 4, bins, frames)`` (L re, L im, R re, R im) -> magnitudes
    ``(batch, stems, 2, bins, frames)``."""
    b, s, _, f, t = out.shape
    return out.reshape(b, s, 2, 2, f, t).pow(2).sum(dim=3).clamp_min(EPS).sqrt()


def distill_loss(est: torch.Tensor, teacher: torch.Tensor, on: str = "complex") -> torch.Tensor:
    """Relative L1 distance ``mean |est - teacher| / mean |teacher|`` of two model outputs
    ``(batch, stems, 4, bins, frames)``, as complex numbers or (``on="magnitude"``) of their
    magnitudes."""
    if on == "magnitude":
        est, teacher = stem_magnitudes(est), stem_magnitudes(teacher)
    elif on != "complex":
        raise ValueError(f"distill_on must be {' or '.join(DISTILL_ON)}, got {on!r}")
    return (est - teacher).abs().mean() / teacher.abs().mean().clamp_min(EPS)
