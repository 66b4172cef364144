"""A stand-in separation model of the target size, for `stemplay bench` before trained models exist.

Issue #2 sets its speed targets for "a model of about 5 GFLOP per 4.46 s segment"
(``T = 192`` frames of ``F = 1024`` bins). This script writes an ONNX model honouring the model
contract of DESIGN.md whose arithmetic is of that size: three 3x3 convolutions and a 1x1
convolution over the ``(batch, 4, F, T)`` input, giving a soft mask per stem and channel
(softmax over the stems, so the masked stems sum to the mixture) applied to the input. Its
weights are random (seeded): it separates nothing useful, it only costs what a real model
of that size costs. Built with the ``onnx`` helper API (the ``dev`` extra); never shipped in
``models/``.

    .venv/bin/python benchmarks/standin_model.py /tmp/standin.onnx
    .venv/bin/stemplay bench --model /tmp/standin.onnx

Shapes: input ``mix`` ``(batch, 4, F, T)``; hidden ``(batch, channels, F, T)``; output
``stems`` ``(batch, S, 4, F, T)``. Runs on the caller's thread.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STEMS = ("vocals", "drums", "bass", "other")
BINS = 1024
FRAMES = 192
WIDTHS = (4, 24, 26, 24)  # channels in and out of the three 3x3 convolutions
OPSET = 17


def conv_flops(c_in: int, c_out: int, k: int, bins: int = BINS, frames: int = FRAMES) -> int:
    """Floating-point operations of a same-padded k x k convolution (2 per multiply-add)."""
    return 2 * bins * frames * c_in * c_out * k * k


def model_flops(bins: int = BINS, frames: int = FRAMES) -> int:
    """Operations of one segment through the stand-in (convolutions; element-wise ops ~1 %)."""
    total = sum(conv_flops(a, b, 3, bins, frames) for a, b in itertools.pairwise(WIDTHS))
    return total + conv_flops(WIDTHS[-1], 4 * len(STEMS), 1, bins, frames)


def build(path: Path, seed: int = 0) -> Path:
    """Write the stand-in model to ``path``; returns it."""
    rng = np.random.default_rng(seed)
    n_stems = len(STEMS)
    inits = []
    nodes = []
    prev = "mix"
    for i, (c_in, c_out) in enumerate(itertools.pairwise(WIDTHS)):
        w = rng.normal(0.0, np.sqrt(2.0 / (9 * c_in)), (c_out, c_in, 3, 3)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"),
                  numpy_helper.from_array(np.zeros(c_out, np.float32), f"b{i}")]
        nodes += [
            helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"h{i}"]),
        ]
        prev = f"h{i}"
    w = rng.normal(0.0, 0.1, (4 * n_stems, WIDTHS[-1], 1, 1)).astype(np.float32)
    inits += [
        numpy_helper.from_array(w, "w_out"),
        numpy_helper.from_array(np.zeros(4 * n_stems, np.float32), "b_out"),
        numpy_helper.from_array(np.array([0, n_stems, 4, BINS, FRAMES], np.int64), "shape5"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes += [
        helper.make_node("Conv", [prev, "w_out", "b_out"], ["logits"]),  # (b, S*4, F, T)
        helper.make_node("Reshape", ["logits", "shape5"], ["logits5"]),  # (b, S, 4, F, T)
        helper.make_node("Softmax", ["logits5"], ["masks"], axis=1),  # over the stems
        helper.make_node("Unsqueeze", ["mix", "axis1"], ["mix5"]),  # (b, 1, 4, F, T)
        helper.make_node("Mul", ["masks", "mix5"], ["stems"]),
    ]
    x = helper.make_tensor_value_info("mix", TensorProto.FLOAT, ["batch", 4, BINS, FRAMES])
    y = helper.make_tensor_value_info("stems", TensorProto.FLOAT,
                                      ["batch", n_stems, 4, BINS, FRAMES])
    graph = helper.make_graph(nodes, "standin", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="stemplay-benchmarks")
    model.ir_version = 8
    gflop = model_flops() / 1e9
    meta = {
        "stems": ",".join(STEMS), "sample_rate": "44100", "n_fft": "4096", "hop": "1024",
        "bins": str(BINS), "frames": str(FRAMES), "name": "standin-5gflop", "version": "1",
        "description": f"benchmark stand-in, random weights, {gflop:.2f} GFLOP per segment",
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="where to write the .onnx file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    build(args.out, args.seed)
    print(f"{args.out}: {model_flops() / 1e9:.2f} GFLOP per segment of {FRAMES} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
