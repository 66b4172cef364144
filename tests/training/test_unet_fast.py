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
    assert torch.equal(new["core.head.weight"], old["core.head.weight"][:, :3])
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


def _config(tmp_path: Path, toy_dataset: Path, loss: dict) -> Path:
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "tiny", "run_dir": str(tmp_path / "run"), "frames": 16,
        "model": {"name": "unet", "base": 4, "depth": 2, "act": "relu", "top_kernel": 1},
        "data": {
            "target": "training.data.mix.MixDataset",
            "config_target": "training.data.mix.MixConfig",
            "config": {"proportions": {"synthetic": 1.0}, "synthetic_dirs": [str(toy_dataset)],
                       "cache_dir": None, "samples_per_epoch": 4},
        },
        "valid": {"dirs": [str(toy_dataset)], "excerpts": 1, "frames": 16},
        "loss": loss,
        "train": {"batch_size": 2, "epochs": 1, "warmup_steps": 1, "lr": 1e-3},
    }))
    return cfg


def _teacher_checkpoint(tmp_path: Path) -> Path:
    """A small untrained unet saved as a training checkpoint (a teacher for the tests)."""
    ckpt = tmp_path / "teacher.pt"
    save_checkpoint(ckpt, {"model": build_model("unet", bins=1024, base=4, depth=2).state_dict(),
                           "config": {"model": {"name": "unet", "base": 4, "depth": 2}}})
    return ckpt


def test_distillation_adds_the_teachers_view_of_every_stem(tmp_path: Path,
                                                           toy_dataset: Path) -> None:
    """``loss.distill``: the training CSV logs the distance to the teacher, which falls when
    the student learns only from it."""
    import csv

    from training import train

    ckpt = _teacher_checkpoint(tmp_path)
    cfg = _config(tmp_path, toy_dataset, {"spec_l1": 0.0, "time_sdr": 0.0, "distill": 1.0,
                                          "teacher": str(ckpt)})
    assert train.main(["--config", str(cfg)]) == 0
    with open(tmp_path / "run" / "train.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["distill"]) > 0 for r in rows)
    assert float(rows[0]["loss"]) == pytest.approx(float(rows[0]["distill"]), rel=1e-5)


@pytest.mark.parametrize("teacher", ["", "missing.pt", "narrow.pt"])
def test_a_teacher_that_cannot_serve_is_a_one_line_error(
        tmp_path: Path, toy_dataset: Path, teacher: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    from training import train

    if teacher == "narrow.pt":  # another band than the student's 1024 bins
        save_checkpoint(tmp_path / teacher, {
            "model": build_model("unet", bins=512, base=4, depth=2).state_dict(),
            "config": {"model": {"name": "unet", "bins": 512, "base": 4, "depth": 2}}})
    path = str(tmp_path / teacher) if teacher else ""
    cfg = _config(tmp_path, toy_dataset, {"distill": 1.0, "teacher": path})
    assert train.main(["--config", str(cfg)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loss.teacher" in err[0]


def test_a_list_of_teachers_teaches_their_mean_with_each_ones_weight_average(
        tmp_path: Path) -> None:
    """``loss.teacher`` as a list: the student learns the stems the members' ensemble makes
    (their mean output, as ``python -m training ensemble`` builds it), and a member saved with
    a weight average teaches with that average (what its exported model holds)."""
    from training.train import load_teacher
    from training.trainconfig import config_from_dict

    torch.manual_seed(5)
    cfg_model = {"name": "unet", "bins": BINS, "base": 4, "depth": 2}
    raw, averaged = (build_model("unet", bins=BINS, base=4, depth=2) for _ in range(2))
    other = build_model("unet", bins=BINS, base=4, depth=2)
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    save_checkpoint(first, {"model": raw.state_dict(), "config": {"model": cfg_model},
                            "average": {"model": averaged.state_dict(), "updates": 9}})
    save_checkpoint(second, {"model": other.state_dict(), "config": {"model": cfg_model}})
    cfg = config_from_dict({
        "name": "t", "run_dir": str(tmp_path / "run"), "model": cfg_model,
        "data": {"target": "x.Y"},
        "loss": {"distill": 1.0, "teacher": [str(first), str(second)]}})
    teacher = load_teacher(cfg, torch.device("cpu"))
    assert teacher is not None and not any(p.requires_grad for p in teacher.parameters())
    x = torch.randn(1, 4, BINS, 16)
    with torch.no_grad():
        want = (averaged.eval()(x) + other.eval()(x)) / 2
        got = teacher(x)
        not_raw = (raw.eval()(x) + other(x)) / 2
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert (got - not_raw).abs().max() > 1e-3


def test_magnitude_distillation_ignores_the_teachers_phase() -> None:
    """``loss.distill_on: magnitude``: a mask student keeps the mixture's phase, so only the
    magnitudes are compared; a teacher that differs by phase alone is at distance 0 there and
    far as complex numbers."""
    from training.losses import distill_loss

    torch.manual_seed(2)
    est = torch.randn(2, 4, 4, 32, 8)
    b, s, _, f, t = est.shape
    re, im = est.reshape(b, s, 2, 2, f, t).unbind(dim=3)
    turn = torch.rand(b, s, 2, f, t) * 6.28  # each bin turned by its own angle
    rotated = torch.stack([re * turn.cos() - im * turn.sin(),
                           re * turn.sin() + im * turn.cos()], dim=3).reshape(est.shape)
    assert float(distill_loss(est, rotated, "magnitude")) < 1e-5
    assert float(distill_loss(est, rotated, "complex")) > 0.5
    louder = est * 1.5
    assert float(distill_loss(est, louder, "magnitude")) == pytest.approx(1 / 3, rel=1e-4)
    with pytest.raises(ValueError, match="distill_on"):
        distill_loss(est, louder, "phase")


def test_an_unknown_distill_on_is_a_one_line_error(
        tmp_path: Path, toy_dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training import train

    ckpt = _teacher_checkpoint(tmp_path)
    cfg = _config(tmp_path, toy_dataset, {"distill": 1.0, "teacher": str(ckpt),
                                          "distill_on": "phase"})
    assert train.main(["--config", str(cfg)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loss.distill_on" in err[0]


def test_magnitude_distillation_trains(tmp_path: Path, toy_dataset: Path) -> None:
    import csv

    from training import train

    ckpt = _teacher_checkpoint(tmp_path)
    cfg = _config(tmp_path, toy_dataset, {"spec_l1": 0.0, "time_sdr": 0.0, "distill": 1.0,
                                          "teacher": str(ckpt), "distill_on": "magnitude"})
    assert train.main(["--config", str(cfg)]) == 0
    with open(tmp_path / "run" / "train.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["distill"]) > 0 for r in rows)
