"""CPU cost of the audio callback per block (the budget is one block: 11.6 ms at 512).

Runs ``Mixer.process`` on plain numpy buffers with slots A and B (4 stems each) full, switching
source and moving a fader every block, and prints the median and 99th percentile time per
block. Usage: ``.venv/bin/python benchmarks/mixer_callback.py [BLOCKSIZE]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from engine.mixer import Mixer, MixSettings, Source
from engine.ring import StemRing


def main(blocksize: int = 512, blocks: int = 4000) -> None:
    n = blocks * blocksize + blocksize
    rng = np.random.default_rng(0)
    mixer = Mixer()
    mix = StemRing(1, n)
    mix.reset(1, 0)
    mix.write(rng.standard_normal((1, 2, n), dtype=np.float32) * 0.1)
    mixer.mix_ring = mix
    sources = {}
    for slot in ("A", "B"):
        ring = StemRing(4, n)
        ring.reset(1, 0)
        ring.write(rng.standard_normal((4, 2, n), dtype=np.float32) * 0.1)
        sources[slot] = Source(ring, ("vocals", "drums", "bass", "other"))
    mixer.sources = sources
    mixer.seek_request = (1, 0)
    mixer.play_request = True
    out = np.zeros((blocksize, 2), dtype=np.float32)
    settings = [
        MixSettings(source="AB"[i % 2]).with_gain_db("bass", -3.0 * (i % 5)) for i in range(8)
    ]
    times = np.empty(blocks)
    for i in range(blocks):
        mixer.settings = settings[(i // 50) % len(settings)]
        t0 = time.perf_counter()
        mixer.process(out, blocksize)
        times[i] = time.perf_counter() - t0
    budget = blocksize / 44100 * 1e3
    print(
        f"blocksize {blocksize}: median {np.median(times) * 1e6:.0f} us, "
        f"p99 {np.percentile(times, 99) * 1e6:.0f} us, max {times.max() * 1e6:.0f} us "
        f"(budget {budget:.1f} ms)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 512)
