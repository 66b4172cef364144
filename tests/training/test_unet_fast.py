"""The fast unet (version 3): ReLU, a 1×1 last merge, started from a wider trained unet."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.checkpoint import save_checkpoint
from training.models import build_model, init_weights
from training.models.common import apply_masks, log_magnitude, merge_complex, split_complex

BINS = 64


def trained_unet(tmp_path: Path, base: int = 8) -> tuple[Path, torch.nn.Module]:
    """A 'trained' unet: random weights and BatchNorm statistics that are not the defaults."""
    torch.manual_seed(3)
    unet = build_model("unet", bins=BINS, base=base, depth=2)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
        for m in unet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "unet.pt"
    save_checkpoint(path, {"model": unet.state_dict(),
                           "config": {"model": {"name": "unet", "base": base, "depth": 2}}})
    return path, unet.eval()


def test_masks_in_the_input_layout_are_the_stacked_masks() -> None:
    """One broadcast product in the mixture's channel order gives exactly the sigmoid masks
    applied to real and imaginary parts alike."""
    torch.manual_seed(0)
    model = build_model("unet", bins=BINS, base=4, depth=2).eval()
    x = 0.1 * torch.randn(2, 4, BINS, 16)
    with torch.no_grad():
        got = model(x)
        re, im = split_complex(x)
        logits = model.core(model.norm(log_magnitude(re, im))).reshape(2, 4, 2, BINS, 16)
        want = merge_complex(*apply_masks(logits, re, im, "magnitude", 1.5))
    assert torch.equal(got, want)


def test_same_width_start_is_the_trained_unet(tmp_path: Path) -> None:
    ckpt, unet = trained_unet(tmp_path)
    model = build_model("unet", bins=BINS, base=8, depth=2)
    assert init_weights(model, ckpt) == len(model.state_dict())
    x = 0.1 * torch.randn(1, 4, BINS, 16)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), unet(x))


def test_narrower_relu_unet_starts_from_the_first_channels(tmp_path: Path) -> None:
    ckpt, unet = trained_unet(tmp_path)
    model = build_model("unet", bins=BINS, base=6, depth=2, act="relu", top_kernel=1)
    init_weights(model, ckpt)
    old, new = unet.state_dict(), model.state_dict()
    # a plain conv: the first output and input channels
    assert torch.equal(new["core.down.1.0.conv.weight"], old["core.down.1.0.conv.weight"][:12, :6])
    # the last merge reads [upsampled (4 of 4 -> 3), input skip (2)]: each part's first channels,
    # the centre tap of the 3x3
    w_old, w_new = old["core.merge.1.conv.weight"], new["core.merge.1.conv.weight"]
    assert w_new.shape == (3, 5, 1, 1)
    assert torch.equal(w_new[:, :3, 0, 0], w_old[:3, :3, 1, 1])
    assert torch.equal(w_new[:, 3:, 0, 0], w_old[:3, 4:6, 1, 1])
    # and it runs, and training moves it
    x = 0.1 * torch.randn(2, 4, BINS, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    model(x)[:, 0].abs().mean().backward()
    opt.step()
    assert torch.isfinite(model.eval()(x)).all()


@pytest.mark.parametrize("bad", ["wider", "complex", "deeper"])
def test_unets_that_do_not_fit_are_refused(tmp_path: Path, bad: str) -> None:
    ckpt, _ = trained_unet(tmp_path)
    kw = {"wider": {"base": 12, "depth": 2}, "complex": {"base": 8, "depth": 2, "mask": "complex"},
          "deeper": {"base": 8, "depth": 3}}[bad]
    with pytest.raises(ValueError):
        init_weights(build_model("unet", bins=BINS, **kw), ckpt)


def test_unknown_activation_and_kernel_are_refused() -> None:
    with pytest.raises(ValueError, match="activation"):
        build_model("unet", bins=BINS, base=4, depth=2, act="tanh")
    with pytest.raises(ValueError, match="top_kernel"):
        build_model("unet", bins=BINS, base=4, depth=2, top_kernel=5)
