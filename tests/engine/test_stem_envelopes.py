"""engine/stem_envelopes.py: the separated stems' envelopes, read from the rings of a real
engine (band-split test model: each tone is one stem), per slot, and how far each is ahead."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.player import Engine, EngineConfig
from engine.stem_envelopes import StemEnvelopes
from tests import tinymodels
from tests.app.conftest import TONE_LEVEL, other_level, tone_song


@pytest.fixture
def engine(tmp_path, models_dir):
    tinymodels.band_split_model(models_dir / "bandsplit.onnx", name="bandsplit")
    tinymodels.band_split_model(models_dir / "bandsplit2.onnx", name="bandsplit2")
    eng = Engine(EngineConfig(device="null", model="bandsplit", ahead_s=3.0))
    yield eng
    eng.close()


def wait_ahead(eng, tap, track, seconds, slots=("A", "B"), timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tap.poll(eng, track)
        if all(tap.ahead().get(s, 0.0) >= seconds for s in slots):
            return
        time.sleep(0.05)
    raise AssertionError(f"not {seconds} s ahead: {tap.ahead()}")


def test_envelopes_of_each_slot_follow_the_separated_stems(engine, tmp_path):
    song = tone_song(tmp_path / "Tone Song", 8.0)
    info = engine.open(song)
    engine.set_model("B", "bandsplit2")
    tap = StemEnvelopes(buckets=80)  # 0.1 s buckets
    wait_ahead(engine, tap, info, 2.9)
    tap.poll(engine, info)
    for slot in ("A", "B"):
        env = tap.slots[slot]
        assert env.stems == ("vocals", "drums", "bass", "other")
        cov = env.covered
        upto = int(np.argmin(cov))  # covered from the start up to here, nothing after
        assert 29 <= upto <= 41 and not cov[upto:].any()  # ahead_s + the ring's 1 s slack
        rms = env.rms
        # a sine of amplitude a has RMS a/√2 (identical channels: the mono mix is the same)
        np.testing.assert_allclose(rms[0, 2:28], TONE_LEVEL / np.sqrt(2), rtol=0.03)
        t = (np.arange(80) + 0.5) * 0.1
        np.testing.assert_allclose(rms[3, 2:28], other_level(t[2:28]) / np.sqrt(2), rtol=0.05)
    # playing on: the covered region grows with the playhead
    engine.play()
    end = time.monotonic() + 30
    while time.monotonic() < end and engine.status().position_s < 2.5:
        tap.poll(engine, info)
        time.sleep(0.05)
    wait_ahead(engine, tap, info, 2.0)
    assert tap.slots["A"].covered[:45].all()


def test_a_new_model_in_a_slot_starts_empty(engine, tmp_path):
    song = tone_song(tmp_path / "Tone Song", 8.0)
    info = engine.open(song)
    tap = StemEnvelopes(buckets=80)
    wait_ahead(engine, tap, info, 2.9, slots=("A",))
    assert tap.slots["A"].covered[:28].all() and "B" not in tap.slots
    engine.set_model("A", "bandsplit2")
    engine.wait_ready()
    tap.poll(engine, info)
    assert not tap.slots["A"].covered[10:].any()
    assert tap.slots["A"].key[1].endswith("bandsplit2.onnx")
    tap.poll(engine, None)  # no song: nothing
    assert tap.slots == {}
