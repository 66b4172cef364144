"""Training's STFT in PyTorch, matching ``engine/dsp/stft.py`` (parity test < 1e-5).

Owns the conversion between waveforms, complex spectrograms and the model layout of the ONNX
contract. Runs on the training process's main thread (and in DataLoader workers).

Convention (DESIGN.md): 44.1 kHz, n_fft 4096, hop 1024, periodic Hann, centred frames
(reflect padding of n_fft // 2 on both sides), no scaling on the forward transform; the inverse
is a weighted overlap-add normalised by the summed squared window (what ``torch.istft`` does).
Model layout: ``(batch, 4, bins, frames)`` with channels (L re, L im, R re, R im).
"""

from __future__ import annotations

import torch

from engine.config import HOP, N_FFT

PAD_MODE = "reflect"

_WINDOWS: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def window(device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Periodic Hann window of length N_FFT, cached per device and dtype."""
    key = (torch.device(device or "cpu"), dtype)
    if key not in _WINDOWS:
        _WINDOWS[key] = torch.hann_window(N_FFT, periodic=True, dtype=dtype, device=key[0])
    return _WINDOWS[key]


def stft(audio: torch.Tensor) -> torch.Tensor:
    """``(..., samples)`` real -> ``(..., N_FFT // 2 + 1, frames)`` complex.

    frames = samples // HOP + 1 (centred frames).
    """
    shape = audio.shape
    flat = audio.reshape(-1, shape[-1])
    spec = torch.stft(
        flat,
        n_fft=N_FFT,
        hop_length=HOP,
        window=window(audio.device, audio.dtype),
        center=True,
        pad_mode=PAD_MODE,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """``(..., bins, frames)`` complex -> ``(..., length)`` real.

    Bins missing above ``spec.shape[-2]`` (a model's band limit) are taken as zero.
    """
    bins_full = N_FFT // 2 + 1
    if spec.shape[-2] < bins_full:
        pad = spec.new_zeros(*spec.shape[:-2], bins_full - spec.shape[-2], spec.shape[-1])
        spec = torch.cat([spec, pad], dim=-2)
    shape = spec.shape
    flat = spec.reshape(-1, *shape[-2:])
    real_dtype = torch.float64 if spec.dtype == torch.complex128 else torch.float32
    audio = torch.istft(
        flat,
        n_fft=N_FFT,
        hop_length=HOP,
        window=window(spec.device, real_dtype),
        center=True,
        normalized=False,
        onesided=True,
        length=length,
    )
    return audio.reshape(*shape[:-2], length)


def to_model(spec: torch.Tensor, bins: int) -> torch.Tensor:
    """``(..., 2 channels, bins_full, frames)`` complex -> ``(..., 4, bins, frames)`` real.

    Channel order (L re, L im, R re, R im), as ``engine.dsp.stft.spec_to_model``.
    """
    spec = spec[..., :bins, :]
    parts = torch.stack([spec.real, spec.imag], dim=-3)  # (..., 2 ch, 2 re/im, bins, frames)
    return parts.reshape(*spec.shape[:-3], 4, bins, spec.shape[-1])


def from_model(x: torch.Tensor) -> torch.Tensor:
    """``(..., 4, bins, frames)`` real -> ``(..., 2 channels, bins, frames)`` complex."""
    parts = x.reshape(*x.shape[:-3], 2, 2, *x.shape[-2:])
    return torch.complex(parts[..., 0, :, :], parts[..., 1, :, :])


def frames_for(samples: int) -> int:
    """Number of centred STFT frames for a signal of ``samples`` samples."""
    return samples // HOP + 1


def samples_for(frames: int) -> int:
    """Signal length whose centred STFT has exactly ``frames`` frames."""
    return (frames - 1) * HOP
