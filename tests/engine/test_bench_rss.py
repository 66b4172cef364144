"""``stemplay bench``: its memory figures measure the player's process, not the bench's own;
its far-seek figure is the median of several seeks."""

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


def test_far_seek_figure_is_the_median_of_seeks_across_the_song(tmp_path) -> None:
    """``seek_separated_ms``: one far seek says little (where it lands against the segment
    grid decides one model run or two), so the bench seeks to several points and reports the
    median, each one beside it."""
    import soundfile as sf

    from engine.bench import FAR_SEEKS, measure_playback
    from tests import tinymodels as tm
    from tests.conftest import make_music

    song = tmp_path / "song.wav"
    sf.write(song, make_music(12.0).T, 44100)
    res = measure_playback(song, str(tm.band_split_model(tmp_path / "b.onnx")))
    each = res["seek_separated_ms_each"]
    assert len(each) == len(FAR_SEEKS) and all(ms > 0 for ms in each)
    assert res["seek_separated_ms"] == round(float(np.median(each)), 1)
    assert list(FAR_SEEKS) == sorted(FAR_SEEKS, reverse=True)  # each outside what is ahead
