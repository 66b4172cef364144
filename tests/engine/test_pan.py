"""Per-stem pan: the law, the callback (hard left, centre exact, ramps, no allocation)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from engine.levels import apply_pan, pan_matrix
from engine.mixer import Mixer, MixSettings, Source
from engine.ring import StemRing

SR = 44100
BLOCK = 512
STEMS = ("vocals", "drums", "bass", "other")


def stems_signal(n: int) -> np.ndarray:
    """(4, 2, n): stem k a sine at 100·(k+1) Hz; left and right differ (a stereo image)."""
    t = np.arange(n) / SR
    out = np.empty((4, 2, n), dtype=np.float32)
    for k in range(4):
        out[k, 0] = 0.1 * (k + 1) * np.sin(2 * np.pi * 100 * (k + 1) * t)
        out[k, 1] = 0.05 * (k + 1) * np.sin(2 * np.pi * 150 * (k + 1) * t)
    return out


def make_mixer(n: int = SR) -> tuple[Mixer, np.ndarray]:
    stems = stems_signal(n)
    mixer = Mixer()
    ring = StemRing(1, n + 10)
    ring.reset(1, 0)
    ring.write(stems.sum(0)[None])
    mixer.mix_ring = ring
    r = StemRing(4, n + 10)
    r.reset(1, 0)
    r.write(stems)
    mixer.sources = {"A": Source(r, STEMS)}
    mixer.seek_request = (1, 0)
    mixer.play_request = True
    return mixer, stems


def run(mixer: Mixer, blocks: int) -> np.ndarray:
    out = np.empty((blocks * BLOCK, 2), dtype=np.float32)
    for i in range(blocks):
        mixer.process(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
    return out


@pytest.mark.parametrize("pan", [-100, -60, -1, 0, 1, 35, 100])
def test_pan_law_is_equal_power_for_a_centred_sound(pan: float) -> None:
    ll, lr, rl, rr = pan_matrix(pan)
    left, right = ll + lr, rl + rr  # a mono sound (L = R = 1)
    assert left**2 + right**2 == pytest.approx(2.0)  # the power it has at centre


def test_pan_law_centre_is_identity_and_sides_are_one_ear() -> None:
    assert pan_matrix(0) == (1.0, 0.0, 0.0, 1.0)
    ll, lr, rl, rr = pan_matrix(-100)
    assert (rl, rr) == pytest.approx((0.0, 0.0), abs=1e-12)  # nothing on the right
    assert ll == pytest.approx(lr)  # the whole stem, its right channel too, on the left
    ll, lr, rl, rr = pan_matrix(100)
    assert (ll, lr) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_apply_pan_centre_returns_the_stem_unchanged() -> None:
    x = stems_signal(1000)[0]
    assert apply_pan(x, 0.0) is x
    y = apply_pan(x, -100)
    assert not y[1].any() or np.abs(y[1]).max() < 1e-7


def test_hard_left_stem_leaves_the_right_channel_silent() -> None:
    mixer, stems = make_mixer()
    mixer.settings = MixSettings(source="A").with_solo("bass", True).with_pan("bass", -100)
    run(mixer, 4)
    out = run(mixer, 10)
    assert np.abs(out[:, 1]).max() < 1e-6
    assert np.abs(out[:, 0]).max() > 0.3  # the bass is on the left, right channel folded in
    expected = (stems[2, 0] + stems[2, 1]) / math.sqrt(2)
    np.testing.assert_allclose(out[:, 0], expected[3 * BLOCK : 13 * BLOCK], atol=1e-5)


def test_centre_pan_is_bit_exact_with_no_pan() -> None:
    a, _ = make_mixer()
    a.settings = MixSettings(source="A").with_gain_db("drums", -6)
    ref = run(a, 12)
    b, _ = make_mixer()
    b.settings = MixSettings(source="A").with_gain_db("drums", -6).with_pan("drums", 0)
    assert np.array_equal(run(b, 12), ref)


def test_pan_change_ramps_without_a_step() -> None:
    mixer, _ = make_mixer()
    mixer.settings = MixSettings(source="A").with_solo("vocals", True)
    run(mixer, 4)
    before = run(mixer, 1)
    mixer.settings = mixer.settings.with_pan("vocals", 100)
    ramp = run(mixer, 1)
    after = run(mixer, 2)
    joined = np.concatenate([before, ramp, after])
    # the left channel goes from the vocals to nothing smoothly: steps stay those of the sine
    assert np.abs(np.diff(joined[:, 0])).max() < 0.1 * 2 * math.pi * 150 / SR * 2
    assert np.abs(after[:, 0]).max() < 1e-6
    assert np.abs(ramp[0, 0] - before[-1, 0]) < 0.01


def test_panned_callback_never_allocates_arrays() -> None:
    mixer, _ = make_mixer()
    block = 2048
    out = np.empty((block, 2), dtype=np.float32)
    for _ in range(3):
        mixer.process(out, block)
    settings = [MixSettings(source="A").with_pan("vocals", -100 + 20 * i)
                .with_pan("bass", 50).with_gain_db("drums", -i) for i in range(10)]
    tracemalloc.start()
    for s in settings:
        mixer.settings = s
        mixer.process(out, block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < block * 2 * 4
    assert mixer.errors == 0
