"""Shapes, contract and basic learning ability of the separation models (tiny configs, CPU)."""

from __future__ import annotations

import pytest
import torch

from training import spec
from training.losses import LossConfig, SeparationLoss, sdr
from training.models import build_model
from training.models.common import count_flops, count_parameters

torch.set_num_threads(1)  # tiny models: threads only add contention on a shared CPU

torch.set_num_threads(1)  # tiny models: extra threads only add contention on a shared CPU

TINY = {
    "unet": {"base": 4, "depth": 2},
    "hybrid": {"dim": 32, "heads": 2, "ff": 64, "layers": 1, "unet_base": 4, "unet_depth": 2},
}
BINS = 64


def tiny(name: str, mask: str) -> torch.nn.Module:
    torch.manual_seed(0)
    kw = dict(TINY[name], bins=BINS, mask=mask)
    if name == "hybrid":
        kw["bass_bins"] = 16
    return build_model(name, **kw)


@pytest.mark.parametrize("name", ["unet", "hybrid"])
@pytest.mark.parametrize("mask", ["magnitude", "complex"])
@pytest.mark.parametrize("frames", [16, 32])
def test_contract_shapes_and_backward(name: str, mask: str, frames: int) -> None:
    model = tiny(name, mask)
    x = torch.randn(2, 4, BINS, frames) * 5
    y = model(x)
    assert y.shape == (2, 4, 4, BINS, frames)
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", ["unet", "hybrid"])
def test_magnitude_masks_keep_mixture_phase_and_bound_level(name: str) -> None:
    model = tiny(name, "magnitude").eval()
    x = torch.randn(1, 4, BINS, 16)
    y = model(x)
    mix = spec.from_model(x)  # (1, 2, F, T)
    est = spec.from_model(y)  # (1, S, 2, F, T)
    ratio = est / mix.unsqueeze(1)
    if name == "unet":  # every stem: a real mask in [0, 1]
        assert ratio.imag.abs().max() < 1e-4
        assert ratio.real.min() >= -1e-5 and ratio.real.max() <= 1 + 1e-5


@pytest.mark.parametrize("mask", ["magnitude", "complex"])
def test_hybrid_stems_sum_to_mixture(mask: str) -> None:
    """other is the residual: all stems at unity gain are the input mixture."""
    model = tiny("hybrid", mask).eval()
    x = torch.randn(1, 4, BINS, 32) * 3
    y = model(x)
    assert (y.sum(1) - x).abs().max() < 1e-4 * x.abs().max()


def test_hybrid_complex_masks_are_bounded() -> None:
    model = tiny("hybrid", "complex").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(50)  # drive the logits far out
    x = torch.randn(1, 4, BINS, 16)
    est = spec.from_model(model(x))[:, :3]  # vocals, drums, bass (masked stems)
    mask_mag = (est.abs() / spec.from_model(x).abs().unsqueeze(1).clamp_min(1e-6))
    assert mask_mag.max() <= model.bound + 1e-3


def test_hybrid_bass_is_silent_above_its_band() -> None:
    model = tiny("hybrid", "complex").eval()
    y = model(torch.randn(1, 4, BINS, 16))
    assert y[:, 2, :, 16:].abs().max() == 0


def test_full_size_models_fit_the_budget() -> None:
    """Shipped sizes: <= 30 MB of float32 weights and <= 5 GFLOP per 192-frame segment."""
    for name in ("unet", "hybrid"):
        model = build_model(name)
        assert count_parameters(model) * 4 < 30e6
        flops = count_flops(model, bins=1024, frames=192)
        assert 1e8 < flops < 5e9


@pytest.mark.parametrize("name", ["unet", "hybrid"])
def test_overfitting_one_excerpt_drives_the_loss_down(name: str) -> None:
    """Training works at all: 50 Adam steps on one excerpt raise its SDR clearly."""
    torch.manual_seed(1)
    model = tiny(name, "complex" if name == "hybrid" else "magnitude")
    n = spec.samples_for(32)
    t = torch.arange(n) / 44100
    stems = torch.stack([
        torch.sin(2 * torch.pi * 300 * t),  # "vocals"
        torch.randn(n) * (torch.sin(2 * torch.pi * 4 * t) > 0.9),  # "drums": bursts
        torch.sin(2 * torch.pi * 60 * t),  # "bass"
        torch.sin(2 * torch.pi * 1100 * t) * 0.5,  # "other"
    ]).unsqueeze(1).repeat(1, 2, 1).unsqueeze(0) * 0.2  # (1, S, 2, n)
    # bins=64 covers ~690 Hz: keep the toy content inside it except "other"'s partial
    x = spec.to_model(spec.stft(stems.sum(1)), BINS)
    ref = spec.to_model(spec.stft(stems), BINS)
    ref_wave = spec.istft(spec.from_model(ref), n)
    loss_fn = SeparationLoss(LossConfig(spec_l1=1.0, time_sdr=0.1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def score() -> float:
        model.eval()
        with torch.no_grad():
            est = spec.istft(spec.from_model(model(x)), n)
        model.train()
        return float(sdr(est[:, :3].reshape(3, -1), ref_wave[:, :3].reshape(3, -1)).mean())

    before = score()
    losses = []
    for _ in range(50):
        loss, _ = loss_fn(model(x), ref, ref_wave)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
    assert score() > before + 3.0  # dB
