"""Capture what a player really sends to "the sound card", headless (no speakers, no card).

A private ALSA configuration (``$XDG_CONFIG_HOME/alsa/asoundrc``) makes the ``default`` PCM a
``plug`` (forcing S32_LE, 44.1 kHz, stereo) into the ``file`` plugin, which writes every frame
it is given to a WAV file, then passes it on (through another ``plug``, to float) to a slave:

* ``paced=True``: the ``jack`` PCM of libasound2-plugins into a private
  ``jackd --no-realtime -d dummy -r 44100`` server (unique name via ``JACK_DEFAULT_SERVER``),
  which consumes audio at real speed — for live behaviour (streaming, faders mid-play, seek);
* ``paced=False``: the ``null`` PCM, which swallows audio instantly.

PortAudio reads the ALSA configuration when it initialises, so the player runs in a
subprocess started with :attr:`AlsaSink.env` (:meth:`AlsaSink.run_python`). Usage::

    with alsa_sink(tmp_path) as sink:                # or the ``audio_sink`` fixture
        sink.run_python(code)                        # plays to device "default"
        audio = sink.captured()                      # (frames, 2) float64, exact samples

Runs on the test's thread; used by tests/engine/test_player_live.py and the GUI tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
JACK_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib")

ASOUNDRC = """\
pcm.!default {{
    type plug
    slave {{ pcm "stemplay_capture"; format S32_LE; rate 44100; channels 2 }}
}}
pcm.stemplay_capture {{
    type file
    slave.pcm {{ type plug; slave.pcm "{slave}" }}
    file "{wav}"
    format "wav"
}}
pcm.stemplay_jack {{
    type jack
    playback_ports {{ 0 system:playback_1; 1 system:playback_2 }}
}}
"""


def jack_available() -> bool:
    have_plugin = any(Path(d, "libasound_module_pcm_jack.so").exists() for d in JACK_PLUGIN_DIRS)
    return (
        have_plugin and shutil.which("jackd") is not None and shutil.which("jack_wait") is not None
    )


@dataclass
class AlsaSink:
    """A private ALSA default device writing a WAV of exactly the frames played."""

    root: Path
    wav: Path
    paced: bool
    env: dict[str, str] = field(default_factory=dict)

    def captured(self) -> np.ndarray:
        """``(frames, 2)`` float64 of everything played so far (robust to an unfinished header)."""
        if not self.wav.exists():
            return np.zeros((0, 2))
        raw = self.wav.read_bytes()
        pos = raw.find(b"data")
        if pos < 0:
            return np.zeros((0, 2))
        data = raw[pos + 8 :]
        n = len(data) // 8
        pcm = np.frombuffer(data[: n * 8], dtype="<i4").reshape(n, 2)
        return pcm.astype(np.float64) / 2**31

    def run_python(self, code: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh interpreter that sees this sink as its default device."""
        return self.run([sys.executable, "-c", code], timeout)

    def run(self, args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a command (e.g. ``[sys.executable, "-m", "engine.playback_cli", "play", f]``)."""
        return subprocess.run(
            args,
            check=False,
            env=self.env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextmanager
def alsa_sink(directory: Path, paced: bool = True) -> Iterator[AlsaSink]:
    """Set up the capture device (and its private JACK server when ``paced``); skip the test
    when the system lacks jackd or the ALSA jack plugin."""
    directory = Path(directory)
    (directory / "alsa").mkdir(parents=True, exist_ok=True)
    wav = directory / "captured.wav"
    if paced and not jack_available():
        pytest.skip("jackd2 / libasound2-plugins not installed (see Makefile TEST_DEBS)")
    slave = "stemplay_jack" if paced else "null"
    (directory / "alsa" / "asoundrc").write_text(ASOUNDRC.format(slave=slave, wav=wav))
    env = dict(os.environ)
    server = f"stemplay-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env.update(
        XDG_CONFIG_HOME=str(directory),
        JACK_DEFAULT_SERVER=server,
        JACK_NO_AUDIO_RESERVATION="1",
        JACK_NO_START_SERVER="1",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        XDG_CACHE_HOME=env.get("XDG_CACHE_HOME", str(directory / "cache")),
    )
    sink = AlsaSink(directory, wav, paced, env)
    jackd: subprocess.Popen[bytes] | None = None
    try:
        if paced:
            log = open(directory / "jackd.log", "wb")  # noqa: SIM115 - closed below
            jackd = subprocess.Popen(
                ["jackd", "--no-realtime", "-d", "dummy", "-r", "44100", "-p", "512"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            ok = subprocess.run(
                ["jack_wait", "-w", "-t", "10"],
                check=False,
                env=env,
                capture_output=True,
                timeout=20,
            )
            if ok.returncode != 0 or jackd.poll() is not None:
                pytest.skip(f"private jackd did not start: {(directory / 'jackd.log').read_text()}")
        yield sink
    finally:
        if jackd is not None:
            jackd.terminate()
            try:
                jackd.wait(5)
            except subprocess.TimeoutExpired:
                jackd.kill()
                jackd.wait(5)


@pytest.fixture
def audio_sink(tmp_path: Path) -> Iterator[AlsaSink]:
    """A paced capture device for one test (see :func:`alsa_sink`)."""
    with alsa_sink(tmp_path / "sink", paced=True) as sink:
        yield sink


def first_sound(audio: np.ndarray, threshold: float = 1e-7) -> int:
    """Index of the first captured frame with any channel above ``threshold`` (−1: silence)."""
    hits = np.flatnonzero(np.max(np.abs(audio), axis=1) > threshold)
    return int(hits[0]) if hits.size else -1


def align(captured: np.ndarray, reference: np.ndarray, search: int = 30000) -> int:
    """Index in ``captured`` (frames, 2) where ``reference`` (frames, 2) starts, searched over
    the first ``search`` frames (device priming is a few thousand frames of silence): the lag
    of least squared error (robust for periodic test signals, unlike the correlation peak)."""
    n = min(len(reference), 8192)
    ref = np.asarray(reference[:n], dtype=np.float64)
    seg = np.asarray(captured[: search + n], dtype=np.float64)
    if len(seg) < n:
        raise AssertionError("captured audio is shorter than the reference")
    corr = sum(np.correlate(seg[:, c], ref[:, c], mode="valid") for c in range(ref.shape[1]))
    power = np.concatenate([[0.0], np.cumsum((seg * seg).sum(axis=1))])
    window = power[n:] - power[:-n]
    sse = window - 2 * corr + float((ref * ref).sum())
    return int(np.argmin(sse))
