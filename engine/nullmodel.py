"""A near-zero-cost separation model of a given shape, built in code: the engine's own speed.

``stemplay bench`` measures the engine around the model (STFT, segmenting, cross-fades, high
band, mixture consistency, iSTFT) with a model that honours the contract of DESIGN.md with the
shipped model's stems, bins, frames and batch axis, but computes almost nothing: stem ``k`` is
the mixture times a constant (``1 / stems`` each, so the stems already sum to the mixture),
one ``Mul`` in ONNX Runtime. What it costs is what any model costs to be called and to
materialise its output ``(batch, S, 4, F, T)``.

The ONNX file is written with a small protobuf encoder (the ``onnx`` package is a dev extra,
not a dependency of the engine). Runs on the caller's thread.

Shapes: input ``mix`` ``(batch, 4, F, T)``; output ``stems`` ``(batch, S, 4, F, T)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from engine.config import HOP, N_FFT, SAMPLE_RATE

OPSET = 17
IR_VERSION = 8
_FLOAT, _INT64 = 1, 7  # TensorProto.DataType


# ---------------------------------------------------------------------- protobuf wire format
def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64 values are two's complement, 10 bytes
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _many(field: int, items: Iterable[bytes | str]) -> bytes:
    return b"".join(_bytes(field, item) for item in items)


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian)."""
    dtype = {np.dtype(np.float32): _FLOAT, np.dtype(np.int64): _INT64}[array.dtype]
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return dims + _int(2, dtype) + _bytes(8, name) + _bytes(9, raw)


def _node(op: str, inputs: Sequence[str], outputs: Sequence[str]) -> bytes:
    """NodeProto: input (1), output (2), name (3), op_type (4)."""
    return _many(1, inputs) + _many(2, outputs) + _bytes(3, outputs[0]) + _bytes(4, op)


def _value_info(name: str, dims: Sequence[int | str]) -> bytes:
    """ValueInfoProto of a float tensor: name (1), type (2) → tensor_type (1) → elem_type (1),
    shape (2) → dim (1) → dim_value (1) | dim_param (2)."""
    shape = b"".join(
        _bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims
    )
    tensor_type = _int(1, _FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


# ---------------------------------------------------------------------- the model
def null_model_bytes(
    stems: Sequence[str], bins: int, frames: int | None, batch_dynamic: bool = True,
    name: str = "engine-null",
) -> bytes:
    """The ONNX bytes of ``stems = unsqueeze(mix, 1) * (1 / S)`` with the contract's metadata.

    ``frames`` None makes a "dynamic" model; ``batch_dynamic`` False fixes the batch at 1.
    """
    n = len(stems)
    t_dim: int | str = "frames" if frames is None else int(frames)
    b_dim: int | str = "batch" if batch_dynamic else 1
    share = np.full((1, n, 1, 1, 1), 1.0 / n, dtype=np.float32)
    graph = (
        _bytes(1, _node("Unsqueeze", ["mix", "axis1"], ["mix5"]))
        + _bytes(1, _node("Mul", ["mix5", "share"], ["stems"]))
        + _bytes(2, "engine_null")
        + _bytes(5, _tensor("axis1", np.array([1], dtype=np.int64)))
        + _bytes(5, _tensor("share", share))
        + _bytes(11, _value_info("mix", [b_dim, 4, bins, t_dim]))
        + _bytes(12, _value_info("stems", [b_dim, n, 4, bins, t_dim]))
    )
    meta = {
        "stems": ",".join(stems), "sample_rate": str(SAMPLE_RATE), "n_fft": str(N_FFT),
        "hop": str(HOP), "bins": str(bins), "frames": "dynamic" if frames is None else str(frames),
        "name": name, "version": "1",
        "description": "near-zero-cost model of a shipped model's shape (engine speed)",
    }
    props = b"".join(_bytes(14, _bytes(1, k) + _bytes(2, v)) for k, v in meta.items())
    opset = _bytes(1, "") + _int(2, OPSET)
    return (
        _int(1, IR_VERSION) + _bytes(2, "stemplay-engine") + _bytes(7, graph)
        + _bytes(8, opset) + props
    )


def write_null_model(path: str | Path, like: str | Path) -> Path:
    """Write the null model with the shape of the model file ``like`` to ``path``."""
    from engine.model import load_model

    ref = load_model(like, provider="cpu")
    info = ref.info
    path = Path(path)
    path.write_bytes(null_model_bytes(info.stems, info.bins, info.frames, ref.batch_dynamic,
                                      name=f"engine-null-{info.name}"))
    return path
