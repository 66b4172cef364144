"""Speed of streaming separation (``StreamSeparator``), the figure behind ``stemplay bench``'s
``speed_x_one`` / ``speed_x_ab``.

Separates a generated song (``engine.bench.make_song``) with one or two separators fed in turn
in blocks of the worker's size, several times, and prints the median wall-clock and CPU
speeds (× real time: seconds of audio per second of compute), plus, with ``--profile``, the
functions that took the most time. Built for comparing engine changes on a shared, noisy
machine: quote medians, compare CPU speeds, repeat.

    .venv/bin/python benchmarks/separation_speed.py --model /tmp/tiny.onnx [--slots 2]
        [--seconds 60] [--repeats 5] [--block 16384] [--threads N] [--profile]

A tiny band-split model (``tests/tinymodels.py``) measures the engine's own overhead (decode
excluded: the song is decoded once up front); ``benchmarks/standin_model.py`` writes a model of
the target size. Main thread.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.bench import make_song
from engine.config import SAMPLE_RATE
from engine.decode import read_all
from engine.model import load_model
from engine.separate import StreamSeparator


def run_once(seps: list[StreamSeparator], audio: np.ndarray, block: int) -> tuple[float, float]:
    """One pass over ``audio`` ``(2, n)``: (wall seconds, CPU seconds of the process)."""
    for sep in seps:
        sep.reset(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, audio.shape[1], block):
        for sep in seps:
            sep.feed(audio[:, i : i + block])
    for sep in seps:
        sep.finish()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="an .onnx file or a name in models/")
    p.add_argument("--slots", type=int, default=1, choices=(1, 2))
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--block", type=int, default=16384, help="samples per feed (worker: 16384)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: auto)")
    p.add_argument("--profile", action="store_true", help="print the top functions (cProfile)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stemplay-speed-") as tmp:
        audio = read_all(make_song(Path(tmp) / "song.wav", args.seconds))
    seps = [StreamSeparator(load_model(args.model, threads=args.threads))
            for _ in range(args.slots)]
    run_once(seps, audio[:, : 8 * args.block], args.block)  # FFTW plans, first model run
    seconds = audio.shape[1] / SAMPLE_RATE
    prof = cProfile.Profile() if args.profile else None
    walls, cpus = [], []
    for _ in range(args.repeats):
        if prof:
            prof.enable()
        wall, cpu = run_once(seps, audio, args.block)
        if prof:
            prof.disable()
        walls.append(seconds / wall)
        cpus.append(seconds / cpu)
    print(f"{args.slots} slot(s), {seconds:.0f} s, feeds of {args.block}: "
          f"x real time wall median {np.median(walls):.1f} (min {min(walls):.1f}, "
          f"max {max(walls):.1f}), cpu median {np.median(cpus):.1f}")
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
