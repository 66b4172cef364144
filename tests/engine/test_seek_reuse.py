"""Seeking inside audio that is already separated: the stems are heard from the first block at
the new position (nothing re-separated, no plain mix in between, so a muted stem never leaks).

Driven without a device: the test pulls the mixer callback itself (as tests/engine/test_worker
does), with the band-split test model, whose output is known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.player import Engine, EngineConfig
from engine.timeline import Piece, Timeline, divergence, reuse_point, start_timeline
from tests.engine.drive import ManualOutput, wait_for
from tests.tinymodels import band_split_model, expected_band_split

SR = 44100
BLOCK = 512
SECONDS = 6.0
FREQS = ((440.0, 0.2), (4000.0, 0.1), (7000.0, 0.1), (9500.0, 0.05))  # one per band


def song() -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    left = sum(a * np.cos(2 * np.pi * f * t + 0.3) for f, a in FREQS)
    right = sum(a * np.cos(2 * np.pi * f * 1.01 * t + 0.7) for f, a in FREQS)
    return np.stack([left, right]).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("seekreuse")
    sf.write(d / "song.wav", song().T, SR, subtype="FLOAT")
    return {"song": d / "song.wav", "model": band_split_model(d / "bs.onnx", frames=16)}


@pytest.fixture(scope="module")
def without_vocals() -> np.ndarray:
    return song() - expected_band_split(song())[0]


@pytest.fixture
def engine(files) -> Engine:
    eng = Engine(EngineConfig(device="null", model=None, ahead_s=4.0))
    eng.attach_output(ManualOutput())
    eng.set_model("A", files["model"])
    eng.open(files["song"])
    eng.set_mute("vocals", True)
    eng.wait_ready()
    yield eng
    eng.close()



def pull(eng: Engine, blocks: int) -> tuple[np.ndarray, list[str]]:
    """(channels, frames) of ``blocks`` callbacks, and what was heard in each."""
    out = np.zeros((blocks * BLOCK, 2), dtype=np.float32)
    heard = []
    for i in range(blocks):
        eng.mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
        heard.append(eng.mixer.heard)
    return out.T, heard


def separated_ahead(eng: Engine, seconds: float) -> None:
    ring = eng.mixer.sources["A"].ring
    wait_for(lambda: ring.ahead() >= seconds * SR or ring.eof >= 0)


def play_until_full(eng: Engine, blocks: int) -> None:
    eng.play()
    pull(eng, 1)  # applies the opening seek: silent
    separated_ahead(eng, 3.5)
    pull(eng, blocks)
    separated_ahead(eng, 3.5)


@pytest.mark.parametrize("jump_s", [1.5, -0.4])  # forward, and back into what was just played
def test_short_seek_hears_stems_at_once(engine: Engine, without_vocals, jump_s: float) -> None:
    play_until_full(engine, 120)  # 1.39 s played
    here = engine.status().position_s
    target = round(here + jump_s, 2)
    engine.seek(target)
    engine.wait_ready()
    pull(engine, 2)  # the old position fades out, then the jump
    engine.wait_ready()  # the worker applied the seek (held back until the fade-out was read)
    out, heard = pull(engine, 40)
    assert heard == ["A"] * 40  # the separated stems from the very first block
    s = round(target * SR)
    ref = without_vocals[:, s : s + out.shape[1]]
    ramp = np.arange(1, BLOCK + 1) / BLOCK  # the first block fades in
    np.testing.assert_allclose(out[:, :BLOCK], ref[:, :BLOCK] * ramp, atol=2e-5)
    np.testing.assert_allclose(out[:, BLOCK:], ref[:, BLOCK:], atol=2e-5)
    st = engine.status()
    assert st.position_s == pytest.approx(target + out.shape[1] / SR, abs=1e-6)
    assert st.underruns == 0


def test_far_seek_still_plays_the_right_audio(engine: Engine, without_vocals) -> None:
    play_until_full(engine, 20)
    engine.seek(5.5)  # beyond what is separated: starts over there
    engine.wait_ready()
    pull(engine, 2)
    engine.wait_ready()
    separated_ahead(engine, 0.4)
    out, heard = pull(engine, 30)
    assert heard[1:] == ["A"] * 29
    s = round(5.5 * SR)
    np.testing.assert_allclose(out[:, BLOCK:], without_vocals[:, s + BLOCK : s + out.shape[1]],
                               atol=2e-5)


def test_reuse_point_and_divergence_follow_the_timelines() -> None:
    old = Timeline(1, 1000, (Piece(0, 100, (200, 300)),))  # 100..299, then 200..299, ...
    new = start_timeline(2, samples=1000, track=250, loop=(200, 300))
    assert reuse_point(old, new, 0, 400) == 150  # stream 150 plays track 250
    assert reuse_point(old, new, 160, 400) == 250  # after the wrap: track 250 again
    assert reuse_point(old, new, 0, 150) is None  # not in what the ring holds
    assert divergence(old, 150, new, 1000) is None  # same loop: the same future
    plain = start_timeline(2, samples=1000, track=250, loop=None)
    assert divergence(old, 150, plain, 1000) == 50  # the old one wraps at 300, the new plays on
    ended = Timeline(1, 1000, (Piece(0, 900, None),))
    assert divergence(ended, 50, start_timeline(2, 1000, 950, None), 5000) is None
