"""The spatial Wiener post-filter (``models.common.spatial_wiener``, ``model.wiener``,
``loss.teacher_wiener``): the posterior mean of a local Gaussian model of the stems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.checkpoint import save_checkpoint
from training.models import build_model
from training.models.common import spatial_wiener

BINS, FRAMES = 32, 48


def to_complex(x: np.ndarray) -> np.ndarray:
    """``(..., 4, F, T)`` (L re, L im, R re, R im) -> ``(..., 2, F, T)`` complex."""
    return x[..., 0::2, :, :] + 1j * x[..., 1::2, :, :]


def reference(mix: np.ndarray, stems: np.ndarray, power: float) -> np.ndarray:
    """The textbook computation, bin by bin: ``mix (2, F, T)``, ``stems (S, 2, F, T)`` complex
    -> ``(S, 2, F, T)``: ``w_j R_j (sum_k w_k R_k)^-1 x`` with ``w_j = v_j ** power``."""
    n_stems, _, n_bins, n_frames = stems.shape
    out = np.zeros_like(stems)
    v = np.mean(np.abs(stems) ** 2, axis=1)  # (S, F, T)
    for f in range(n_bins):
        covs = []
        for j in range(n_stems):
            y = stems[j, :, f, :]  # (2, T)
            covs.append(y @ y.conj().T / v[j, f].sum())
        for t in range(n_frames):
            c = sum(v[j, f, t] ** power * covs[j] for j in range(n_stems))
            z = np.linalg.solve(c, mix[:, f, t])
            for j in range(n_stems):
                out[j, :, f, t] = v[j, f, t] ** power * covs[j] @ z
    return out


def random_segment(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A mixture and four stem estimates of different levels and panning, model layout."""
    g = torch.Generator().manual_seed(seed)
    stems = torch.randn(1, 4, 4, BINS, FRAMES, generator=g)
    stems = stems * torch.tensor([1.0, 0.3, 2.0, 0.1]).view(1, 4, 1, 1, 1)
    stems[:, 0, 2:] *= 0.2  # stem 0 mostly left
    mix = stems.sum(dim=1) + 0.05 * torch.randn(1, 4, BINS, FRAMES, generator=g)
    return mix, stems


@pytest.mark.parametrize("power", [1.0, 0.3])
def test_it_is_the_posterior_mean_of_the_local_gaussian_model(power: float) -> None:
    mix, stems = random_segment(1)
    got = to_complex(spatial_wiener(mix, stems, power, reg=0.0)[0].double().numpy())
    want = reference(to_complex(mix[0].double().numpy()), to_complex(stems[0].double().numpy()),
                     power)
    assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()


def test_the_filtered_stems_sum_to_the_mixture() -> None:
    """What the filter hands out is the mixture (up to its regularisation): nothing is lost or
    made up, whatever the estimates summed to."""
    mix, stems = random_segment(2)
    out = spatial_wiener(mix, stems * 1.7, 0.3)
    err = (out.sum(dim=1) - mix).abs().max() / mix.abs().max()
    assert err < 5e-3
    assert (spatial_wiener(mix, stems, 0.3) - stems).abs().max() > 0.1  # and it does something


def test_silence_stays_silent_and_finite() -> None:
    """Digital silence in the mixture and in every estimate (a song's lead-in) gives zeros,
    not NaN, and so does one silent stem among audible ones."""
    zeros = torch.zeros(1, 4, BINS, FRAMES)
    assert torch.equal(spatial_wiener(zeros, torch.zeros(1, 4, 4, BINS, FRAMES), 0.3),
                       torch.zeros(1, 4, 4, BINS, FRAMES))
    mix, stems = random_segment(3)
    stems[:, 1] = 0.0
    out = spatial_wiener(mix, stems, 0.3)
    assert torch.isfinite(out).all() and out[:, 1].abs().max() < 1e-3


def test_bf16_estimates_are_filtered_in_float32() -> None:
    mix, stems = random_segment(4)
    got = spatial_wiener(mix.bfloat16(), stems.bfloat16(), 0.3)
    want = spatial_wiener(mix.bfloat16().float(), stems.bfloat16().float(), 0.3)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("kind", [
    {"name": "hybrid_unet", "base": 4, "depth": 2, "at": 2, "heads": 2},
    {"name": "unet", "base": 4, "depth": 2},
])
def test_a_model_with_wiener_ends_in_the_filter(kind: dict) -> None:
    """``model.wiener``: the same weights, the filter applied to what they make; training goes
    through it (every weight gets a gradient)."""
    name = kind["name"]
    args = {k: v for k, v in kind.items() if k != "name"}
    torch.manual_seed(0)
    plain = build_model(name, bins=BINS, **args).eval()
    filtered = build_model(name, bins=BINS, wiener=0.3, **args).eval()
    filtered.load_state_dict(plain.state_dict())
    x = 10 * torch.randn(2, 4, BINS, FRAMES)
    with torch.no_grad():
        torch.testing.assert_close(filtered(x), spatial_wiener(x, plain(x), 0.3))
    filtered.train()
    filtered(x).abs().mean().backward()
    missing = [n for n, p in filtered.named_parameters() if p.grad is None]
    assert not missing


def test_teacher_wiener_filters_the_teachers_mean(tmp_path: Path) -> None:
    from training.train import load_teacher
    from training.trainconfig import config_from_dict

    torch.manual_seed(5)
    cfg_model = {"name": "unet", "bins": BINS, "base": 4, "depth": 2}
    members = [build_model("unet", bins=BINS, base=4, depth=2).eval() for _ in range(2)]
    paths = []
    for i, m in enumerate(members):
        path = tmp_path / f"t{i}.pt"
        save_checkpoint(path, {"model": m.state_dict(), "config": {"model": cfg_model}})
        paths.append(str(path))
    for teachers in (paths, paths[:1]):
        cfg = config_from_dict({
            "name": "t", "run_dir": str(tmp_path / "run"), "model": cfg_model,
            "data": {"target": "x.Y"},
            "loss": {"distill": 1.0, "teacher": teachers, "teacher_wiener": 0.3}})
        teacher = load_teacher(cfg, torch.device("cpu"))
        assert teacher is not None
        x = 10 * torch.randn(1, 4, BINS, FRAMES)
        with torch.no_grad():
            mean = sum(m(x) for m in members[: len(teachers)]) / len(teachers)
            torch.testing.assert_close(teacher(x), spatial_wiener(x, mean, 0.3),
                                       rtol=1e-5, atol=1e-5)
