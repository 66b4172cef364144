"""Tiny ONNX separation models for tests, built with the ``onnx`` helper API (no torch).

Every model honours the model contract of DESIGN.md unless asked not to:
input ``mix`` float32 ``(batch, 4, bins, frames)``, output ``stems`` float32
``(batch, stems, 4, bins, frames)``, metadata_props ``stems, sample_rate, n_fft, hop, bins,
frames, name, version, description``. The models are frame-local (no context across frames), so
their separated output is known exactly and does not depend on how the engine segments the
spectrogram:

* :func:`band_split_model` — stem ``k`` keeps the bins ``edges[k] <= f < edges[k+1]`` of the
  mixture (a 0/1 mask per bin), so the stems of the modelled band sum to the mixture;
* :func:`gain_model` — stem ``k`` = mixture × ``gains[k]`` (gains need not sum to one, which
  exercises the engine's mixture-consistency step);
* :func:`identity_model` — the first stem gets the whole mixture, the others nothing;
* :func:`corrupt_model` / ``metadata=`` overrides — files the engine must refuse.

:func:`expected_band_split` computes offline, in numpy through ``engine.dsp.stft``, the audio
the engine must produce for a band-split model (including the contract's high band above
``bins``), so playback and export tests compare captured audio against it.

Runs on the test's thread; no audio device, no GPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEFAULT_STEMS = ("vocals", "drums", "bass", "other")
OPSET = 17
IR_VERSION = 8
HIGH_BAND_TOP_BINS = 64  # must match engine.separate.HIGH_BAND_TOP_BINS


def default_edges(bins: int, n_stems: int) -> list[int]:
    """Equal-width band edges ``[0, ..., bins]`` (n_stems + 1 values) of the band-split model."""
    return [int(e) for e in np.linspace(0, bins, n_stems + 1).round().astype(int)]


def contract_metadata(
    stems: Sequence[str], bins: int, frames: int | str, name: str
) -> dict[str, str]:
    """The metadata_props of a model honouring the contract."""
    return {
        "stems": ",".join(stems),
        "sample_rate": "44100",
        "n_fft": "4096",
        "hop": "1024",
        "bins": str(bins),
        "frames": str(frames),
        "name": name,
        "version": "1",
        "description": f"tiny test model '{name}'",
    }


def _write(
    path: str | Path,
    factors: np.ndarray,
    stems: Sequence[str],
    bins: int,
    frames: int | str,
    name: str,
    metadata: Mapping[str, str | None] | None,
    input_name: str,
    output_name: str,
    graph_bins: int | None,
) -> Path:
    """Write ``stems = unsqueeze(mix, 1) * factors``; ``factors`` broadcasts to (1,S,4,F,T).

    ``metadata`` overrides the contract's keys (a value of None deletes the key);
    ``graph_bins`` lets the graph's bins axis differ from the metadata (a broken model).
    """
    path = Path(path)
    f_graph = bins if graph_bins is None else graph_bins
    t_dim: int | str = "frames" if frames == "dynamic" else int(frames)
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 4, f_graph, t_dim])
    y = helper.make_tensor_value_info(
        output_name, TensorProto.FLOAT, ["batch", len(stems), 4, f_graph, t_dim]
    )
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes")
    fac = numpy_helper.from_array(factors.astype(np.float32), name="factors")
    nodes = [
        helper.make_node("Unsqueeze", [input_name, "axes"], ["mix5"]),
        helper.make_node("Mul", ["mix5", "factors"], [output_name]),
    ]
    graph = helper.make_graph(nodes, name, [x], [y], initializer=[axes, fac])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="stemplay-tests"
    )
    model.ir_version = IR_VERSION
    meta: dict[str, str | None] = dict(contract_metadata(stems, bins, frames, name))
    meta.update(metadata or {})
    for key, value in meta.items():
        if value is not None:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def band_masks(bins: int, stems: Sequence[str], edges: Sequence[int] | None = None) -> np.ndarray:
    """0/1 masks ``(stems, bins)``: stem k keeps bins ``edges[k] <= f < edges[k+1]``."""
    edges = list(edges) if edges is not None else default_edges(bins, len(stems))
    if len(edges) != len(stems) + 1 or edges[0] != 0 or edges[-1] != bins:
        raise ValueError(f"edges must run from 0 to {bins} with {len(stems) + 1} values")
    masks = np.zeros((len(stems), bins), dtype=np.float32)
    for k in range(len(stems)):
        masks[k, edges[k] : edges[k + 1]] = 1.0
    return masks


def band_split_model(
    path: str | Path,
    stems: Sequence[str] = DEFAULT_STEMS,
    bins: int = 1024,
    frames: int | str = 192,
    edges: Sequence[int] | None = None,
    *,
    name: str = "bandsplit",
    metadata: Mapping[str, str | None] | None = None,
    input_name: str = "mix",
    output_name: str = "stems",
    graph_bins: int | None = None,
) -> Path:
    """Stem k keeps frequency band k of the ``bins`` modelled bins exactly (0/1 mask per bin)."""
    f_graph = bins if graph_bins is None else graph_bins
    masks = band_masks(f_graph, stems, edges if graph_bins is None else None)
    factors = masks[None, :, None, :, None]  # (1, stems, 1, bins, 1)
    return _write(
        path, factors, stems, bins, frames, name, metadata, input_name, output_name, graph_bins
    )


def gain_model(
    path: str | Path,
    gains: Sequence[float] = (0.5, 0.5, 0.5, 0.5),
    stems: Sequence[str] = DEFAULT_STEMS,
    bins: int = 1024,
    frames: int | str = 192,
    *,
    name: str = "gain",
    metadata: Mapping[str, str | None] | None = None,
) -> Path:
    """Stem k = mixture × ``gains[k]`` over the modelled bins."""
    if len(gains) != len(stems):
        raise ValueError("one gain per stem")
    factors = np.asarray(gains, dtype=np.float32)[None, :, None, None, None]
    return _write(path, factors, stems, bins, frames, name, metadata, "mix", "stems", None)


def identity_model(
    path: str | Path,
    stems: Sequence[str] = ("vocals",),
    bins: int = 1024,
    frames: int | str = 192,
    *,
    name: str = "identity",
) -> Path:
    """The first stem gets the whole mixture, the others (if any) nothing."""
    gains = [1.0] + [0.0] * (len(stems) - 1)
    return gain_model(path, gains, stems, bins, frames, name=name)


def corrupt_model(path: str | Path, kind: str = "garbage") -> Path:
    """A file named .onnx that is not a usable model.

    ``kind``: ``"garbage"`` (random bytes), ``"empty"`` (0 bytes), ``"truncated"`` (the first
    half of a valid band-split model).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        band_split_model(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path


def _separated_spectra(mix: np.ndarray, low: np.ndarray, stems: Sequence[str]) -> np.ndarray:
    """Full-band stem spectra from the model's low band, computed independently of the engine.

    mix: (channels, nb_bins, frames) complex; low: (stems, channels, F, frames) complex.
    High band: each stem gets the mixture's bins >= F scaled by its share of the magnitude
    averaged over the top ``HIGH_BAND_TOP_BINS`` modelled bins (shares sum to one; equal shares
    where all stems are silent there). Consistency: the residual goes to ``other`` if present,
    else is spread over the stems in proportion to their energy per bin.
    """
    n_stems, f = low.shape[0], low.shape[2]
    top = np.abs(low[:, :, max(0, f - HIGH_BAND_TOP_BINS) : f, :]).mean(axis=2)  # (S, C, T)
    total = top.sum(axis=0, keepdims=True)
    share = np.where(total > 0, top / np.where(total > 0, total, 1.0), 1.0 / n_stems)
    out = np.empty((n_stems,) + mix.shape, dtype=np.complex128)
    out[:, :, :f] = low
    out[:, :, f:] = share[:, :, None, :] * mix[None, :, f:, :]
    residual = mix - out.sum(axis=0)
    if "other" in stems:
        out[list(stems).index("other")] += residual
    else:
        energy = np.abs(out) ** 2
        e_sum = energy.sum(axis=0, keepdims=True)
        weight = np.where(e_sum > 0, energy / np.where(e_sum > 0, e_sum, 1.0), 1.0 / n_stems)
        out += weight * residual[None]
    return out


def expected_band_split(
    audio: np.ndarray,
    stems: Sequence[str] = DEFAULT_STEMS,
    bins: int = 1024,
    edges: Sequence[int] | None = None,
) -> np.ndarray:
    """The audio the engine must output for :func:`band_split_model` with these arguments.

    audio: (channels=2, samples) float32 at 44.1 kHz → (stems, channels, samples) float32.
    """
    from engine.dsp.stft import istft, stft

    audio = np.asarray(audio, dtype=np.float32)
    spec = stft(audio).astype(np.complex128)  # (channels, nb_bins, frames)
    masks = band_masks(bins, stems, edges)  # (stems, F)
    low = masks[:, None, :, None] * spec[None, :, :bins, :]
    full = _separated_spectra(spec, low, stems)
    n = audio.shape[-1]
    return np.stack([istft(full[k].astype(np.complex64), n) for k in range(len(stems))])


def expected_gain(
    audio: np.ndarray,
    gains: Sequence[float],
    stems: Sequence[str] = DEFAULT_STEMS,
    bins: int = 1024,
) -> np.ndarray:
    """The audio the engine must output for :func:`gain_model`: (stems, channels, samples)."""
    from engine.dsp.stft import istft, stft

    audio = np.asarray(audio, dtype=np.float32)
    spec = stft(audio).astype(np.complex128)
    low = np.asarray(gains, dtype=np.float64)[:, None, None, None] * spec[None, :, :bins, :]
    full = _separated_spectra(spec, low, stems)
    n = audio.shape[-1]
    return np.stack([istft(full[k].astype(np.complex64), n) for k in range(len(stems))])


class BrokenModel:
    """A model that loads but fails when it runs (a graph that breaks on real input)."""

    narrowed = None  # never swapped for a working narrowed copy

    def __init__(self, model: Any) -> None:
        self._model = model
        self.info = dataclasses.replace(model.info, name="broken")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        raise RuntimeError("the graph broke")
