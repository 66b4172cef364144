"""Training losses: L1 on spectrograms plus a time-domain SDR loss (training process).

Shapes: estimates and targets in the model layout ``(batch, stems, 4, bins, frames)``; target
waveforms ``(batch, stems, 2 channels, samples)``. The time-domain term inverts the estimated
spectrogram (bins above the model's band are zero) and compares it with the target limited to
the same band, so both sides hear the same 0-11 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training import spec

EPS = 1e-8


def spectrogram_l1(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over re/im parts, normalised by the references' mean magnitude so
    the value does not depend on the loudness of the batch. ``(batch, stems, 4, bins, frames)``."""
    scale = ref.abs().mean().clamp_min(EPS)
    return (est - ref).abs().mean() / scale


def sdr(est: torch.Tensor, ref: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Signal-to-distortion ratio in dB over the last axis (samples): ``10 log10(|s|^2 /
    |s - s_hat|^2)``. Any leading shape; returns that shape without the last axis."""
    num = (ref * ref).sum(-1) + eps
    den = ((ref - est) ** 2).sum(-1) + eps
    return 10.0 * torch.log10(num / den)


def sdr_loss(est_wave: torch.Tensor, ref_wave: torch.Tensor) -> torch.Tensor:
    """Negative SDR averaged over (batch, stems), channels pooled; scaled to ~unit range (/10)
    so it sits beside the spectrogram L1. Silent references contribute through ``eps`` only."""
    b, s = ref_wave.shape[:2]
    return -sdr(est_wave.reshape(b, s, -1), ref_wave.reshape(b, s, -1)).mean() / 10.0


def band_limited(wave: torch.Tensor, bins: int) -> torch.Tensor:
    """The part of ``wave (..., samples)`` in STFT bins ``0..bins-1`` (the model's band)."""
    return spec.istft(spec.stft(wave)[..., :bins, :], wave.shape[-1])


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (from the YAML ``loss:`` section)."""

    spec_l1: float = 1.0
    time_sdr: float = 0.1


class SeparationLoss(torch.nn.Module):
    """``loss(est, ref_spec, ref_wave) -> (total, {"spec_l1": ..., "time_sdr": ...})``.

    est, ref_spec: ``(batch, stems, 4, bins, frames)``; ref_wave ``(batch, stems, 2, samples)``
    (already band-limited to ``bins`` by the caller, see ``band_limited``).
    """

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(
        self, est: torch.Tensor, ref_spec: torch.Tensor, ref_wave: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        parts: dict[str, torch.Tensor] = {}
        total = est.new_zeros(())
        if self.config.spec_l1:
            parts["spec_l1"] = spectrogram_l1(est, ref_spec)
            total = total + self.config.spec_l1 * parts["spec_l1"]
        if self.config.time_sdr:
            est_wave = spec.istft(spec.from_model(est.float()), ref_wave.shape[-1])
            parts["time_sdr"] = sdr_loss(est_wave, ref_wave)
            total = total + self.config.time_sdr * parts["time_sdr"]
        return total, {k: float(v.detach()) for k, v in parts.items()}
