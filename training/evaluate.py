"""``python -m training evaluate --model models/NAME.onnx --data DIR``.

Owns the scoring of a shipped model on any MUSDB-style folder (``DIR/<track>/{mixture,vocals,
drums,bass,other}.{wav,flac}``, mono sources doubled, any sample rate). Each track is decoded
with the engine's decoder and separated **through the engine's separator**
(``engine.separate.separate`` on ``engine.model.load_model``), so what is scored is what a
listener hears. Scores, per stem:

- BSS-Eval v4 SDR (museval, MUSDB convention: 1 s windows, median over windows, then median
  over tracks);
- global SDR ``10 log10(sum s^2 / sum (s - s_hat)^2)`` over the whole track, mean over tracks;

next to two references computed on the same tracks: the mixture as every stem's estimate
(floor), and the oracle ideal ratio mask ``|S_k|^2 / sum_j |S_j|^2`` applied with the same
STFT, all bins (ceiling for masking). Also the model's speed: seconds of audio separated per
second of wall clock (``x real time``) and its inverse, the real-time factor.

Runs in the main thread of the command-line process.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.config import SAMPLE_RATE
from engine.errors import StemplayError
from training.data.multitrack import Multitrack, find_multitracks, load_multitrack

log = logging.getLogger(__name__)

SILENT_DB = -50.0  # a reference stem quieter than this (RMS, dBFS) over the track is not scored
EPS = 1e-10


@dataclass
class Scores:
    """Per estimate kind ("model", "mixture", "oracle"): per stem, per track values."""

    bss: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    glob: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    seconds: float = 0.0  # audio separated by the model
    wall: float = 0.0  # wall-clock seconds the model's separation took

    def add(self, kind: str, stem: str, bss: float, glob: float) -> None:
        self.bss.setdefault(kind, {}).setdefault(stem, []).append(bss)
        self.glob.setdefault(kind, {}).setdefault(stem, []).append(glob)


def load_track(track: Multitrack, stems: tuple[str, ...], seconds: float | None = None
               ) -> Multitrack:
    """``track`` decoded with the engine's decoder (resampled, stereo): ``stems`` and ``mix``
    (the mixture file when present, what the listener plays, else the stems' sum).
    ``seconds`` keeps only the middle ``seconds`` of the song (for quick runs)."""
    song = load_multitrack(track, stems, mixture=True)
    ref, mix = song.stems, song.mix
    assert ref is not None and mix is not None
    n = ref.shape[-1]
    if seconds is not None and n > seconds * SAMPLE_RATE:
        keep = int(seconds * SAMPLE_RATE)
        start = (n - keep) // 2
        ref, mix = ref[..., start : start + keep], mix[:, start : start + keep]
    return replace(song, samples=ref.shape[-1], stems=np.ascontiguousarray(ref),
                   mix=np.ascontiguousarray(mix))


def global_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """``(channels, samples)`` each -> SDR in dB over the whole signal."""
    ref64, est64 = ref.astype(np.float64), est.astype(np.float64)
    return float(10 * np.log10((np.sum(ref64**2) + EPS) / (np.sum((ref64 - est64) ** 2) + EPS)))


def oracle_irm(mix: np.ndarray, stems: np.ndarray) -> np.ndarray:
    """Ideal ratio mask estimates ``(stems, 2, samples)`` with the engine's STFT (all bins)."""
    from engine.dsp.stft import istft, stft

    specs = np.stack([stft(s) for s in stems])  # (stems, 2, bins, frames)
    power = np.abs(specs) ** 2
    masks = power / np.maximum(power.sum(0, keepdims=True), 1e-20)
    x = stft(mix)
    return np.stack([istft(m * x, mix.shape[1]) for m in masks]).astype(np.float32)


def bss_v4(ref: np.ndarray, est: np.ndarray) -> np.ndarray:
    """museval BSS-Eval v4 SDR, 1 s windows: ``(stems, 2, samples)`` each -> ``(stems,)``
    medians over windows (NaN where a stem is silent in every window)."""
    import museval

    out = np.full(ref.shape[0], np.nan)
    # museval refuses all-zero references or estimates. v4's SDR of a stem only projects on
    # that stem's own reference, so silent references are left out (their SDR is undefined)
    # and an all-zero estimate gets a -200 dBFS dither (its SDR is then ~0 dB, as it should).
    keep = [i for i in range(ref.shape[0]) if np.any(ref[i])]
    if not keep:
        return out
    est = est[keep].copy()
    for k in range(est.shape[0]):
        if not np.any(est[k]):
            est[k] = 1e-10 * np.random.default_rng(k).standard_normal(est[k].shape)
    sdr, _, _, _ = museval.evaluate(
        ref[keep].transpose(0, 2, 1), est.transpose(0, 2, 1),
        win=SAMPLE_RATE, hop=SAMPLE_RATE, mode="v4", padding=True,
    )
    with np.errstate(all="ignore"):
        for k, row in zip(keep, sdr):
            out[k] = np.nanmedian(row) if np.isfinite(row).any() else np.nan
    return out


def score_track(track: Multitrack, est: np.ndarray, kind: str, names: tuple[str, ...],
                scores: Scores, bss: bool) -> None:
    rms_db = 10 * np.log10(np.mean(track.stems.astype(np.float64) ** 2, axis=(1, 2)) + 1e-20)
    medians = bss_v4(track.stems, est) if bss else np.full(len(names), np.nan)
    for i, stem in enumerate(names):
        if rms_db[i] < SILENT_DB:
            continue  # e.g. an instrumental's silent vocals: SDR is undefined
        scores.add(kind, stem, float(medians[i]), global_sdr(track.stems[i], est[i]))


def evaluate(model_path: str, data: Path, tracks: int | None = None,
             seconds: float | None = None, bss: bool = True, threads: int = 0,
             references: bool = True, model_row: bool = True,
             ) -> tuple[Scores, tuple[str, ...], list[str], str]:
    """Score ``model_path`` on every track of ``data``. Returns (scores, stem names, track
    names, model description). ``references``: also the floor and oracle rows; ``model_row``
    False: only those (the model then only names the stems) — they do not depend on it."""
    from engine.model import load_model
    from engine.separate import separate

    model = load_model(model_path, threads=threads, provider="cpu")
    names = model.stems
    found = find_multitracks([data], names)
    if not found:
        raise StemplayError(f"no MUSDB-style track folders (with {', '.join(names)}) in {data}")
    found = found[:tracks] if tracks else found
    scores = Scores()
    done = []
    for song in found:
        track = load_track(song, names, seconds)
        scores.seconds += track.mix.shape[1] / SAMPLE_RATE
        if model_row:
            separate(model, track.mix[:, : 4 * SAMPLE_RATE])  # warm-up (plans, arenas)
            start = time.perf_counter()
            est = separate(model, track.mix)
            scores.wall += time.perf_counter() - start
            score_track(track, est, "model", names, scores, bss)
        if references:
            floor = np.repeat(track.mix[None], len(names), axis=0)
            score_track(track, floor, "mixture", names, scores, bss)
            score_track(track, oracle_irm(track.mix, track.stems), "oracle", names, scores, bss)
        done.append(track.name)
        log.info("scored %s", track.name)
    desc = f"{model.info.name} ({Path(model.info.path).name}, {model.info.provider})"
    return scores, names, done, desc


LABELS = {
    "model": "model",
    "mixture": "mixture as estimate (floor)",
    "oracle": "oracle ideal ratio mask (ceiling)",
}


def table(values: dict[str, dict[str, list[float]]], names: tuple[str, ...], how: str) -> str:
    """Markdown table: one row per estimate kind, one column per stem plus the mean."""
    agg = np.nanmedian if how == "median" else np.nanmean
    lines = ["| estimate | " + " | ".join(names) + " | mean |",
             "|---|" + "---:|" * (len(names) + 1)]
    for kind in ("model", "mixture", "oracle"):
        if kind not in values:
            continue
        cells = []
        per_stem = []
        for stem in names:
            vals = np.array(values[kind].get(stem, []), dtype=np.float64)
            if vals.size and np.isfinite(vals).any():
                v = float(agg(vals))
                per_stem.append(v)
                cells.append(f"{v:.2f}")
            else:
                cells.append("–")
        mean = f"{np.mean(per_stem):.2f}" if per_stem else "–"
        lines.append(f"| {LABELS[kind]} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def report(scores: Scores, names: tuple[str, ...], tracks: list[str], desc: str,
           data: Path, bss: bool) -> str:
    parts = [f"### {desc} on {data} ({len(tracks)} tracks, {scores.seconds:.0f} s of audio)", ""]
    if bss:
        parts += ["SDR (dB), BSS-Eval v4 (museval), median over 1 s windows, median over tracks:",
                  "", table(scores.bss, names, "median"), ""]
    parts += ["Global SDR (dB) over each whole track, mean over tracks:", "",
              table(scores.glob, names, "mean"), ""]
    if scores.wall > 0:
        speed = scores.seconds / scores.wall
        parts += [(f"Speed: {speed:.1f}x real time (real-time factor {1 / speed:.3f}) for "
                   "separation through engine.separate on this machine's CPU."), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training evaluate",
        description="Score an ONNX model through the engine's separator on a MUSDB-style folder.",
    )
    parser.add_argument("--model", required=True, help="model name in models/ or a path")
    parser.add_argument("--data", required=True, type=Path, help="MUSDB-style folder")
    parser.add_argument("--tracks", type=int, default=None, help="score only the first N")
    parser.add_argument("--seconds", type=float, default=None,
                        help="score only the middle S seconds of each track")
    parser.add_argument("--no-bss", action="store_true",
                        help="skip museval (global SDR only; much faster)")
    parser.add_argument("--no-references", action="store_true",
                        help="skip the mixture floor and oracle rows")
    parser.add_argument("--references-only", action="store_true",
                        help="only the floor and oracle rows (the model only names the stems)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX threads (0: default)")
    parser.add_argument("--json", type=Path, default=None, help="also write raw scores here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        scores, names, tracks, desc = evaluate(
            args.model, args.data, args.tracks, args.seconds, not args.no_bss, args.threads,
            not args.no_references, not args.references_only,
        )
    except StemplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report(scores, names, tracks, desc, args.data, not args.no_bss))
    if args.json:
        args.json.write_text(json.dumps({
            "model": desc, "data": str(args.data), "tracks": tracks, "bss_v4": scores.bss,
            "global": scores.glob, "seconds": scores.seconds, "wall_s": scores.wall,
            "seconds_per_track": args.seconds,
        }, indent=1))
    return 0
