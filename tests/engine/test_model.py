"""engine.model: the model contract is enforced with messages naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelError
from engine.model import (
    RunCancel,
    RunCancelled,
    default_model_path,
    list_models,
    load_model,
    resolve_model_path,
)
from tests import tinymodels as tm


def test_loads_band_split_and_runs(band_split_path: Path) -> None:
    model = load_model(band_split_path)
    info = model.info
    assert info.stems == ("vocals", "drums", "bass", "other")
    assert (info.bins, info.frames, info.name) == (1024, 192, "bandsplit")
    assert info.provider in {"CPUExecutionProvider", "CUDAExecutionProvider"}
    x = np.random.default_rng(0).standard_normal((2, 4, 1024, 192)).astype(np.float32)
    y = model.run(x)
    assert y.shape == (2, 4, 4, 1024, 192)
    np.testing.assert_allclose(y.sum(axis=1), x, atol=1e-6)  # bands partition the bins


def test_provider_forced_to_cpu(band_split_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEMPLAY_PROVIDER", "cpu")
    assert load_model(band_split_path).info.provider == "CPUExecutionProvider"


def test_asking_for_cuda_where_it_cannot_run_falls_back_with_the_reason(
    band_split_path: Path,
) -> None:
    from engine.model import cuda_problem, cuda_unusable_reason

    reason = cuda_unusable_reason()
    if reason is None:
        pytest.skip("CUDA can run on this machine")
    assert "\n" not in reason and len(reason) < 100  # fits a status bar's tooltip line
    model = load_model(band_split_path, provider="cuda")
    assert model.info.provider == "CPUExecutionProvider"  # the CPU carries on
    assert cuda_problem() == reason  # remembered for the status line


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"hop": None}, "'hop' is missing"),
        ({"stems": None}, "'stems' is missing"),
        ({"sample_rate": "48000"}, "'sample_rate' is 48000"),
        ({"n_fft": "2048"}, "'n_fft' is 2048"),
        ({"hop": "512"}, "'hop' is 512"),
        ({"bins": "abc"}, "'bins' is 'abc'"),
        ({"bins": "512"}, "axis 2 is 1024"),  # graph disagrees with the metadata
        ({"frames": "96"}, "axis 3 is 192"),
        ({"frames": "dynamic"}, "but metadata field 'frames' is dynamic"),
        ({"stems": "vocals,vocals,bass,other"}, "'stems'"),
        ({"stems": "vocals,drums"}, "axis 1 is 4"),
    ],
)
def test_metadata_refusals_name_file_and_field(
    tmp_path: Path, override: dict[str, str | None], field: str
) -> None:
    path = tm.band_split_model(tmp_path / "broken.onnx", metadata=override)
    with pytest.raises(ModelError) as err:
        load_model(path)
    msg = str(err.value)
    assert "broken.onnx" in msg and field in msg
    assert "\n" not in msg


def test_wrong_input_and_output_names(tmp_path: Path) -> None:
    bad_in = tm.band_split_model(tmp_path / "in.onnx", input_name="x")
    with pytest.raises(ModelError, match=r"in\.onnx: input must be one tensor named 'mix'"):
        load_model(bad_in)
    bad_out = tm.band_split_model(tmp_path / "out.onnx", output_name="y")
    with pytest.raises(ModelError, match=r"out\.onnx: output must be a tensor named 'stems'"):
        load_model(bad_out)


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated"])
def test_corrupt_files(tmp_path: Path, kind: str) -> None:
    path = tm.corrupt_model(tmp_path / f"{kind}.onnx", kind)
    with pytest.raises(ModelError, match=rf"{kind}\.onnx: (not a valid ONNX model|file is empty)"):
        load_model(path)


def test_missing_model_lists_available(models_dir: Path, band_split_path: Path) -> None:
    with pytest.raises(ModelError, match="model 'nope' not found.*available: bandsplit"):
        load_model("nope")


def test_name_with_or_without_extension_or_path(models_dir: Path, band_split_path: Path) -> None:
    assert resolve_model_path("bandsplit") == band_split_path
    assert resolve_model_path("bandsplit.onnx") == band_split_path
    assert resolve_model_path(str(band_split_path)) == band_split_path


def test_list_and_default(models_dir: Path) -> None:
    assert list_models() == [] and default_model_path() is None
    tm.band_split_model(models_dir / "aaa.onnx")
    tm.gain_model(models_dir / "unet.onnx", name="unet")
    tm.corrupt_model(models_dir / "broken.onnx")
    errors: list[str] = []
    names = [m.path.name for m in list_models(errors)]
    assert names == ["aaa.onnx", "unet.onnx"]
    assert len(errors) == 1 and "broken.onnx" in errors[0]
    assert default_model_path() == models_dir / "unet.onnx"  # preferred by DEFAULT_MODEL_ORDER
    tm.gain_model(models_dir / "hybrid.onnx", name="hybrid")
    assert default_model_path() == models_dir / "hybrid.onnx"


def test_huge_finite_output_is_kept_and_non_finite_is_silenced(tmp_path: Path) -> None:
    # the quick float32 sum overflows to inf on huge finite values: the exact check then keeps
    # every value; a real NaN is found and silenced
    model = load_model(tm.gain_model(tmp_path / "huge.onnx", gains=(1e38, 1e38, 1e38, 1e38),
                                     bins=64, frames=8))
    x = np.full((1, 4, 64, 8), 3.0, dtype=np.float32)
    y = model.run(x)
    assert np.isfinite(y).all() and model.non_finite == 0
    x[0, 1, 5, 2] = np.nan
    y = model.run(x)
    assert model.non_finite == 4 and np.all(y[0, :, 1, 5, 2] == 0.0)
    assert np.isfinite(y).all()


def test_a_cancelled_run_raises_run_cancelled_and_the_model_keeps_working(
    band_split_path: Path,
) -> None:
    model = load_model(band_split_path)
    x = np.ones((1, 4, model.info.bins, model.info.segment_frames), dtype=np.float32)
    cancel = RunCancel()
    assert model.run(x, cancel=cancel).shape[:2] == (1, len(model.info.stems))
    cancel.cancel()
    with pytest.raises(RunCancelled):
        model.run(x, cancel=cancel)
    np.testing.assert_array_equal(model.run(x, cancel=RunCancel()), model.run(x))


def test_the_narrowed_session_gives_the_same_output(
    band_split_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two slots side by side run their models with half the CPUs each: same stems
    import engine.model as em

    monkeypatch.setattr(em, "shared_threads", lambda: 1)
    model = load_model(band_split_path)
    narrow = model.narrowed()
    assert narrow is not model and narrow.threads == 1 and narrow.info.stems == model.info.stems
    assert model.narrowed() is narrow  # made once
    x = np.random.default_rng(0).standard_normal(
        (2, 4, model.info.bins, model.info.segment_frames)).astype(np.float32)
    np.testing.assert_array_equal(narrow.run(x), model.run(x))
    # a thread count the user chose is kept
    assert load_model(band_split_path, threads=2).narrowed().threads == 2
