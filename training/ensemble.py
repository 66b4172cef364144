"""``python -m training ensemble A.onnx B.onnx ... -o models/NAME.onnx``: one model file whose
stems are the weighted mean of several models' stems.

Every member must honour DESIGN.md's model contract with the same stems, bins and frames (and
the same ONNX opset); the result is one ONNX graph — each member's graph under a prefix of its
own, all fed the same ``mix``, their ``stems`` outputs weighted and summed — with the contract's
metadata (the first member's, ``name``/``version``/``description`` as given) plus ``members``,
what it was made of. The engine sees one model: A/B, export and playback need nothing new.

Averaging the stems (complex spectra) of models that err differently is the oldest way to a
cleaner separation; its price is the members' run times added. Before the file is put in place
onnxruntime checks that its output equals the weighted mean of the members' own outputs.

Runs in the main thread of the command-line process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from engine.errors import ModelError, StemplayError

PARITY_TOL = 1e-5  # max |ensemble - weighted mean| / max |weighted mean|
CONTRACT_KEYS = ("stems", "sample_rate", "n_fft", "hop", "bins", "frames")


def _load(path: Path):
    """(onnx ModelProto, its metadata dict) of a member; ModelError if it is not a model."""
    import onnx

    from engine.model import read_model_info

    read_model_info(path)  # the contract, checked as the player checks it
    try:
        proto = onnx.load(str(path))
    except Exception as err:  # noqa: BLE001 -- onnx raises DecodeError and friends
        raise ModelError(f"{path}: not a readable ONNX model ({err})") from None
    return proto, {p.key: p.value for p in proto.metadata_props}


def _opset(proto) -> int:
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def build(members: list[Path], weights: list[float], name: str, version: str,
          description: str):
    """The ensemble's ModelProto (checked by ``onnx.checker``); ModelError when the members do
    not fit together."""
    import onnx
    from onnx import TensorProto, compose, helper

    if len(members) < 2:
        raise ModelError("an ensemble needs at least two models")
    if len(weights) != len(members):
        raise ModelError(f"{len(weights)} weights for {len(members)} models")
    if any(not np.isfinite(w) or w <= 0 for w in weights):
        raise ModelError("weights must be positive numbers")
    total = float(sum(weights))
    weights = [w / total for w in weights]
    loaded = [_load(p) for p in members]
    first_meta = loaded[0][1]
    for path, (proto, meta) in zip(members[1:], loaded[1:]):
        for key in CONTRACT_KEYS:
            if meta.get(key) != first_meta.get(key):
                raise ModelError(f"{path}: {key} {meta.get(key)!r} differs from "
                                 f"{members[0]}'s {first_meta.get(key)!r}")
        if _opset(proto) != _opset(loaded[0][0]):
            raise ModelError(f"{path}: ONNX opset {_opset(proto)} differs from "
                             f"{members[0]}'s {_opset(loaded[0][0])}")
    n_stems = len(first_meta["stems"].split(","))
    bins = int(first_meta["bins"])
    frames: int | str = "frames" if first_meta["frames"] == "dynamic" else int(first_meta["frames"])

    nodes, inits, terms = [], [], []
    for k, (proto, _meta) in enumerate(loaded):
        prefix = f"m{k}_"
        g = compose.add_prefix(proto, prefix).graph
        (inp,), (out,) = g.input, g.output
        nodes.append(helper.make_node("Identity", ["mix"], [inp.name], name=f"{prefix}in"))
        nodes.extend(g.node)
        inits.extend(g.initializer)
        w = f"{prefix}weight"
        inits.append(helper.make_tensor(w, TensorProto.FLOAT, [], [weights[k]]))
        nodes.append(helper.make_node("Mul", [out.name, w], [f"{prefix}weighted"],
                                      name=f"{prefix}weighted"))
        terms.append(f"{prefix}weighted")
    nodes.append(helper.make_node("Sum", terms, ["stems"], name="ensemble_mean"))
    graph = helper.make_graph(
        nodes, "stemplay_ensemble",
        [helper.make_tensor_value_info("mix", TensorProto.FLOAT, ["batch", 4, bins, frames])],
        [helper.make_tensor_value_info("stems", TensorProto.FLOAT,
                                       ["batch", n_stems, 4, bins, frames])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _opset(loaded[0][0]))],
                              producer_name="stemplay-training-ensemble")
    model.ir_version = max(p.ir_version for p, _ in loaded)
    meta = {key: first_meta[key] for key in CONTRACT_KEYS}
    meta.update(name=name, version=version, description=description,
                members=", ".join(f"{m.get('name', p.stem)} v{m.get('version', '?')} × {w:.3g}"
                                  for p, (_, m), w in zip(members, loaded, weights)))
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def parity(path: Path, members: list[Path], weights: list[float]) -> float:
    """Max relative difference between the ensemble file's output and the weighted mean of
    its members' outputs on a mixture-like input."""
    import onnxruntime as ort

    from training.export import test_input

    def run(p: Path, x: np.ndarray) -> np.ndarray:
        sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return sess.run(["stems"], {"mix": x})[0]

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    frames = shape[3] if isinstance(shape[3], int) else 32
    x = test_input(int(shape[2]), frames)
    total = float(sum(weights))
    want = sum(run(p, x) * (w / total) for p, w in zip(members, weights))
    got = sess.run(["stems"], {"mix": x})[0]
    return float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-12))


def ensemble(members: list[str | Path], out: str | Path, name: str | None = None,
             version: str = "1", description: str = "",
             weights: list[float] | None = None) -> dict[str, float | str]:
    """Write the ensemble of ``members`` to ``out`` (atomically; nothing is left half-written)."""
    import onnx

    paths = [Path(m) for m in members]
    out = Path(out)
    weights = weights or [1.0] * len(paths)
    model = build(paths, weights, name or out.stem, version,
                  description or "mean of " + ", ".join(p.stem for p in paths))
    if not out.parent.is_dir():
        raise ModelError(f"cannot write {out}: folder {out.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}-", suffix=".onnx")
        os.close(fd)
    except OSError as err:
        raise ModelError(f"cannot write {out}: {err.strerror or err}") from None
    try:
        try:
            onnx.save(model, tmp)
        except OSError as err:
            raise ModelError(f"cannot write {out}: {err.strerror or err}") from None
        err = parity(Path(tmp), paths, weights)
        if err > PARITY_TOL:
            raise ModelError(f"the ensemble's output differs from its members' mean by "
                             f"{err:.2e} (> {PARITY_TOL:g} relative)")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a model file is not
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"path": str(out), "parity": err}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training ensemble",
        description="One model file whose stems are the weighted mean of several models'.",
    )
    parser.add_argument("members", nargs="+", help="model files (.onnx) with the same contract")
    parser.add_argument("-o", "--output", required=True, help="e.g. models/NAME.onnx")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="one per model (default: equal)")
    parser.add_argument("--name", default=None, help="metadata name (default: file stem)")
    parser.add_argument("--version", default="1")
    parser.add_argument("--description", default="")
    args = parser.parse_args(argv)
    try:
        res = ensemble(args.members, args.output, args.name, args.version, args.description,
                       args.weights)
    except StemplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size = Path(res["path"]).stat().st_size / 1e6
    print(f"wrote {res['path']} ({size:.1f} MB); max relative difference to the members' "
          f"mean {res['parity']:.1e}")
    return 0
