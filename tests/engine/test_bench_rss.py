"""``stemplay bench``'s memory figures measure the player's process, not the bench's own."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def test_peak_memory_of_a_child_is_its_own_not_the_parent_s() -> None:
    held = np.ones(400 * 2**20 // 8)  # 400 MiB resident in this (the parent) process
    out = subprocess.run(
        [sys.executable, "-c", "from engine.bench import peak_rss_kib; print(peak_rss_kib())"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    child_mib = int(out.strip().splitlines()[-1]) / 1024
    assert held.sum() > 0
    assert 10 < child_mib < 300  # numpy + the engine's imports, far below the parent's 400 MiB
