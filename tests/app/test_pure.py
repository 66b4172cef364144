"""Pure GUI-side logic: fader law, mix state and presets, time labels, waveform envelope,
export file-name preview. No Qt event loop needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.envelope import Envelope
from app.export_dialog import preview_names
from app.mixstate import MixState, apply_preset, db_to_fader, fader_to_db, format_db
from app.timefmt import format_time

STEMS = ("vocals", "drums", "bass", "other")


@pytest.mark.parametrize("db", [-60.0, -24.0, -6.0, -1.5, 0.0, 3.0, 6.0])
def test_fader_round_trip_within_a_tenth_of_a_db(db):
    assert fader_to_db(db_to_fader(db)) == pytest.approx(db, abs=0.15)


def test_fader_ends_are_silence_and_plus_six():
    assert fader_to_db(0) == -math.inf
    assert fader_to_db(1000) == pytest.approx(6.0)
    assert db_to_fader(-math.inf) == 0
    assert format_db(-math.inf) == "-∞ dB" and format_db(-3.04) == "-3.0 dB"


def test_mute_beats_solo_and_solo_silences_others():
    m = MixState.unity(STEMS).with_solo("vocals", True).with_mute("drums", True)
    assert [m.audible(s) for s in STEMS] == [True, False, False, False]
    m = m.with_mute("vocals", True)
    assert not m.audible("vocals")
    eff = MixState.unity(STEMS).with_gain("bass", -6.0).with_mute("drums", True).effective_db()
    assert eff == {"vocals": 0.0, "drums": -math.inf, "bass": -6.0, "other": 0.0}


@pytest.mark.parametrize(
    "preset, heard",
    [
        ("Karaoke", {"drums", "bass", "other"}),
        ("A cappella", {"vocals"}),
        ("Drumless", {"vocals", "bass", "other"}),
        ("Bassless", {"vocals", "drums", "other"}),
        ("All", set(STEMS)),
    ],
)
def test_presets_decide_what_is_heard(preset, heard):
    start = MixState.unity(STEMS).with_gain("vocals", -12).with_solo("bass", True)
    m = apply_preset(start, preset)
    assert {s for s in STEMS if m.audible(s)} == heard
    assert all(m.gain(s) == 0.0 for s in STEMS)


def test_time_labels():
    assert format_time(83.47) == "1:23"
    assert format_time(83.47, tenths=True) == "1:23.4"
    assert format_time(3725) == "1:02:05"
    assert format_time(float("nan")) == "--:--"


def test_envelope_matches_direct_computation_whatever_the_block_size():
    rng = np.random.default_rng(1)
    audio = rng.uniform(-1, 1, (2, 100_003)).astype(np.float32)
    mono = np.abs(audio.mean(axis=0))
    env = Envelope(audio.shape[1], buckets=700)
    for start in range(0, audio.shape[1], 9_999):  # blocks straddle bucket edges
        env.add(audio[:, start : start + 9_999])
    idx = np.arange(audio.shape[1]) * 700 // audio.shape[1]
    peak = np.array([mono[idx == b].max() for b in range(700)])
    rms = np.array([np.sqrt(np.mean(mono[idx == b] ** 2)) for b in range(700)])
    np.testing.assert_allclose(env.peak, peak, rtol=1e-6)
    np.testing.assert_allclose(env.rms, rms, rtol=1e-5)


def test_export_name_preview_and_its_errors():
    names = preview_names("{track} - {stem}.{ext}", "Song", ["vocals", "mix"], "flac")
    assert names == ["Song - vocals.flac", "Song - mix.flac"]
    with pytest.raises(ValueError, match="unknown field"):
        preview_names("{artist}.{ext}", "Song", ["vocals"], "wav")
    with pytest.raises(ValueError, match="same name"):
        preview_names("{track}.{ext}", "Song", ["vocals", "drums"], "wav")
    with pytest.raises(ValueError, match="plain file name"):
        preview_names("a/{stem}.{ext}", "Song", ["vocals"], "wav")
