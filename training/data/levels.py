"""Stem levels of the training mixes: how loud the voice, the drums and the bass sit against the
rest, measured on real multitrack songs and drawn for generated and re-mixed training items.

Owns the level definitions (one for measuring and drawing alike), ``LevelConfig`` (frozen: the
drawn distributions as quantile points, YAML-friendly), ``draw_level`` (inverse-CDF draw from
those points), ``balance_levels`` (sets drums, bass and vocals of an all-known item to drawn
levels) and the measurement of real songs behind ``training/DATA.md`` ("Levels")::

    python -m training.data.levels            # table of the real songs + drawn quantiles

Definitions: a stem's level is its *active* RMS (``active_rms_db``: the blocks within 40 dB of
its loudest, so pauses do not count); the reference is the plain RMS of what it plays against.
``vocals``: the voice against the accompaniment (drums + bass + other). ``drums`` / ``bass``:
the stem against the rest of the accompaniment without it (vocals excluded, so the three
figures do not depend on each other's order except bass against drums).

Pure numpy; runs in DataLoader worker processes (drawing) or the caller's thread (measuring).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from training.data.augment import rms_db

ACTIVITY_BLOCK = 1024
SILENT_DB = -50.0  # a stem (or window of it) under this plain RMS (dBFS) counts as absent

#: Quantile points of the drawn voice level (voice active RMS minus accompaniment RMS, dB) at
#: evenly spaced probabilities 0, 1/6, ..., 1. Covers -18..+3 dB, weighted toward quiet: real
#: songs put the lead voice about -14..-4 dB under the band (median window about -7 dB, see
#: DATA.md); the previous uniform -8..+1 dB never made the quiet vocals the models fail on.
VOCALS_DB = (-18.0, -13.5, -10.5, -8.0, -5.5, -2.5, 3.0)
#: Drums (active RMS) minus bass + other (RMS), dB; real songs (DATA.md): -19..+5 (brushed
#: country and surf-guitar instrumentals quiet, reggae and hard rock loud), median window -9.5.
DRUMS_DB = (-21.0, -15.0, -10.5, -6.5, -3.0, 0.5, 6.0)
#: Bass (active RMS) minus drums + other (RMS), dB; real songs (DATA.md): -11..+1, median -2.6.
BASS_DB = (-16.0, -10.0, -7.0, -5.0, -3.0, -1.0, 3.0)


def active_rms_db(x: np.ndarray, block: int = ACTIVITY_BLOCK, range_db: float = 40.0) -> float:
    """RMS (dBFS) over the blocks within ``range_db`` of the loudest one: the level of a voice
    while it sings, ignoring its pauses. ``x``: ``(channels, samples)`` or ``(samples,)``."""
    x2 = np.atleast_2d(x)
    n = x2.shape[-1] // block
    if n == 0:
        return rms_db(x2)
    power = np.mean(
        np.square(x2[:, : n * block], dtype=np.float64).reshape(-1, n, block), axis=(0, 2)
    )
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    keep = db > db.max() - range_db
    return float(10.0 * np.log10(max(float(power[keep].mean()), 1e-20)))


def draw_level(rng: np.random.Generator, points: Sequence[float]) -> float:
    """A level (dB) drawn from the distribution whose quantile function passes through
    ``points`` at evenly spaced probabilities (piecewise linear between them). Two points are
    the uniform distribution between them; one point is that constant."""
    values = np.asarray(points, dtype=np.float64)
    if values.size == 1:
        return float(values[0])
    assert values.size >= 2 and np.all(np.diff(values) >= 0), f"not increasing: {points}"
    return float(np.interp(rng.random(), np.linspace(0.0, 1.0, values.size), values))


def quantiles_of(points: Sequence[float], probs: Sequence[float]) -> list[float]:
    """Quantiles of the drawn distribution of ``points`` (see ``draw_level``) at ``probs``."""
    values = np.asarray(points, dtype=np.float64)
    return [float(np.interp(p, np.linspace(0.0, 1.0, values.size), values)) for p in probs]


@dataclass(frozen=True)
class LevelConfig:
    """Levels drawn for the stems of all-known training items (YAML ``levels:`` of a mix
    config). Each distribution is a tuple of quantile points (see ``draw_level``).

    ``prob``: chance that an all-known item (generated song, real remix, voice over generated
    or remixed music) has its drums and bass set from these distributions; the voice of
    ``vocals_over_*`` items always follows ``VocalProduction.lead_level_db``; the synthetic
    singer follows ``vocals_db`` with probability ``prob`` as well.
    """

    prob: float = 0.6
    vocals_db: tuple[float, ...] = VOCALS_DB
    drums_db: tuple[float, ...] = DRUMS_DB
    bass_db: tuple[float, ...] = BASS_DB


def set_level(
    stems: np.ndarray, k: int, target_db: float, rest: Sequence[int]
) -> np.ndarray:
    """Scale stem ``k`` of ``stems (stems, 2, samples)`` in place so its active RMS sits
    ``target_db`` against the plain RMS of the sum of stems ``rest``; nothing happens when the
    stem or the rest is silent. Returns ``stems``."""
    if rms_db(stems[k]) <= SILENT_DB:
        return stems
    ref = rms_db(stems[list(rest)].sum(axis=0)) if len(rest) else SILENT_DB
    if ref <= SILENT_DB:
        return stems
    gain = 10 ** ((target_db + ref - active_rms_db(stems[k])) / 20)
    stems[k] *= np.float32(gain)
    return stems


def balance_levels(
    stems: np.ndarray,
    rng: np.random.Generator,
    names: Sequence[str],
    config: LevelConfig,
    vocals: bool = True,
) -> np.ndarray:
    """Bass, then drums, then (with ``vocals``) the voice set to levels drawn from ``config``,
    in place on ``stems (stems, 2, samples)`` (see the module docstring for the references).
    Stems that are silent stay silent; other stems are untouched."""
    idx = {n: i for i, n in enumerate(names)}
    accomp = [i for n, i in idx.items() if n != "vocals"]
    for name, points in (("bass", config.bass_db), ("drums", config.drums_db)):
        if name in idx:
            k = idx[name]
            set_level(stems, k, draw_level(rng, points), [i for i in accomp if i != k])
    if vocals and "vocals" in idx:
        set_level(stems, idx["vocals"], draw_level(rng, config.vocals_db), accomp)
    return stems


# --------------------------------------------------------------------------- measuring


def stem_levels(
    stems: np.ndarray, names: Sequence[str] = DEFAULT_STEMS
) -> dict[str, float]:
    """Levels (dB, module definitions) of vocals, drums and bass over ``stems (stems, 2,
    samples)``; NaN where the stem is absent (plain RMS under ``SILENT_DB``)."""
    idx = {n: i for i, n in enumerate(names)}
    accomp = [i for n, i in idx.items() if n != "vocals"]
    out: dict[str, float] = {}
    for name in ("vocals", "drums", "bass"):
        if name not in idx:
            continue
        k = idx[name]
        rest = accomp if name == "vocals" else [i for i in accomp if i != k]
        ref = rms_db(np.asarray(stems)[rest].sum(axis=0))
        if rms_db(stems[k]) <= SILENT_DB or ref <= SILENT_DB:
            out[name] = float("nan")
        else:
            out[name] = active_rms_db(np.asarray(stems[k])) - ref
    return out


def plain_vocal_level(stems: np.ndarray, names: Sequence[str] = DEFAULT_STEMS) -> float:
    """Plain RMS of the voice minus plain RMS of the accompaniment (dB; pauses count), the
    figure some reports quote; NaN without a voice."""
    k = list(names).index("vocals")
    v = rms_db(stems[k])
    acc = rms_db(np.delete(np.asarray(stems), k, axis=0).sum(axis=0))
    return float("nan") if v <= SILENT_DB else v - acc


def window_levels(
    stems: np.ndarray,
    names: Sequence[str] = DEFAULT_STEMS,
    seconds: float = 4.46,
    hop_seconds: float = 1.0,
) -> dict[str, np.ndarray]:
    """``stem_levels`` per window of ``seconds`` (training-excerpt length) every ``hop_seconds``:
    name -> ``(windows,)``, NaN where the stem is absent from the window."""
    n, hop = int(seconds * SAMPLE_RATE), int(hop_seconds * SAMPLE_RATE)
    starts = range(0, max(stems.shape[-1] - n, 0) + 1, hop)
    rows = [stem_levels(np.asarray(stems[..., s : s + n], dtype=np.float32), names)
            for s in starts]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]} if rows else {}


def measure_songs(root: str | Path | None = None) -> list[tuple[str, dict[str, float],
                                                                dict[str, np.ndarray]]]:
    """``(song, whole-song levels, window levels)`` for every real multitrack song (train and
    validation splits) under the real data root."""
    from training.data.multitrack import load_multitrack
    from training.data.splits import real_tracks

    out = []
    for track in real_tracks("all", root):
        song = load_multitrack(track, DEFAULT_STEMS)
        stems = np.asarray(song.stems, dtype=np.float32)
        whole = stem_levels(stems) | {"vocals_plain": plain_vocal_level(stems)}
        out.append((song.name, whole, window_levels(stems)))
    return out


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:+.1f}"


def levels_table(root: str | Path | None = None) -> str:
    """The DATA.md tables: per real song, whole-song level and window quantiles per stem;
    then the drawn distributions' quantiles."""
    names = ("vocals", "drums", "bass")
    lines = [
        "| song | vocals song, plain RMS | " + " | ".join(f"{n} song | {n} windows p10 / p50 / p90 | {n} absent"
                                  for n in names) + " |",
        "|---|---|" + "---|---|---|" * len(names),
    ]
    pooled: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for name, whole, win in measure_songs(root):
        cells = []
        for n in names:
            w = win.get(n, np.array([]))
            ok = w[np.isfinite(w)]
            pooled[n].append(w)
            q = np.percentile(ok, [10, 50, 90]) if ok.size else [np.nan] * 3
            absent = 1.0 - ok.size / max(w.size, 1)
            cells += [_fmt(whole.get(n, np.nan)), " / ".join(_fmt(v) for v in q),
                      f"{absent:.0%}"]
        plain = _fmt(whole.get("vocals_plain", np.nan))
        lines.append(f"| {name} | {plain} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        w = np.concatenate(pooled[n]) if pooled[n] else np.array([])
        ok = w[np.isfinite(w)]
        q = np.percentile(ok, [10, 50, 90]) if ok.size else [np.nan] * 3
        cells += ["", " / ".join(_fmt(v) for v in q), f"{1.0 - ok.size / max(w.size, 1):.0%}"]
    lines.append("| **all windows** | | " + " | ".join(cells) + " |")
    probs = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    cfg = LevelConfig()
    lines += [
        "",
        "| drawn | " + " | ".join(f"q{p:g}" for p in probs) + " |",
        "|---|" + "---|" * len(probs),
    ]
    for n, pts in (("vocals", cfg.vocals_db), ("drums", cfg.drums_db), ("bass", cfg.bass_db)):
        lines.append(f"| {n} | " + " | ".join(_fmt(v) for v in quantiles_of(pts, probs)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data.levels",
        description="Measure voice, drums and bass levels of the real multitrack songs.",
    )
    parser.add_argument("--root", type=Path, default=None, help="real data folder")
    args = parser.parse_args(argv)
    print(levels_table(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
