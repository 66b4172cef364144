"""``python -m training ensemble``: one model file that averages several models' stems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper

from engine.model import load_model
from engine.separate import separate
from training import ensemble as ens

STEMS = "vocals,drums,bass,other"


def share_model(path: Path, shares: list[float], frames: int = 64, bins: int = 128,
                stems: str = STEMS, opset: int = 17) -> Path:
    """A contract model whose stem k is the mixture times ``shares[k]``."""
    n = len(stems.split(","))
    g = helper.make_graph(
        [helper.make_node("Unsqueeze", ["mix", "axis"], ["mix5"]),
         helper.make_node("Mul", ["mix5", "share"], ["stems"])],
        "share",
        [helper.make_tensor_value_info("mix", TensorProto.FLOAT, ["batch", 4, bins, frames])],
        [helper.make_tensor_value_info("stems", TensorProto.FLOAT,
                                       ["batch", n, 4, bins, frames])],
        initializer=[helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("share", TensorProto.FLOAT, [1, n, 1, 1, 1], shares)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    meta = {"stems": stems, "sample_rate": "44100", "n_fft": "4096", "hop": "1024",
            "bins": str(bins), "frames": str(frames), "name": path.stem, "version": "2",
            "description": "test"}
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    return path


def test_ensemble_stems_are_the_weighted_mean_and_play_in_the_engine(tmp_path: Path) -> None:
    a = share_model(tmp_path / "a.onnx", [0.7, 0.1, 0.1, 0.1])
    b = share_model(tmp_path / "b.onnx", [0.1, 0.1, 0.7, 0.1])
    out = tmp_path / "both.onnx"
    assert ens.main([str(a), str(b), "-o", str(out), "--name", "both", "--version", "3",
                     "--weights", "3", "1"]) == 0
    assert out.stat().st_mode & 0o044 == 0o044  # readable like any file the user writes
    model = load_model(out, provider="cpu")
    assert model.info.name == "both" and model.info.version == "3"
    assert model.info.stems == tuple(STEMS.split(","))
    x = np.random.default_rng(0).standard_normal((1, 4, 128, 64)).astype(np.float32)
    y = model.run(x)
    want = 0.75 * np.array([0.7, 0.1, 0.1, 0.1]) + 0.25 * np.array([0.1, 0.1, 0.7, 0.1])
    np.testing.assert_allclose(y[0], want[:, None, None, None] * x[0][None], rtol=1e-5,
                               atol=1e-6)
    # what a listener gets: the engine separates with it like with any model
    audio = np.random.default_rng(1).standard_normal((2, 44100)).astype(np.float32) * 0.1
    stems = separate(model, audio)
    assert stems.shape == (4, 2, 44100)
    np.testing.assert_allclose(stems.sum(axis=0), audio, atol=1e-4)
    assert np.abs(stems[0]).mean() > np.abs(stems[1]).mean()  # vocals got the biggest share


@pytest.mark.parametrize("kwargs, words", [
    ({"stems": "vocals,accompaniment"}, "stems"),
    ({"frames": 32}, "frames"),
    ({"opset": 13}, "opset"),
])
def test_members_that_do_not_fit_are_one_line_and_nothing_is_written(
        tmp_path: Path, capsys, kwargs, words) -> None:
    a = share_model(tmp_path / "a.onnx", [0.25] * 4)
    n = len(kwargs.get("stems", STEMS).split(","))
    b = share_model(tmp_path / "b.onnx", [1.0 / n] * n, **kwargs)
    out = tmp_path / "out.onnx"
    assert ens.main([str(a), str(b), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err and "\n" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx"]


def test_bad_member_or_output_is_one_line(tmp_path: Path, capsys) -> None:
    a = share_model(tmp_path / "a.onnx", [0.25] * 4)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert ens.main([str(a), str(junk), "-o", str(tmp_path / "o.onnx")]) == 1
    assert capsys.readouterr().err.strip().startswith("error:")
    assert ens.main([str(a), "-o", str(tmp_path / "o.onnx")]) == 1
    assert "at least two" in capsys.readouterr().err
    assert ens.main([str(a), str(a), "-o", str(tmp_path / "nowhere" / "o.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o.onnx").exists()


def test_an_existing_file_is_replaced_only_by_a_finished_ensemble(tmp_path: Path) -> None:
    """The output may be one of the members (e.g. models/hybrid.onnx grows a branch)."""
    a = share_model(tmp_path / "a.onnx", [0.7, 0.1, 0.1, 0.1])
    b = share_model(tmp_path / "b.onnx", [0.1, 0.1, 0.7, 0.1])
    assert ens.main([str(a), str(b), "-o", str(a)]) == 0
    x = np.ones((1, 4, 128, 64), dtype=np.float32)
    y = load_model(a, provider="cpu").run(x)
    np.testing.assert_allclose(y[0, :, 0, 0, 0], [0.4, 0.1, 0.4, 0.1], rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx"]
