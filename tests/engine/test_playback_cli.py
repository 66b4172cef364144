"""``stemplay play`` / ``stemplay devices`` as a user runs them, into the capture device."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audiosink import AlsaSink, alsa_sink, first_sound
from tests.tinymodels import band_split_model

SR = 44100


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    t = np.arange(4 * SR) / SR
    x = 0.2 * np.cos(2 * np.pi * 440 * t) + 0.1 * np.cos(2 * np.pi * 7000 * t)
    sf.write(d / "song.wav", np.stack([x, x], 1).astype(np.float32), SR, subtype="FLOAT")
    return {"song": d / "song.wav", "model": band_split_model(d / "bs.onnx", frames=16)}


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[AlsaSink]:
    with alsa_sink(tmp_path / "sink", paced=True) as s:
        yield s


def stemplay(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def test_play_a_slice_and_exit_zero(sink: AlsaSink, files) -> None:
    proc = sink.run(
        stemplay(
            "play",
            str(files["song"]),
            "--model",
            str(files["model"]),
            "--solo",
            "bass",
            "--start",
            "1.0",
            "--duration",
            "1.5",
        ),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    cap = sink.captured()
    i0 = first_sound(cap)
    sounding = np.flatnonzero(np.abs(cap[:, 0]) > 1e-6)
    played = (sounding[-1] - i0) / SR
    assert 1.4 <= played <= 1.5 + 0.3  # the slice asked for (the poll stops it a bit late)
    # the end of the slice is the soloed band (7 kHz: the "bass" band of the model): the
    # 440 Hz tone of the "vocals" band is gone
    tail = cap[sounding[-1] - 8192 : sounding[-1] - 4096, 0]
    spec = np.abs(np.fft.rfft(tail * np.hanning(tail.size)))
    freqs = np.fft.rfftfreq(tail.size, 1 / SR)
    assert spec[np.argmin(np.abs(freqs - 7000))] > 100 * spec[np.argmin(np.abs(freqs - 440))]


def test_unknown_stem_is_one_line_listing_the_valid_ones(files) -> None:
    proc = subprocess.run(
        stemplay("play", str(files["song"]), "--model", str(files["model"]), "--mute", "guitar"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "guitar" in lines[0]
    assert "vocals, drums, bass, other" in lines[0]


def test_ctrl_c_stops_cleanly(sink: AlsaSink, files, tmp_path: Path) -> None:
    # 30 s of song: Ctrl-C lands while it plays even on a busy machine (headless play first
    # waits for 2 s of stems, and the 4-s song of the other tests could end before the signal)
    t = np.arange(30 * SR) / SR
    x = (0.2 * np.cos(2 * np.pi * 440 * t)).astype(np.float32)
    song = tmp_path / "long.wav"
    sf.write(song, np.stack([x, x], 1), SR, subtype="FLOAT")
    # a terminal's Ctrl-C: the default disposition, whatever the suite's process inherited (a
    # suite started in the background by a non-interactive shell has SIGINT ignored, and an
    # ignored signal stays ignored across exec: the player played on). A tiny launcher sets
    # the default and execs the player (no preexec_fn: unsafe in a process with threads).
    reset_sigint = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                    "os.execv(sys.argv[1], sys.argv[1:])")
    command = stemplay("play", str(song), "--model", str(files["model"]))
    proc = subprocess.Popen(
        [sys.executable, "-c", reset_sigint, *command],
        env=sink.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t_end = time.monotonic() + 30
    while first_sound(sink.captured()) < 0 and time.monotonic() < t_end:
        time.sleep(0.05)
    assert proc.poll() is None, "the 30-s song ended before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err


def test_missing_device_is_a_one_line_error(sink: AlsaSink, files) -> None:
    proc = sink.run(stemplay("play", str(files["song"]), "--device", "no-such-card"), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("stemplay: error: no output device")
    assert "Traceback" not in proc.stderr


def test_devices_lists_the_default_output(sink: AlsaSink) -> None:
    proc = sink.run(stemplay("devices"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    default = [line for line in proc.stdout.splitlines() if line.startswith("*")]
    assert len(default) == 1 and "default" in default[0]
