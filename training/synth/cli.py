"""``python -m training synth -o DIR --songs N --seconds S --seed K [--split train|valid|test]``.

Owns the dataset writer: derives one seed per song from ``(K, split, index)`` (so splits never
share seeds), generates songs in a process pool (``--jobs``, default 2), writes each song as a
MUSDB18-HQ folder ``DIR/<split>-<K>-<index>/{mixture,vocals,drums,bass,other}.<ext>`` with the
mixture the exact sum of the quantised stems, and ``DIR/manifest.json`` (seeds, sources per
track, durations, loudness). Existing complete songs are kept (resumable). Runs in the main
process; workers run ``song.generate``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from training.synth import production, sources

log = logging.getLogger(__name__)
SPLIT_INDEX = {"train": 0, "valid": 1, "test": 2}


def song_seed(seed: int, split: str, index: int) -> int:
    """The seed of song ``index`` of a dataset: distinct across splits and base seeds."""
    state = np.random.SeedSequence([seed, SPLIT_INDEX[split], index]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def write_song(folder: Path, stems: dict[str, np.ndarray], fmt: str, bits: int) -> None:
    """Write stems on the PCM grid and the mixture as their exact sum; atomic per folder."""
    ints, mix = production.quantise(stems, bits)
    subtype = f"PCM_{bits}"
    tmp = folder.with_name(folder.name + ".part")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, data in [("mixture", mix), *ints.items()]:
        sf.write(str(tmp / f"{name}.{fmt}"), data, SAMPLE_RATE, subtype=subtype, format=fmt.upper())
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    tmp.rename(folder)


def _job(task: tuple[int, int, float, str, str, str, int, float | None]) -> dict:
    from training.synth import song  # imported in the worker

    index, seed, seconds, split, out, fmt, bits, lufs = task
    t0 = time.perf_counter()
    result = song.generate(seed, seconds, split, lufs)
    name = f"{split}-{index:05d}"
    write_song(Path(out) / name, result.stems, fmt, bits)
    meta = dict(result.meta, name=name, index=index, render_s=round(time.perf_counter() - t0, 2))
    (Path(out) / name / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training synth",
        description="Generate a synthetic multitrack dataset (MUSDB18-HQ layout).",
    )
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    p.add_argument("--songs", type=int, default=10, help="number of songs")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each song")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument(
        "--split",
        choices=sorted(SPLIT_INDEX),
        default="train",
        help="which sources may be used: test uses held-out kits/soundfonts/voices",
    )
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    p.add_argument("--format", choices=("wav", "flac"), default="wav")
    p.add_argument("--bits", type=int, choices=(16, 24), default=16)
    p.add_argument(
        "--lufs",
        type=float,
        default=None,
        help="fixed loudness of every song (default: drawn in -22..-10 LUFS)",
    )
    p.add_argument("--first", type=int, default=0, help="index of the first song (to extend)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.songs < 1 or args.seconds < 4:
        print("error: need --songs >= 1 and --seconds >= 4", file=sys.stderr)
        return 2
    if not sources.soundfonts(args.split) or not sources.drum_kits(args.split):
        print(
            "error: no soundfont or drum kit installed for this split (see Makefile TEST_DEBS)",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    done: dict[str, dict] = {}
    if manifest_path.exists():
        for m in json.loads(manifest_path.read_text()).get("songs", []):
            done[m["name"]] = m
    tasks = []
    for i in range(args.first, args.first + args.songs):
        name = f"{args.split}-{i:05d}"
        if name in done and all(
            (args.out / name / f"{s}.{args.format}").exists() for s in ("mixture", *DEFAULT_STEMS)
        ):
            continue
        tasks.append(
            (
                i,
                song_seed(args.seed, args.split, i),
                args.seconds,
                args.split,
                str(args.out),
                args.format,
                args.bits,
                args.lufs,
            )
        )
    from tqdm import tqdm

    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(max(1, args.jobs), maxtasksperchild=20) as pool:
        for meta in tqdm(
            pool.imap_unordered(_job, tasks), total=len(tasks), unit="song", file=sys.stderr
        ):
            done[meta["name"]] = meta
            _write_manifest(manifest_path, args, done, time.perf_counter() - t0)
    _write_manifest(manifest_path, args, done, time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    if tasks:
        print(
            f"{len(tasks)} songs, {len(tasks) * args.seconds:.0f} s of audio in {wall:.1f} s "
            f"({len(tasks) * args.seconds / wall:.2f} s of song per second, "
            f"{args.jobs} jobs) -> {args.out}"
        )
    return 0


def _write_manifest(
    path: Path, args: argparse.Namespace, done: dict[str, dict], wall: float
) -> None:
    songs = sorted(done.values(), key=lambda m: m["name"])
    summary = summarise(songs)
    data = {
        "split": args.split,
        "base_seed": args.seed,
        "sample_rate": SAMPLE_RATE,
        "format": args.format,
        "bits": args.bits,
        "stems": list(DEFAULT_STEMS),
        "summary": summary,
        "songs": songs,
    }
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def used_sources(meta: dict) -> set[str]:
    """Every sound source one song used: soundfonts, drum kits, voices (keys as in sources)."""
    out = {f"kit:{meta['drum_kit']}"}
    if "percussion_kit" in meta:
        out.add(f"kit:{meta['percussion_kit']}")
    for t in meta["tracks"]:
        if t["name"] != "drums":
            out.add(f"soundfont:{t['source']}")
    for v in meta["voices"]:
        out.add(f"voice:{v['voice']}")
    return out


def summarise(songs: list[dict]) -> dict:
    instruments = {
        (t["source"], t["program"])
        for m in songs
        for t in m["tracks"]
        if t["name"] != "drums" and not t.get("drum")
    }
    return {
        "songs": len(songs),
        "hours": round(sum(m["seconds"] for m in songs) / 3600, 4),
        "genres": sorted({m["genre"] for m in songs}),
        "distinct_instruments": len(instruments),
        "distinct_gm_programs": len({p for _, p in instruments}),
        "drum_kits": sorted({m["drum_kit"] for m in songs}),
        "voices": sorted({v["voice"] for m in songs for v in m["voices"]}),
        "soundfonts": sorted(
            {
                t["source"]
                for m in songs
                for t in m["tracks"]
                if t["name"] != "drums" or t.get("drum")
            }
        ),
        "render_s": round(sum(m.get("render_s", 0) for m in songs), 1),
    }
