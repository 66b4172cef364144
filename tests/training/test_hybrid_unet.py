"""``hybrid_unet`` (the quality model, version 2): contract, complex masks, and the start from a
trained ``unet`` — a fresh model with the unet's weights must separate exactly as the unet does,
so training can only add to it. Tiny configs on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training import spec, train
from training.checkpoint import save_checkpoint
from training.models import build_model, init_weights

torch.set_num_threads(1)  # tiny models: extra threads only add contention on a shared CPU

BINS = 64
UNET = {"base": 4, "depth": 2}


def tiny_hybrid(**kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    kw.setdefault("at", 2)
    return build_model("hybrid_unet", bins=BINS, heads=2, **UNET, **kw)


def unet_checkpoint(tmp_path: Path, mask: str = "magnitude", bins: int = BINS,
                    **kw: object) -> Path:
    """A 'trained' tiny unet: random weights and BatchNorm statistics that are not the defaults."""
    torch.manual_seed(7)
    model_kw = {**UNET, **kw}
    unet = build_model("unet", bins=bins, mask=mask, **model_kw)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        unet.train()
        for _ in range(3):
            unet(torch.randn(2, 4, bins, 16) * 5)
    path = tmp_path / "unet.pt"
    cfg = {"model": {"name": "unet", "bins": bins, "mask": mask, **model_kw}}
    save_checkpoint(path, {"model": unet.state_dict(), "config": cfg})
    return path


@pytest.mark.parametrize("at", [1, 2])
@pytest.mark.parametrize("frames", [16, 32])
def test_contract_shapes_and_backward(at: int, frames: int) -> None:
    model = tiny_hybrid(at=at)
    y = model(torch.randn(2, 4, BINS, frames) * 5)
    assert y.shape == (2, 4, 4, BINS, frames) and torch.isfinite(y).all()
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_masks_are_complex_and_bounded_by_one() -> None:
    """Once the phase head is trained the stems may turn the mixture's phase (what a magnitude
    mask cannot), but never amplify a bin: |mask| <= 1."""
    model = tiny_hybrid().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    x = torch.randn(1, 4, BINS, 16) * 3
    with torch.no_grad():
        ratio = spec.from_model(model(x)) / spec.from_model(x).unsqueeze(1)
    assert ratio.abs().max() <= 1 + 1e-4
    assert ratio.imag.abs().max() > 1e-2


def test_a_new_model_started_from_a_unet_separates_exactly_as_the_unet(tmp_path: Path) -> None:
    ckpt = unet_checkpoint(tmp_path)
    model = tiny_hybrid()
    assert init_weights(model, ckpt) > 0
    unet = build_model("unet", bins=BINS, **UNET)
    unet.load_state_dict(torch.load(ckpt, weights_only=False)["model"])
    x = torch.randn(2, 4, BINS, 32) * 5
    with torch.no_grad():
        want = unet.eval()(x)
        got = model.eval()(x)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    # one training step moves the new parts (the time transformer, the phase head)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(x)[:, 0].abs().mean().backward()
    opt.step()
    with torch.no_grad():
        assert model.phase.weight.abs().max() > 0
        assert model.time[0].att.out.weight.abs().max() > 0


@pytest.mark.parametrize("case", ["complex unet", "other size", "hybrid", "not a checkpoint"])
def test_starting_from_weights_that_do_not_fit_is_refused(tmp_path: Path, case: str) -> None:
    if case == "complex unet":
        ckpt = unet_checkpoint(tmp_path, mask="complex")
    elif case == "other size":
        ckpt = unet_checkpoint(tmp_path, base=8)
    elif case == "hybrid":
        ckpt = tmp_path / "h.pt"
        save_checkpoint(ckpt, {"model": tiny_hybrid().state_dict(),
                               "config": {"model": {"name": "hybrid_unet"}}})
    else:
        ckpt = tmp_path / "x.pt"
        torch.save({"weights": 1}, ckpt)
    with pytest.raises(ValueError):
        init_weights(tiny_hybrid(), ckpt)
    with pytest.raises(ValueError):  # a unet starts only from a unet as wide or wider
        init_weights(build_model("unet", bins=BINS, base=8, depth=2), unet_checkpoint(tmp_path))


def test_train_cli_starts_from_a_unet(tmp_path: Path, toy_dataset: Path) -> None:
    """``--init-from``: step 0 of the new run is the unet (its validation SDR, exactly)."""
    import yaml

    unet = unet_checkpoint(tmp_path, bins=1024)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "tiny", "run_dir": str(tmp_path / "run"), "frames": 16,
        "model": {"name": "hybrid_unet", "base": 4, "depth": 2, "at": 2, "heads": 2},
        "data": {
            "target": "training.data.mix.MixDataset",
            "config_target": "training.data.mix.MixConfig",
            "config": {"proportions": {"synthetic": 1.0}, "synthetic_dirs": [str(toy_dataset)],
                       "cache_dir": None, "samples_per_epoch": 4},
        },
        "valid": {"dirs": [str(toy_dataset)], "excerpts": 1, "frames": 16},
        "train": {"batch_size": 2, "epochs": 1, "warmup_steps": 1, "lr": 1e-3},
    }))
    assert train.main(["--config", str(cfg), "--init-from", str(unet)]) == 0
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert last["step"] == 2
    started = build_model("hybrid_unet", base=4, depth=2, at=2, heads=2)
    init_weights(started, unet)
    moved = [k for k, v in started.state_dict().items()
             if k.startswith("core.") and v.dtype.is_floating_point
             and not torch.equal(v, last["model"][k])]
    assert moved  # it trained from the unet's weights ...
    copied = [k for k, v in started.state_dict().items()
              if k.startswith("core.") and torch.allclose(v, last["model"][k], atol=5e-3)]
    assert len(copied) > len(started.state_dict()) // 4  # ... not from a fresh start


def test_train_cli_refuses_bad_models_and_init_with_resume(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "tiny", "run_dir": str(tmp_path / "run"), "frames": 16,
        "model": {"name": "hybrid_unet", "bins": 1024, "base": 4, "depth": 2, "at": 3},
        "data": {"target": "x.Y"}, "train": {"batch_size": 1},
    }))
    assert train.main(["--config", str(cfg)]) == 1  # a model that cannot be built
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "at=3" in err and "\n" not in err
    text = cfg.read_text().replace("at: 3", "at: 2")
    cfg.write_text(text)
    assert train.main(["--config", str(cfg), "--init-from", str(tmp_path / "none.pt"),
                       "--resume"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--init-from" in err and "\n" not in err
    assert train.main(["--config", str(cfg), "--init-from", str(tmp_path / "none.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert "--init-from" in err and "none.pt" in err and "\n" not in err
