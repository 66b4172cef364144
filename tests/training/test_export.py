"""``python -m training export``: ONNX contract, metadata, onnxruntime parity, quantisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.model import load_model
from training import export
from training.checkpoint import load_model_from_checkpoint, save_checkpoint
from training.models import build_model

TINY = {
    "unet": {"name": "unet", "base": 4, "depth": 3},
    # version 3's options: LeakyReLU, a 1x1 full-resolution block of its own width
    "unet_fast": {"name": "unet", "base": 4, "depth": 3, "act": "leaky", "top_kernel": 1,
                  "top_width": 8},
    "hybrid": {"name": "hybrid", "dim": 32, "heads": 2, "ff": 64, "layers": 1,
               "unet_base": 4, "unet_depth": 3},
    "hybrid_unet": {"name": "hybrid_unet", "base": 4, "depth": 3, "at": 2, "heads": 2},
    # version 4's spatial Wiener post-filter at the end of the graph (and the fast model's)
    "hybrid_unet_wiener": {"name": "hybrid_unet", "base": 4, "depth": 3, "at": 2, "heads": 2,
                           "wiener": 0.3},
    "unet_fast_wiener": {"name": "unet", "base": 4, "depth": 3, "act": "leaky",
                         "top_kernel": 1, "top_width": 8, "wiener": 0.3},
}


def checkpoint(tmp_path: Path, name: str) -> Path:
    torch.manual_seed(3)
    cfg = {"name": name, "model": dict(TINY[name]),
           "stems": ["vocals", "drums", "bass", "other"], "description": f"tiny {name}"}
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name"}
    model = build_model(cfg["model"]["name"], **kwargs)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        model.train()
        for _ in range(3):
            model(torch.from_numpy(export.test_input(1024, 32, batch=2, seed=9)))
    path = tmp_path / f"{name}.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": cfg, "step": 0})
    return path


@pytest.mark.parametrize("name", ["unet", "unet_fast", "hybrid", "hybrid_unet",
                                  "hybrid_unet_wiener", "unet_fast_wiener"])
def test_export_honours_the_contract(tmp_path: Path, name: str) -> None:
    out = tmp_path / "models" / f"{name}.onnx"
    assert export.main([str(checkpoint(tmp_path, name)), "-o", str(out), "--frames", "64"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta == {
        "stems": "vocals,drums,bass,other", "sample_rate": "44100", "n_fft": "4096",
        "hop": "1024", "bins": "1024", "frames": "64", "name": name, "version": "1",
        "description": f"tiny {name}",
    }
    model = load_model(out, provider="cpu")  # the engine accepts it
    assert model.info.frames == 64 and model.batch_dynamic

    torch_model, _ = export.load_model_from_checkpoint(checkpoint(tmp_path, name))
    x = export.test_input(1024, 64, batch=3, seed=42)
    got = model.run(x)
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 4, 4, 1024, 64)
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4


def test_quantized_export_is_smaller_and_close(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path, "hybrid")
    fp32, int8 = tmp_path / "h.onnx", tmp_path / "h8.onnx"
    export.export(ckpt, fp32, frames=64)
    res = export.export(ckpt, int8, frames=64, quantize=True)
    assert int8.stat().st_size < 0.7 * fp32.stat().st_size
    assert float(res["parity_fp32"]) < 1e-4
    assert float(res["parity"]) < 0.5  # int8 weights: a coarse but same-shaped answer
    assert load_model(int8, provider="cpu").info.stems == ("vocals", "drums", "bass", "other")


def test_bad_checkpoint_is_a_one_line_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    out = tmp_path / "x.onnx"
    assert export.main([str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not a stemplay training checkpoint" in err and err.count("\n") == 1
    assert not out.exists()


def test_average_exports_the_weight_average_of_a_resumable_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--average``: the exported model computes what the state's weight average computes,
    not its last weights; a state without an average is a one-line error and writes nothing."""
    ckpt = checkpoint(tmp_path, "unet")
    state = torch.load(ckpt, weights_only=False)
    torch.manual_seed(8)
    other = build_model("unet", **{k: v for k, v in TINY["unet"].items() if k != "name"})
    last = tmp_path / "last.pt"
    save_checkpoint(last, state | {"average": {"model": other.state_dict(), "updates": 5}})
    out = tmp_path / "avg.onnx"
    assert export.main([str(last), "-o", str(out), "--frames", "32", "--average"]) == 0
    x = export.test_input(1024, 32, seed=4)
    with torch.no_grad():
        want = other.eval()(torch.from_numpy(x)).numpy()
    got = load_model(out, provider="cpu").run(x)
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-4

    none = tmp_path / "none.onnx"
    assert export.main([str(ckpt), "-o", str(none), "--average"]) == 1
    err = capsys.readouterr().err
    assert "no weight average" in err and err.count("\n") == 1
    assert not none.exists()


