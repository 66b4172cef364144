"""Mixer maths and the audio callback, driven with plain numpy buffers (no device)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from engine.levels import db_to_gain
from engine.mixer import (
    Mixer,
    MixSettings,
    Source,
    crossfade_weights,
    linear_ramp,
    stem_audible,
)
from engine.ring import StemRing

STEMS = ("vocals", "drums", "bass", "other")
BLOCK = 512


# ------------------------------------------------------------------------------ maths
@pytest.mark.parametrize(
    ("db", "gain"), [(0.0, 1.0), (-6.0206, 0.5), (20.0, 10.0), (-math.inf, 0.0), (-120.0, 1e-6)]
)
def test_db_to_gain(db: float, gain: float) -> None:
    assert db_to_gain(db) == pytest.approx(gain, rel=1e-4, abs=1e-12)


@pytest.mark.parametrize(
    ("stem", "mute", "solo", "audible"),
    [
        ("vocals", set(), set(), True),  # nothing pressed: all play
        ("vocals", {"vocals"}, set(), False),  # muted
        ("drums", {"vocals"}, set(), True),  # another one muted
        ("vocals", set(), {"vocals"}, True),  # soloed
        ("drums", set(), {"vocals"}, False),  # any solo: only soloed stems
        ("drums", set(), {"vocals", "drums"}, True),  # two soloed
        ("vocals", {"vocals"}, {"vocals"}, False),  # mute beats solo
        ("bass", {"vocals"}, {"vocals"}, False),  # a muted solo still silences the others
    ],
)
def test_solo_mute_truth_table(stem: str, mute: set, solo: set, audible: bool) -> None:
    assert stem_audible(stem, mute, solo) is audible


def test_linear_ramp_joins_blocks_without_steps() -> None:
    out = np.empty(8, dtype=np.float32)
    linear_ramp(out, 1.0, 0.0)
    np.testing.assert_allclose(out, 1.0 - np.arange(1, 9) / 8, atol=1e-7)
    assert out[-1] == 0.0  # ends exactly on the new gain: the next block starts from there


def test_crossfade_weights_are_equal_gain() -> None:
    w = np.empty(10, dtype=np.float32)
    crossfade_weights(w, offset=5, length=10)
    np.testing.assert_allclose(w, np.clip((np.arange(10) + 6) / 10, 0, 1), atol=1e-7)


def test_settings_gain_includes_mute_and_solo() -> None:
    s = MixSettings().with_gain_db("bass", -6.0206).with_solo("bass", True)
    assert s.gain("bass") == pytest.approx(0.5, rel=1e-4)
    assert s.gain("vocals") == 0.0
    assert s.with_mute("bass", True).gain("bass") == 0.0
    with pytest.raises(ValueError):
        MixSettings(source="C")


# ------------------------------------------------------------------------------ callback
def stems_signal(n: int) -> np.ndarray:
    """(stems, 2, n): stem k is a sine at 100·(k+1) Hz with amplitude 0.1·(k+1), R = −L."""
    t = np.arange(n) / 44100
    out = np.empty((4, 2, n), dtype=np.float32)
    for k in range(4):
        out[k, 0] = 0.1 * (k + 1) * np.sin(2 * np.pi * 100 * (k + 1) * t)
        out[k, 1] = -out[k, 0]
    return out


def make_mixer(
    n: int = 44100, slots: dict[str, np.ndarray] | None = None, mix: np.ndarray | None = None
) -> tuple[Mixer, np.ndarray]:
    stems = stems_signal(n)
    mix_audio = stems.sum(axis=0) if mix is None else mix
    mixer = Mixer()
    ring = StemRing(1, n + 10)
    ring.reset(1, 0)
    ring.write(mix_audio[None])
    mixer.mix_ring = ring
    sources = {}
    for name, audio in (slots or {}).items():
        r = StemRing(audio.shape[0], n + 10)
        r.reset(1, 0)
        r.write(audio)
        sources[name] = Source(r, STEMS[: audio.shape[0]])
    mixer.sources = sources
    mixer.seek_request = (1, 0)
    mixer.play_request = True
    return mixer, stems


def run(mixer: Mixer, blocks: int, block: int = BLOCK) -> np.ndarray:
    """(frames, 2) output of ``blocks`` callbacks, skipping the silent seek block."""
    out = np.empty((blocks * block, 2), dtype=np.float32)
    for i in range(blocks):
        mixer.process(out[i * block : (i + 1) * block], block)
    return out


def start(mixer: Mixer) -> None:
    """Apply the initial seek and the fade-in, so the following blocks play at full gain."""
    silent = run(mixer, 1)
    assert not silent.any()  # the seek block is silent (nothing played before it)
    run(mixer, 1)


def test_plays_stems_of_selected_slot_with_solo() -> None:
    mixer, stems = make_mixer(slots={"A": stems_signal(44100)})
    mixer.settings = MixSettings(source="A").with_solo("drums", True)
    start(mixer)  # the first played block ramps in; the fades settle within 2 blocks
    out = run(mixer, 4)
    np.testing.assert_allclose(out, stems[1, :, BLOCK : 5 * BLOCK].T, atol=1e-6)
    assert mixer.heard == "A"
    assert mixer.levels[0, 0] == 0.0  # vocals meter: nothing played
    assert mixer.levels[1, 0] == pytest.approx(0.2, rel=0.05)  # drums peak


def test_plain_mix_until_stems_arrive_then_crossfade() -> None:
    n = 44100
    stems = stems_signal(n)
    mixer, _ = make_mixer(n, slots={})
    ring_a = StemRing(4, n)
    ring_a.reset(1, 0)
    mixer.sources = {"A": Source(ring_a, STEMS)}
    mixer.settings = MixSettings(source="A").with_mute("vocals", True)
    start(mixer)
    out = run(mixer, 4)  # no stems yet: the plain mix (with vocals), never silence
    np.testing.assert_allclose(out, stems.sum(0)[:, BLOCK : 5 * BLOCK].T, atol=1e-6)
    assert mixer.heard == "mix"
    ring_a.write(stems)  # the worker catches up
    out = run(mixer, 4)
    pos = 5 * BLOCK
    mix = stems.sum(0)[:, pos : pos + 4 * BLOCK].T
    no_vocals = stems[1:].sum(0)[:, pos : pos + 4 * BLOCK].T
    fade = mixer.fade_len
    w = np.clip(np.arange(1, 4 * BLOCK + 1) / fade, 0, 1)[:, None]
    np.testing.assert_allclose(out, (1 - w) * mix + w * no_vocals, atol=1e-5)
    assert mixer.heard == "A"
    assert np.max(np.abs(np.diff(out[:, 0]))) < 0.1  # no click at the hand-over


def test_gain_change_ramps_across_one_block() -> None:
    dc = np.ones((4, 2, 44100), dtype=np.float32) * 0.25
    mixer, _ = make_mixer(slots={"A": dc}, mix=dc.sum(0))
    mixer.settings = MixSettings(source="A")
    start(mixer)
    np.testing.assert_allclose(run(mixer, 1), 1.0, atol=1e-6)
    mixer.settings = mixer.settings.with_gain_db("vocals", -math.inf)
    out = run(mixer, 2)[:, 0]
    expect_first = 1.0 - 0.25 * np.arange(1, BLOCK + 1) / BLOCK  # linear 1.0 → 0.75 in 1 block
    np.testing.assert_allclose(out[:BLOCK], expect_first, atol=1e-6)
    np.testing.assert_allclose(out[BLOCK:], 0.75, atol=1e-6)  # the new gain from block 2 on
    assert np.max(np.abs(np.diff(out))) <= 0.25 / BLOCK + 1e-6  # no zipper step
    mixer.settings = mixer.settings.with_gain_db("vocals", 0.0)
    mixer.settings = replace_master(mixer.settings, -6.0206)
    out = run(mixer, 2)[:, 0]
    np.testing.assert_allclose(out[BLOCK:], 0.5, atol=1e-5)


def replace_master(settings: MixSettings, db: float) -> MixSettings:
    from dataclasses import replace

    return replace(settings, master_db=db)


def test_ab_switch_is_crossfaded_within_one_block() -> None:
    n = 44100
    a = stems_signal(n)
    b = a * 0.5
    mixer, _ = make_mixer(n, slots={"A": a, "B": b})
    mixer.settings = MixSettings(source="A")
    start(mixer)
    run(mixer, 2)
    mixer.settings = MixSettings(source="B")
    out = run(mixer, 4)
    pos = 3 * BLOCK
    fa = a.sum(0)[:, pos : pos + 4 * BLOCK].T
    fb = b.sum(0)[:, pos : pos + 4 * BLOCK].T
    w = np.clip(np.arange(1, 4 * BLOCK + 1) / mixer.fade_len, 0, 1)[:, None]
    np.testing.assert_allclose(out, (1 - w) * fa + w * fb, atol=1e-5)
    assert 0.010 <= mixer.fade_len / 44100 <= 0.020  # 10–20 ms
    assert mixer.heard == "B"


def test_underrun_plays_what_is_there_and_counts() -> None:
    n = 3000
    mixer, stems = make_mixer(n, slots={})
    mixer.settings = MixSettings(source="mix")
    start(mixer)  # played 512 samples
    run(mixer, 3)  # up to 2048
    out = run(mixer, 2)  # 952 left, then nothing
    np.testing.assert_allclose(out[: n - 4 * BLOCK], stems.sum(0)[:, 4 * BLOCK :].T, atol=1e-6)
    assert not out[n - 4 * BLOCK :].any()
    assert mixer.underruns >= 1
    assert mixer.playhead == (1, n)  # inserted zeros, nothing skipped
    assert not mixer.finished


def test_end_of_file_finishes_without_underrun() -> None:
    n = 1500
    mixer, _ = make_mixer(n, slots={})
    mixer.mix_ring.mark_eof()
    start(mixer)
    run(mixer, 4)
    assert mixer.finished
    assert mixer.underruns == 0
    assert mixer.playhead == (1, n)


def test_seek_drops_stale_generation_and_fades() -> None:
    n = 44100
    mixer, stems = make_mixer(n, slots={})
    mixer.settings = MixSettings(source="mix")
    start(mixer)
    mixer.seek_request = (2, 10000)  # the GUI asks for a seek; the worker has not caught up
    out = run(mixer, 1)  # fade-out block of the old position
    assert abs(out[-1, 0]) < 1e-6
    # it jumped at the end of that block: the worker, which waits for the playhead to leave
    # the old generation before it empties the rings, need not wait one more block
    assert mixer.playhead == (2, 10000)
    out = run(mixer, 3)
    assert not out.any()  # the ring holds generation 1 only: nothing stale is played
    mixer.mix_ring.reset(2, 10000)
    mixer.mix_ring.write(stems.sum(0)[None, :, 10000:20000])
    out = run(mixer, 3)
    expect = stems.sum(0)[:, 10000 : 10000 + 3 * BLOCK].T
    ramp = np.ones((3 * BLOCK, 1))
    ramp[:BLOCK, 0] = np.arange(1, BLOCK + 1) / BLOCK  # fades in over one block
    np.testing.assert_allclose(out, expect * ramp, atol=1e-6)
    assert mixer.playhead == (2, 10000 + 3 * BLOCK)


def test_pause_fades_out_and_holds_position() -> None:
    mixer, _ = make_mixer(slots={})
    start(mixer)
    mixer.play_request = False
    out = run(mixer, 1)
    assert abs(out[-1, 0]) < 1e-6
    pos = mixer.playhead
    assert not run(mixer, 3).any()
    assert mixer.playhead == pos
    assert not mixer.playing


def test_callback_never_allocates_blocks() -> None:
    mixer, _ = make_mixer(slots={"A": stems_signal(44100), "B": stems_signal(44100)})
    mixer.settings = MixSettings(source="A")
    block = 2048
    out = np.empty((block, 2), dtype=np.float32)
    for _ in range(3):
        mixer.process(out, block)
    # gain ramps, A/B switches and master changes on the way
    settings = [
        MixSettings(source="AB"[i % 2], master_db=-float(i)).with_gain_db("bass", -i)
        for i in range(12)
    ]
    tracemalloc.start()
    for s in settings:
        mixer.settings = s
        mixer.process(out, block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < block * 2 * 4  # less than one block of audio: no array was allocated
    assert mixer.errors == 0


def test_seek_applies_when_the_worker_reset_the_ring_first() -> None:
    n = 44100
    mixer, stems = make_mixer(n, slots={})
    mixer.settings = MixSettings(source="mix")
    start(mixer)
    mixer.seek_request = (2, 0)
    mixer.mix_ring.reset(2, 0)  # the worker was quicker than the callback
    mixer.mix_ring.write(stems.sum(0)[None, :, 20000:30000])
    out = run(mixer, 4)
    assert mixer.playhead[0] == 2  # not stuck in the old generation
    played = out[np.flatnonzero(np.abs(out[:, 0]) > 0)[0] :]
    assert played.shape[0] >= 2 * BLOCK
    np.testing.assert_allclose(
        played[BLOCK : 2 * BLOCK], stems.sum(0)[:, 20000 + BLOCK : 20000 + 2 * BLOCK].T, atol=1e-6
    )
