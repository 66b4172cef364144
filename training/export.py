"""``python -m training export CKPT -o models/NAME.onnx [--quantize]``.

Owns the PyTorch -> ONNX conversion of a training checkpoint: input ``mix`` float32
``(batch, 4, bins, frames)``, output ``stems`` float32 ``(batch, stems, 4, bins, frames)``, batch
dynamic, frames fixed (192 by default), the ``metadata_props`` of DESIGN.md's model contract,
an onnxruntime-vs-PyTorch parity check (< 1e-4 relative) before the file is put in place, and
optional int8 dynamic quantisation of the weights (``--quantize``; the parity check then
reports the quantisation error instead of enforcing it).

Runs in the main thread of the command-line process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from engine.config import HOP, N_FFT, SAMPLE_RATE
from engine.errors import ModelError, StemplayError
from training.checkpoint import load_model_from_checkpoint
from training.trainconfig import ConfigError

log = logging.getLogger(__name__)

OPSET = 17
PARITY_TOL = 1e-4  # max |onnx - torch| / max |torch|


def metadata(ckpt: dict, name: str, frames: int, version: str, description: str) -> dict[str, str]:
    """The contract's metadata_props for a checkpoint's model."""
    cfg = ckpt["config"]
    return {
        "stems": ",".join(cfg["stems"]),
        "sample_rate": str(SAMPLE_RATE),
        "n_fft": str(N_FFT),
        "hop": str(HOP),
        "bins": str(int(cfg["model"].get("bins", 1024))),
        "frames": str(frames),
        "name": name,
        "version": version,
        "description": description or cfg.get("description", "") or cfg["model"]["name"],
    }


def test_input(bins: int, frames: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A mixture-like input ``(batch, 4, bins, frames)``: the STFT of coloured noise with a
    1/f-ish spectral tilt, at the scale of real music spectra (magnitudes up to ~100)."""
    rng = np.random.default_rng(seed)
    tilt = (1.0 / np.sqrt(1.0 + np.arange(bins) / 8.0)).astype(np.float32)[:, None]
    x = rng.standard_normal((batch, 4, bins, frames)).astype(np.float32) * 30.0 * tilt
    return x


def parity(onnx_path: Path, model: torch.nn.Module, bins: int, frames: int) -> float:
    """Max relative difference between onnxruntime and PyTorch on a test input (batch 2)."""
    import onnxruntime as ort

    x = test_input(bins, frames, batch=2)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(["stems"], {"mix": x})
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12))


def export(
    ckpt_path: str | Path,
    out: str | Path,
    name: str | None = None,
    frames: int = 192,
    version: str = "1",
    description: str = "",
    quantize: bool = False,
    average: bool = False,
    wiener: float | None = None,
    drop_phase: bool = False,
) -> dict[str, float | str]:
    """Export ``ckpt_path`` to ``out`` (``average``: the weight average a ``last.pt`` carries,
    not its last weights; ``wiener``: end the graph in the spatial Wiener post-filter of that
    power, whatever the checkpoint's ``model.wiener``; ``drop_phase``: a ``hybrid_unet``
    without its phase head, real masks keeping the mixture's phase). Returns ``{"parity":
    rel_err, "path": str}`` (and ``"parity_fp32"`` when quantised, ``"phase_effect"``: how far
    the full model's output is from the exported one without the phase head, relative, on the
    parity input). Nothing is left at ``out`` when anything fails."""
    import onnx

    model, ckpt = load_model_from_checkpoint(ckpt_path, average=average)
    if wiener is not None:
        if not hasattr(model, "wiener"):
            raise ConfigError(f"{ckpt_path}: a {ckpt['config']['model']['name']} model has no "
                              "Wiener post-filter option")
        if not 0.0 < wiener <= 2.0:
            raise ConfigError(f"--wiener {wiener:g}: the power must be in (0, 2]")
        model.wiener = wiener
    out = Path(out)
    name = name or out.stem
    bins = int(ckpt["config"]["model"].get("bins", 1024))
    phase_effect = None
    if drop_phase:
        if not isinstance(getattr(model, "phase", None), torch.nn.Module):
            raise ConfigError(f"{ckpt_path}: a {ckpt['config']['model']['name']} model has no "
                              "phase head to drop")
        phase_effect = drop_phase_head(model, bins, frames)
    meta = metadata(ckpt, name, frames, version, description)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        x = torch.from_numpy(test_input(bins, frames))
        torch.onnx.export(
            model, (x,), str(fp32), dynamo=False, opset_version=OPSET,
            input_names=["mix"], output_names=["stems"],
            dynamic_axes={"mix": {0: "batch"}, "stems": {0: "batch"}},
            do_constant_folding=True,
        )
        proto = onnx.load(str(fp32))
        del proto.metadata_props[:]
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(fp32))
        err32 = parity(fp32, model, bins, frames)
        if err32 > PARITY_TOL:
            raise ModelError(f"ONNX export of {ckpt_path} differs from PyTorch by {err32:.2e} "
                             f"(> {PARITY_TOL:g} relative)")
        result: dict[str, float | str] = {"parity": err32}
        final = fp32
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "int8.onnx"
            quantize_dynamic(str(fp32), str(final), weight_type=QuantType.QInt8)
            proto = onnx.load(str(final))
            existing = {p.key for p in proto.metadata_props}
            for key, value in meta.items():
                if key not in existing:
                    proto.metadata_props.add(key=key, value=value)
            onnx.save(proto, str(final))
            result = {"parity": parity(final, model, bins, frames), "parity_fp32": err32}
        os.replace(final, out)
    result["path"] = str(out)
    if phase_effect is not None:
        result["phase_effect"] = phase_effect
    return result


