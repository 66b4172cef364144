"""The output device opens off the GUI thread: ``play()`` only flips state (facade + opener).

A stand-in for PortAudio (``engine.player.open_output`` patched) blocks until the test lets it
go, like a device that takes a second to open; then it either returns a capturing
``NullOutput`` or fails with ``DeviceError``. Assertions are on ordering and on what is heard,
never on elapsed time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import player
from engine.errors import DeviceError
from engine.output import NullOutput
from engine.player import Engine, EngineConfig
from tests.engine.drive import wait_for

SR = 44100
BLOCK = 512



@pytest.fixture
def song(tmp_path: Path) -> np.ndarray:
    t = np.arange(SR) / SR
    x = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05
    audio = np.stack([x, 0.5 * x]).astype(np.float32)
    sf.write(tmp_path / "song.wav", audio.T, SR, subtype="FLOAT")
    return audio


class SlowDevice:
    """``open_output`` stand-in: waits for ``gate``, then opens a capturing NullOutput or
    raises ``fail``."""

    def __init__(self, fail: DeviceError | None = None) -> None:
        self.gate = threading.Event()
        self.fail = fail
        self.captured: list[np.ndarray] = []
        self.opened: list[NullOutput] = []

    def __call__(self, device, blocksize, latency, callback) -> NullOutput:
        assert threading.current_thread().name == "stemplay-output"  # never the GUI thread
        self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        out = NullOutput(blocksize, callback, capture=self.captured)
        self.opened.append(out)
        return out


def test_play_returns_before_the_stream_starts_and_the_first_sound_still_comes(
    tmp_path, song, monkeypatch
) -> None:
    device = SlowDevice()
    monkeypatch.setattr(player, "open_output", device)
    eng = Engine(EngineConfig(device="slow-card", model=None, blocksize=BLOCK))
    try:
        eng.open(tmp_path / "song.wav")
        eng.select("mix")
        eng.wait_ready()
        eng.play()  # returns while the device is still opening
        st = eng.status()
        assert st.playing and st.error is None  # the GUI shows "playing" at once
        assert not device.opened and not device.captured  # nothing opened, nothing played yet
        device.gate.set()
        eng.wait_output()
        wait_for(lambda: sum(b.shape[0] for b in device.captured) > 40 * BLOCK)
    finally:
        eng.close()
    cap = np.concatenate(device.captured)
    i0 = int(np.flatnonzero(np.abs(cap).max(axis=1) > 0)[0])
    # The first sound is the start of the song, fading in over one block, then the song.
    ramp = np.arange(1, BLOCK + 1) / BLOCK
    np.testing.assert_allclose(cap[i0 : i0 + BLOCK], (song[:, :BLOCK] * ramp).T, atol=1e-6)
    n = min(len(cap) - i0, 8 * BLOCK)
    np.testing.assert_allclose(cap[i0 + BLOCK : i0 + n], song[:, BLOCK:n].T, atol=1e-6)


def test_device_failing_after_play_stops_and_says_why_once(tmp_path, song, monkeypatch) -> None:
    device = SlowDevice(fail=DeviceError("no output device named 'usb-dac'; see `stemplay devices`"))
    monkeypatch.setattr(player, "open_output", device)
    eng = Engine(EngineConfig(device="usb-dac", model=None))
    try:
        eng.open(tmp_path / "song.wav")
        eng.play()  # not known yet: returns
        assert eng.status().playing
        device.gate.set()
        wait_for(lambda: eng.status().error is not None)
        st = eng.status()
        assert not st.playing
        assert st.error == "no output device named 'usb-dac'; see `stemplay devices`"
        with pytest.raises(DeviceError, match="usb-dac"):  # now known: play() says so at once
            eng.play()
        with pytest.raises(DeviceError, match="usb-dac"):
            eng.wait_output()
    finally:
        eng.close()
