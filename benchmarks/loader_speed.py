"""Speed of the training data loader: excerpts per second of ``MixDataset`` with 0, 1 and 2
DataLoader worker processes, and the time per excerpt of each source (main process).

Reads the ``data`` section of a training config (default ``training/configs/hybrid.yaml``) and
the excerpt length from its ``frames``; draws ``--items`` excerpts per setting. A benchmark,
not a test: on a shared machine quote the figure with the load it ran under.

    .venv/bin/python benchmarks/loader_speed.py [--config CFG] [--items 48] [--workers 0 1 2]
        [--pending-as-kept]

``--pending-as-kept``: while the real-music bank is still being screened, treat its unscreened
tracks as kept (every other one as drum-free) in a temporary manifest, so the real-music
sources can be timed. For speed figures only: unscreened tracks are never for training.
Main thread (plus the DataLoader's worker processes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import train
from training.data.mix import SOURCES, MixConfig, MixDataset
from training.data.realmusic import MANIFEST
from training.data.realmusic import default_root as default_realmusic_root


def pending_as_kept(root: Path, out_dir: Path) -> Path:
    """A copy of the bank's manifest with every unscreened track kept (absolute paths)."""
    tracks = []
    for i, t in enumerate(json.loads((root / MANIFEST).read_text()).get("tracks", [])):
        if t.get("verdict") == "drop":
            continue
        t = dict(t, path=str(root / t["path"]))
        if t.get("verdict") != "keep":
            t.update(verdict="keep", has_drums=bool(i % 2))
        tracks.append(t)
    (out_dir / "manifest.json").write_text(json.dumps({"tracks": tracks}))
    return out_dir


def rate(dataset: MixDataset, workers: int, items: int, batch: int) -> float:
    """Excerpts per second through a DataLoader (start-up of the workers included)."""
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, range(items)), batch_size=batch, num_workers=workers
    )
    start = time.perf_counter()
    n = sum(b[0].shape[0] for b in loader)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "training/configs/hybrid.yaml"))
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pending-as-kept", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = train.load_config(args.config)
    conf = dict(cfg.data.get("config") or {})
    conf.setdefault("seconds", train.excerpt_samples(cfg.frames) / 44100 + 0.01)
    conf["samples_per_epoch"] = max(args.items, 8)
    conf.setdefault("missing_sources", "skip")
    with tempfile.TemporaryDirectory() as tmp:
        if args.pending_as_kept:
            root = Path(conf.get("realmusic_root") or default_realmusic_root())
            conf["realmusic_root"] = str(pending_as_kept(root, Path(tmp)))
        t0 = time.perf_counter()
        dataset = MixDataset(MixConfig.from_dict(conf))
        print(f"dataset built in {time.perf_counter() - t0:.1f} s")
        print(dataset.describe())
        per_source: dict[str, list[float]] = defaultdict(list)
        for i in range(min(args.items, len(dataset))):
            t = time.perf_counter()
            dataset.example(i)
            per_source[dataset.source_of(i)].append(time.perf_counter() - t)
        print(f"\nexcerpt {dataset.config.seconds:.2f} s; ms per excerpt by source (main process):")
        for s in SOURCES:
            if per_source[s]:
                v = per_source[s]
                print(f"  {s:<24} {1000 * sum(v) / len(v):7.1f}  (n={len(v)})")
        load = os.getloadavg()[0]
        print(f"\nload average {load:.1f} on {os.cpu_count()} CPUs")
        for w in args.workers:
            r = rate(dataset, w, min(args.items, len(dataset)), args.batch)
            print(f"workers {w}: {r:6.2f} excerpts/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
