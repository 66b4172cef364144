"""The bench's near-zero-cost model (engine/nullmodel.py): a valid contract model of the shape
it copies, whose separation is known exactly (each stem is the mixture / S)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.model import load_model
from engine.nullmodel import null_model_bytes, write_null_model
from engine.separate import separate
from tests.tinymodels import band_split_model


@pytest.mark.parametrize("frames", [64, "dynamic"])
@pytest.mark.parametrize("stems", [("vocals", "drums", "bass", "other"), ("vocals", "accomp")])
def test_null_model_copies_the_shape_and_passes_the_contract(
    tmp_path: Path, frames: int | str, stems: tuple[str, ...]
) -> None:
    like = band_split_model(tmp_path / "like.onnx", stems=stems, bins=512, frames=frames)
    path = write_null_model(tmp_path / "null.onnx", like)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    model, ref = load_model(path), load_model(like)
    assert (model.info.stems, model.info.bins, model.info.frames) == (
        ref.info.stems, ref.info.bins, ref.info.frames)
    assert model.batch_dynamic == ref.batch_dynamic
    x = np.random.default_rng(0).standard_normal((2, 4, 512, 64)).astype(np.float32)
    if not model.batch_dynamic:
        x = x[:1]
    y = model.run(x)
    np.testing.assert_array_equal(y, np.repeat(x[:, None] / len(stems), len(stems), axis=1))


def test_null_model_fixed_batch(tmp_path: Path) -> None:
    path = tmp_path / "fixed.onnx"
    path.write_bytes(null_model_bytes(("a", "b"), 256, 32, batch_dynamic=False))
    model = load_model(path)
    assert not model.batch_dynamic
    assert model.run(np.ones((1, 4, 256, 32), np.float32)).shape == (1, 2, 4, 256, 32)


def test_separating_with_it_gives_the_mixture_over_the_stem_count(tmp_path: Path) -> None:
    path = tmp_path / "null.onnx"
    path.write_bytes(null_model_bytes(("vocals", "drums", "bass", "other"), 1024, 96))
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal((2, 5 * 44100))).astype(np.float32)
    stems = separate(load_model(path), audio)
    np.testing.assert_allclose(stems.sum(axis=0), audio, atol=1e-5)
    # every stem is a quarter of the mixture (the high band is shared out equally too)
    np.testing.assert_allclose(stems, np.broadcast_to(audio / 4, stems.shape), atol=1e-5)