@pytest.mark.parametrize("name", ["unet", "hybrid", "ensemble"])
def test_shipped_models_load_and_have_cards(name: str) -> None:
    """models/NAME.onnx honours the contract, is <= 30 MB and has a card crediting real data;
    a trained model has its resumable state beside it (the ensemble is made of trained ones)."""
    root = Path(__file__).resolve().parents[2] / "models"
    path = root / f"{name}.onnx"
    assert path.stat().st_size <= 30e6
    model = load_model(path, provider="cpu")
    assert model.info.name == name and model.info.frames == 192 and model.info.bins == 1024
    assert model.stems == ("vocals", "drums", "bass", "other")
    y = model.run(export.test_input(1024, 192))
    assert y.shape == (1, 4, 4, 1024, 192) and np.isfinite(y).all()
    card = (root / f"{name}.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "oracle ideal ratio mask" in card
    if name == "ensemble":  # made by `training ensemble` from shipped members: no state of its own
        assert "python -m training ensemble" in card
        return
    assert (root / "checkpoints" / f"{name}.pt").stat().st_size <= 30e6


def test_export_can_end_any_checkpoint_in_the_wiener_filter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--wiener POWER`` (how hybrid version 4 was first made from version 3's weights): the
    exported graph is the checkpoint's model followed by the filter; a model without the
    option or a power out of range is a one-line error and writes nothing."""
    from training.models.common import spatial_wiener

    ckpt = checkpoint(tmp_path, "hybrid_unet")
    out = tmp_path / "w.onnx"
    assert export.main([str(ckpt), "-o", str(out), "--frames", "64", "--wiener", "0.3"]) == 0
    torch_model, _ = export.load_model_from_checkpoint(ckpt)
    x = export.test_input(1024, 64, batch=1, seed=4)
    with torch.no_grad():
        want = spatial_wiener(torch.from_numpy(x), torch_model(torch.from_numpy(x)), 0.3)
    got = load_model(out, provider="cpu").run(x)
    assert np.abs(got - want.numpy()).max() < 1e-4 * np.abs(want.numpy()).max()

    capsys.readouterr()
    for name, power in (("hybrid", "0.3"), ("hybrid_unet", "0")):
        bad = tmp_path / f"bad-{name}.onnx"
        assert export.main([str(checkpoint(tmp_path, name)), "-o", str(bad), "--frames", "64",
                            "--wiener", power]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "error:" in err[0] and not bad.exists()


def test_drop_phase_exports_real_masks_without_trigonometry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--drop-phase`` (how the shipped hybrid leaves out a phase head that learned nothing):
    no Cos/Sin of mask angles in the graph, each stem is a real mask times the mixture, and the command says
    how far that is from the full model; a model without a phase head is a one-line error."""
    ckpt = checkpoint(tmp_path, "hybrid_unet_wiener")
    out = tmp_path / "nophase.onnx"
    assert export.main([str(ckpt), "-o", str(out), "--frames", "64", "--drop-phase"]) == 0
    said = capsys.readouterr().out
    assert "without the phase head" in said
    full = tmp_path / "full.onnx"
    assert export.main([str(ckpt), "-o", str(full), "--frames", "64"]) == 0

    def trig(path: Path) -> int:  # the transformer's positions keep theirs
        return sum(n.op_type in ("Cos", "Sin") for n in onnx.load(str(path)).graph.node)

    assert trig(out) == trig(full) - 2  # the mask's cos and sin are gone
    torch_model, _ = load_model_from_checkpoint(ckpt)
    torch_model.phase = None
    torch_model.wiener = None  # the masks alone: real, so each stem has the mixture's phase
    x = export.test_input(1024, 64)
    with torch.no_grad():
        stems = torch_model(torch.from_numpy(x)).numpy()[0]
    mix = x[0]
    # real mask: stem re / mix re == stem im / mix im, per stem, channel and bin
    cross = stems[:, 0::2] * mix[None, 1::2] - stems[:, 1::2] * mix[None, 0::2]
    assert np.abs(cross).max() < 1e-4 * np.abs(mix).max() ** 2
    res = export.export(ckpt, tmp_path / "again.onnx", frames=64, drop_phase=True)
    assert 0.0 <= float(res["phase_effect"]) < 1.0
    capsys.readouterr()
    bad = tmp_path / "bad.onnx"
    assert export.main([str(checkpoint(tmp_path, "unet")), "-o", str(bad), "--frames", "64",
                        "--drop-phase"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "phase head" in err[0] and not bad.exists()
