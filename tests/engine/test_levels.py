"""engine/levels: the one dB→gain rule, RMS meter and pan law the player, export and training use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.levels import MAX_GAIN_DB, apply_pan, db_to_gain, pan_gains, pan_matrix, rms_db


@pytest.mark.parametrize("db", [math.nan, -math.inf])
def test_silence_and_nan_give_zero_gain(db: float) -> None:
    assert db_to_gain(db) == 0.0


def test_gain_is_capped_at_max_gain_db() -> None:
    assert db_to_gain(MAX_GAIN_DB + 30) == db_to_gain(math.inf) == pytest.approx(
        10 ** (MAX_GAIN_DB / 20))


def test_rms_db_of_silence_and_of_a_full_scale_sine() -> None:
    assert rms_db(np.zeros((2, 1000), np.float32)) == pytest.approx(-200.0)
    t = np.arange(44100) / 44100
    sine = np.sin(2 * np.pi * 441 * t).astype(np.float32)
    assert rms_db(np.stack([sine, sine])) == pytest.approx(-3.01, abs=0.01)


@pytest.mark.parametrize("position", np.linspace(-1.0, 1.0, 9))
def test_pan_law_is_equal_power_with_0_db_at_centre(position: float) -> None:
    left, right = pan_gains(position)
    assert left**2 + right**2 == pytest.approx(2.0)  # the power of a centred sound, everywhere
    assert pan_gains(0.0) == pytest.approx((1.0, 1.0))
    assert pan_gains(-1.0) == pytest.approx((math.sqrt(2.0), 0.0), abs=1e-12)
    assert pan_gains(math.nan) == pan_gains(0.0)


def test_player_pan_of_a_mono_stem_follows_the_law() -> None:
    # a stem with the same signal left and right, panned by the player, is the law's (l, r)
    x = np.tile(np.linspace(-0.5, 0.5, 64, dtype=np.float32), (2, 1))
    for pan in (-100.0, -40.0, 0.0, 25.0, 100.0):
        out = apply_pan(x, pan)
        ll, lr, rl, rr = pan_matrix(pan)
        left, right = pan_gains(pan / 100.0)
        assert (ll + lr, rl + rr) == pytest.approx((left, right))
        np.testing.assert_allclose(out, np.stack([left * x[0], right * x[1]]), atol=1e-6)