def drop_phase_head(model: torch.nn.Module, bins: int, frames: int) -> float:
    """Remove ``model``'s phase head (its masks become real: each stem keeps the mixture's
    phase) and return how far the full model's output was from that, relative (max |full -
    without| / max |full|) on the parity input. Version 4's trained head turns a mask by
    ~1e-4 rad on average, 1.6e-3 at most on the real validation songs: the ``Cos`` and
    ``Sin`` of its angles were ~10 % of a run for nothing."""
    x = torch.from_numpy(test_input(bins, frames))
    model.eval()
    with torch.no_grad():
        full = model(x)
        model.phase = None
        without = model(x)
    return float((full - without).abs().max() / full.abs().max().clamp_min(1e-12))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training export",
        description="Export a training checkpoint to ONNX with the model contract's metadata.",
    )
    parser.add_argument("checkpoint", help="last.pt or best.pt of a training run")
    parser.add_argument("-o", "--output", required=True, help="e.g. models/NAME.onnx")
    parser.add_argument("--name", default=None, help="metadata name (default: file stem)")
    parser.add_argument("--frames", type=int, default=192, help="frames per segment (192)")
    parser.add_argument("--version", default="1")
    parser.add_argument("--description", default="")
    parser.add_argument("--quantize", action="store_true", help="int8 dynamic quantisation")
    parser.add_argument("--average", action="store_true",
                        help="export the weight average of a last.pt (train.ema), not its "
                             "last weights")
    parser.add_argument("--wiener", type=float, default=None, metavar="POWER",
                        help="end the graph in the spatial Wiener post-filter of this power "
                             "(0.3: hybrid version 4), whatever the checkpoint's model.wiener")
    parser.add_argument("--drop-phase", action="store_true",
                        help="hybrid_unet: leave the phase head out (real masks, the mixture's "
                             "phase kept); prints how much that changes the output")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        res = export(args.checkpoint, args.output, args.name, args.frames, args.version,
                     args.description, args.quantize, args.average, args.wiener,
                     args.drop_phase)
    except StemplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size = Path(res["path"]).stat().st_size / 1e6
    extra = f" (fp32 export {res['parity_fp32']:.1e})" if "parity_fp32" in res else ""
    if "phase_effect" in res:
        extra += (f"; without the phase head, {res['phase_effect']:.1e} relative from the full "
                  "model")
    print(f"wrote {res['path']} ({size:.1f} MB); max relative difference to PyTorch "
          f"{res['parity']:.1e}{extra}")
    return 0
