"""A seek while playing is heard as a short fade-out and fade-in, never as a click or a gap.

Driven without a device: the test pulls the mixer callback itself (as tests/engine/test_worker
does). The song is low sines, so its own sample-to-sample steps are small and any cut (a jump
to silence) stands out.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from engine.model import load_model
from engine.player import Engine, EngineConfig
from tests.engine.drive import ManualOutput, wait_for
from tests.tinymodels import band_split_model

SR = 44100
BLOCK = 512
SECONDS = 6.0
STEP_TOL = 1e-3  # allowed beyond the signal's own largest step (fade ramps add ~0.5/512)


def song() -> np.ndarray:
    """(2, n) float32: 110 Hz and 330 Hz sines (all in the band-split model's first band)."""
    t = np.arange(int(SECONDS * SR)) / SR
    left = 0.4 * np.sin(2 * np.pi * 110 * t + 0.3) + 0.2 * np.sin(2 * np.pi * 330 * t)
    right = 0.4 * np.sin(2 * np.pi * 111 * t + 0.7) + 0.2 * np.sin(2 * np.pi * 333 * t)
    return np.stack([left, right]).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("seeksmooth")
    sf.write(d / "song.wav", song().T, SR, subtype="FLOAT")
    return {"song": d / "song.wav", "model": band_split_model(d / "bs.onnx", frames=16)}


@pytest.fixture
def engine(files) -> Engine:
    eng = Engine(EngineConfig(device="null", model=None, ahead_s=4.0))
    eng.attach_output(ManualOutput())
    yield eng
    eng.close()



def pull(eng: Engine, blocks: int) -> np.ndarray:
    """(channels, frames) of ``blocks`` callbacks."""
    out = np.zeros((blocks * BLOCK, 2), dtype=np.float32)
    for i in range(blocks):
        eng.mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
    return out.T


def max_step(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=1)).max())


@pytest.mark.parametrize("source", ["mix", "A"])
@pytest.mark.parametrize("target_s", [4.5, 1.2])  # far (re-decoded / re-separated), near
def test_seek_while_playing_fades_without_a_click(engine: Engine, files, source, target_s):
    if source == "A":
        engine.set_model("A", files["model"])
    engine.open(files["song"])
    engine.select(source)
    engine.wait_ready()
    # the test pulls faster than real time: let every ring heard get well ahead first
    rings = [engine.mixer.mix_ring, *(src.ring for src in engine.mixer.sources.values())]
    wait_for(lambda: all(r.ahead() >= 2 * SR for r in rings))
    engine.play()
    pull(engine, 1)  # applies the opening seek: silent
    before = pull(engine, 60)
    engine.seek(target_s)
    engine.wait_ready()  # the worker holds the seek back until the callback faded out
    around = pull(engine, 3)  # fade-out block, the jump (silent), then maybe the new start
    engine.wait_ready()
    gen = engine.mixer.seek_request[0]
    rings = [engine.mixer.mix_ring, *(src.ring for src in engine.mixer.sources.values())]
    wait_for(lambda: all(r.available(gen, 0) >= SR // 2 for r in rings))
    after = pull(engine, 40)
    out = np.concatenate([before, around, after], axis=1)
    signal_step = max_step(song())
    assert max_step(out) <= signal_step + STEP_TOL, "the seek is heard as a click"
    # the old position fades out (it is not cut to silence at once) ...
    fade_out = around[:, :BLOCK]
    assert np.abs(fade_out[:, : BLOCK // 4]).max() > 0.1
    # ... and the new position is what plays afterwards (all faders up = the original)
    s = round(target_s * SR)
    tail = after[:, -20 * BLOCK :]
    n_after = after.shape[1]
    played = engine.status().position_s
    end = round(played * SR)
    np.testing.assert_allclose(tail, song()[:, end - tail.shape[1] : end], atol=1e-4)
    assert end - n_after >= s  # everything pulled after the wait came from the new position
    assert engine.status().underruns == 0


class GatedModel:
    """A model whose ``run`` waits for ``gate``: separation stuck, as on an overloaded CPU."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        self.gate.wait(30.0)
        return self._model.run(x, **kwargs)


def test_plain_mix_stays_far_ahead_while_the_stems_are_late(engine: Engine, files) -> None:
    gated = GatedModel(load_model(str(files["model"])))
    engine.open(files["song"])
    engine.worker.set_model("A", gated)
    engine.select("A")
    engine.wait_ready()
    try:
        mix = engine.mixer.mix_ring
        wait_for(lambda: mix.ahead() >= SR)
        engine.play()
        pull(engine, 20)
        engine.seek(1.0)
        engine.wait_ready()
        pull(engine, 2)
        engine.wait_ready()
        # the stems being heard are stuck at the new position: the plain mix, which plays
        # meanwhile, is still decoded far ahead (not held at a thin margin that could run dry)
        wait_for(lambda: mix.ahead() >= 3.5 * SR, timeout=20.0)
        assert engine.mixer.sources["A"].ring.ahead() <= 0
        out = pull(engine, 80)  # ~0.93 s, the mix without a gap
        assert engine.status().underruns == 0
        s = round(1.0 * SR)
        np.testing.assert_allclose(
            out[:, BLOCK:], song()[:, s + BLOCK : s + out.shape[1]], atol=1e-6
        )
    finally:
        gated.gate.set()


class StuckModel:
    """A model whose first ``stuck`` runs never end unless cancelled (a run that would take
    ages on an overloaded CPU); later runs are normal."""

    def __init__(self, model: Any, stuck: int = 1) -> None:
        self._model = model
        self.stuck = stuck
        self.cancelled = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
        cancel = kwargs.get("cancel")
        if self.stuck > 0:
            self.stuck -= 1
            while cancel is None or not cancel.cancelled:
                threading.Event().wait(0.005)
            self.cancelled += 1
        return self._model.run(x, **kwargs)


def test_a_far_seek_is_not_held_up_by_the_separation_of_the_old_position(
    engine: Engine, files
) -> None:
    # the step separating the old position is in flight and would never end: the seek stops
    # it, and the stems of the new position are separated and heard
    stuck = StuckModel(load_model(str(files["model"])))
    engine.open(files["song"])
    engine.worker.set_model("A", stuck)
    engine.select("A")
    engine.wait_ready()
    wait_for(lambda: engine.mixer.mix_ring.ahead() >= SR)
    engine.play()
    pull(engine, 4)
    wait_for(lambda: stuck.stuck == 0)  # the first run started: it hangs
    assert engine.mixer.heard == "mix"
    engine.seek(4.0)
    engine.wait_ready()
    pull(engine, 2)
    engine.wait_ready()
    gen = engine.mixer.seek_request[0]
    ring = engine.mixer.sources["A"].ring
    wait_for(lambda: ring.available(gen, 0) >= 2 * SR, timeout=20.0)
    assert stuck.cancelled == 1
    out = pull(engine, 40)  # less than what is separated ahead: the stems, not the mix
    assert engine.mixer.heard == "A" and engine.status().error is None
    s = round(4.0 * SR)
    end = round(engine.status().position_s * SR)
    tail = out[:, -20 * BLOCK :]
    np.testing.assert_allclose(tail, song()[:, end - tail.shape[1] : end], atol=1e-4)
    assert end - out.shape[1] >= s
