"""Live playback through a real PortAudio stream into a paced, capturing ALSA device.

Each test runs the player in a subprocess whose default ALSA device is the capture chain of
``tests/audiosink.py`` (plug → file → JACK dummy server at real speed), then compares the WAV of
exactly the frames emitted with the expected audio of a tiny band-split model, after aligning
the device's leading silence. Songs are 4 s of summed sines, one per band.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audiosink import AlsaSink, align, alsa_sink, first_sound
from tests.tinymodels import band_split_model, expected_band_split

SR = 44100
SECONDS = 4.0
FREQS = ((440.0, 0.2), (4000.0, 0.1), (7000.0, 0.1), (9500.0, 0.05))
B_EDGES = (0, 512, 640, 768, 1024)  # model B: "vocals" spans the two lowest tones


def song() -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    left = sum(a * np.cos(2 * np.pi * f * t + 0.3) for f, a in FREQS)
    right = sum(a * np.cos(2 * np.pi * f * 1.01 * t + 0.7) for f, a in FREQS)
    return np.stack([left, right]).astype(np.float32)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[AlsaSink]:
    """The paced capture device (private JACK server) for one test."""
    with alsa_sink(tmp_path / "sink", paced=True) as s:
        yield s


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("live")
    sf.write(d / "song.wav", song().T, SR, subtype="FLOAT")
    return {
        "song": d / "song.wav",
        "A": band_split_model(d / "a.onnx", frames=192),
        "B": band_split_model(d / "b.onnx", frames=16, edges=B_EDGES, name="bandsplit-b"),
    }


@pytest.fixture(scope="module")
def stems_a() -> np.ndarray:
    return expected_band_split(song())


@pytest.fixture(scope="module")
def stems_b() -> np.ndarray:
    return expected_band_split(song(), edges=B_EDGES)


def play(sink: AlsaSink, files: dict[str, Path], script: str) -> dict:
    """Run ``script`` with ``eng`` (an Engine on the default device, slot A loaded, the song
    open) in a subprocess; returns the JSON the script prints last (``report``)."""
    code = f"""
import json, time
from engine.player import Engine, EngineConfig
eng = Engine(EngineConfig(device="default", model=None, blocksize=512, latency=0.05))
eng.set_model("A", {str(files["A"])!r})
eng.open({str(files["song"])!r})
def wait(cond, timeout=20.0):
    t_end = time.monotonic() + timeout
    while not cond() and time.monotonic() < t_end:
        time.sleep(0.005)
def played(seconds):  # wait until `seconds` more of the song went out (not wall time)
    p = eng.status().position_s
    wait(lambda: eng.status().position_s >= p + seconds or eng.status().finished)
report = {{}}
{script}
st = eng.status()
report.update(separated=st.separated, underruns=st.underruns, error=st.error,
              finished=st.finished, position=st.position_s)
eng.close()
print(json.dumps(report))
"""
    proc = sink.run_python(code, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def local_lag(cap: np.ndarray, ref: np.ndarray, at: int, span: int = 4096) -> int:
    """Index in ``cap`` (frames, 2) where ``ref`` (frames, 2) starts, searched near ``at``."""
    lo = max(0, at - span)
    return lo + align(cap[lo:], ref, search=2 * span)


def window_error(cap: np.ndarray, track: np.ndarray, i0: int, s: int, n: int) -> float:
    """Max error between the captured audio and ``track`` (2, N) samples [s, s + n), after
    aligning locally around the capture index ``i0 + s`` (absorbs inserted zeros)."""
    ref = track[:, s : s + n].T
    j = local_lag(cap, ref, i0 + s)
    return float(np.abs(cap[j : j + n] - ref).max())


def fraction(cap: np.ndarray, x: np.ndarray, y: np.ndarray, win: int = 64) -> np.ndarray:
    """Per window, how much of ``y`` against ``x`` the capture holds: cap ≈ (1-w)·x + w·y."""
    d = (y - x)[:, 0]
    r = (cap - x)[:, 0]
    n = len(d) // win * win
    num = (r[:n] * d[:n]).reshape(-1, win).sum(1)
    den = (d[:n] * d[:n]).reshape(-1, win).sum(1)
    return num / np.maximum(den, 1e-12)


def test_first_sound_is_the_mix_then_the_soloed_band(sink: AlsaSink, files, stems_a) -> None:
    report = play(
        sink,
        files,
        'eng.set_solo("drums", True)\neng.play()\n'
        "wait(lambda: eng.status().finished, 15)\ntime.sleep(0.2)",
    )
    cap = sink.captured()
    mix = song()
    i0 = first_sound(cap)
    assert i0 >= 0, "nothing was played"
    # Plays at once: the first block is the plain mix (fading in), not silence, not stems.
    ramp = np.arange(1, 513) / 512
    np.testing.assert_allclose(cap[i0 : i0 + 512], (mix[:, :512] * ramp).T, atol=1e-4)
    # Later only the drums band: the separated stem, sample-accurate.
    assert window_error(cap, stems_a[1], i0, int(3.0 * SR), 8192) < 1e-3
    assert report["separated"] and report["finished"] and report["error"] is None


def test_gain_change_mid_play_is_a_short_ramp(sink: AlsaSink, files, stems_a) -> None:
    play(
        sink,
        files,
        "eng.play()\nwait(lambda: eng.status().separated)\n"
        'played(0.3)\neng.set_gain_db("vocals", float("-inf"))\nplayed(1.2)',
    )
    cap = sink.captured()
    mix = song()
    i0 = first_sound(cap)
    n = min(len(cap) - i0, mix.shape[1]) - 4096
    full = mix[:, :n].T
    no_vocals = (mix[:, :n] - stems_a[0, :, :n]).T
    w = fraction(cap[i0 : i0 + n], full, no_vocals)
    switch = 10 + int(np.flatnonzero(w[10:] > 0.5)[0])  # after the fade-in block
    assert np.all(np.abs(w[10 : switch - 10]) < 0.01)  # all faders up: the original
    assert np.all(np.abs(w[switch + 10 : switch + 300] - 1) < 0.01)  # then no vocals
    moving = np.flatnonzero((w > 0.02) & (w < 0.98))
    assert moving.size > 0 and moving.size * 64 <= 1024  # one block of 512 (+ window slack)
    assert np.all(np.diff(w[moving[0] - 1 : moving[-1] + 2]) > -0.02)  # a monotonic ramp
    step = np.abs(np.diff(cap[i0 : i0 + n, 0])).max()
    assert step <= np.abs(np.diff(full[:, 0])).max() + 1e-3  # no click


def test_ab_switch_mid_play_crossfades(sink: AlsaSink, files, stems_a, stems_b) -> None:
    script = (
        f'eng.set_model("B", {str(files["B"])!r})\n'
        'eng.set_mute("vocals", True)\neng.play()\nwait(lambda: eng.status().separated)\n'
        'played(0.8)\neng.select("B")\nplayed(1.0)'
    )
    report = play(sink, files, script)
    cap = sink.captured()
    mix = song()
    i0 = first_sound(cap)
    n = min(len(cap) - i0, mix.shape[1]) - 4096
    a = (mix[:, :n] - stems_a[0, :, :n]).T
    b = (mix[:, :n] - stems_b[0, :, :n]).T
    w = fraction(cap[i0 : i0 + n], a, b)
    # the plain mix first, then A's stems (w = 0) for a while, then B's (w = 1)
    settled = np.convolve(np.abs(w) < 0.01, np.ones(20), "valid") == 20
    a_from = int(np.flatnonzero(settled)[0])
    switch = a_from + int(np.flatnonzero(w[a_from:] > 0.5)[0])
    assert np.all(np.abs(w[switch - 30 : switch - 8]) < 0.01)  # A without its vocals
    assert np.all(np.abs(w[switch + 8 : switch + 300] - 1) < 0.01)  # then B without vocals
    seen = w[a_from : switch + 300]
    moving = np.flatnonzero((seen > 0.02) & (seen < 0.98))
    assert moving.size * 64 <= 0.020 * SR + 128  # a cross-fade of at most 20 ms
    assert report["separated"]


def test_seek_mid_play_continues_from_the_new_position(sink: AlsaSink, files) -> None:
    # Seek once the song has really played 1 s (on a loaded machine opening the device alone
    # can take longer than that: a sleep would seek before the first sound).
    play(
        sink,
        files,
        "eng.wait_output()\neng.play()\nwait(lambda: eng.status().position_s >= 1.0)\n"
        "report['before'] = eng.status().position_s\neng.seek(2.5)\n"
        "wait(lambda: eng.status().finished, 10)\ntime.sleep(0.2)",
    )
    cap = sink.captured()
    mix = song()
    i0 = first_sound(cap)
    assert i0 >= 0, "nothing was played"
    # Where the song resumes: the audio just after 2.5 s (past the fade-in), found anywhere in
    # the capture (underruns on a busy machine insert zeros; they are not what is tested).
    start = int(2.5 * SR) + 1024
    n = 4096
    ref = mix[:, start : start + n].T
    j = i0 + align(cap[i0:], ref, search=max(1, min(len(cap) - i0 - n, int(3.5 * SR))))
    np.testing.assert_allclose(cap[j : j + n], ref, atol=1e-3)
    # Before it, the start of the song played for about 1 s, not the 2.5 s up to there.
    assert j - i0 < 2.0 * SR
    np.testing.assert_allclose(cap[i0 + 1024 : i0 + 1024 + n],
                               mix[:, 1024 : 1024 + n].T, atol=1e-3)
    # From there on it plays to the end (each window aligned near the previous one).
    at, prev = j, start
    for s in range(start + n, int(SECONDS * SR) - n, SR // 4):
        at, prev = local_lag(cap, mix[:, s : s + n].T, at + (s - prev)), s
        np.testing.assert_allclose(cap[at : at + n], mix[:, s : s + n].T, atol=1e-3)


def song2() -> np.ndarray:
    """Another song (other tones, 2.5 s) for opening while the first one plays."""
    t = np.arange(int(2.5 * SR)) / SR
    tones = ((330.0, 0.25), (5000.0, 0.08), (8000.0, 0.08))
    left = sum(a * np.sin(2 * np.pi * f * t + 0.1) for f, a in tones)
    right = sum(a * np.sin(2 * np.pi * f * 0.99 * t + 0.5) for f, a in tones)
    return np.stack([left, right]).astype(np.float32)


def test_open_while_playing_fades_out_then_fades_the_new_song_in(
    sink: AlsaSink, files, tmp_path: Path
) -> None:
    other = tmp_path / "other.wav"
    sf.write(other, song2().T, SR, subtype="FLOAT")
    report = play(
        sink,
        files,
        "eng.wait_output()\neng.play()\nwait(lambda: eng.status().position_s >= 1.0)\n"
        "wait(lambda: eng.status().separated, 5)\n"
        f"eng.open({str(other)!r})\n"
        "wait(lambda: eng.status().finished, 15)\ntime.sleep(0.2)",
    )
    assert report["finished"] and report["error"] is None
    cap = sink.captured()
    one, two = song(), song2()
    i0 = first_sound(cap)
    assert i0 >= 0, "nothing was played"
    # The new song: found by its audio after its first block, then its first block is the plain
    # mix fading in exactly as play does.
    ref = two[:, 512 : 512 + 8192].T
    j2 = i0 + align(cap[i0:], ref, search=len(cap) - i0 - 8192) - 512
    np.testing.assert_allclose(cap[j2 + 512 : j2 + 512 + 8192], ref, atol=1e-3)
    ramp = np.arange(1, 513) / 512
    np.testing.assert_allclose(cap[j2 : j2 + 512], (two[:, :512] * ramp).T, atol=1e-4)
    # The old song: where it was when the new one was opened (the last sound before the gap).
    loud = np.flatnonzero(np.max(np.abs(cap[i0:j2]), axis=1) > 1e-7)
    end = i0 + int(loud[-1]) + 1  # first silent frame after the old song
    assert j2 - end >= 0
    probe = cap[end - 4096 - 2048 : end - 2048]  # well before any fade-out
    p = align(one.T, probe, search=one.shape[1] - len(probe)) + 4096 + 2048  # song1 at `end`
    assert int(0.9 * SR) <= p <= int(3.9 * SR), "the old song did not play to about 1 s"
    n = 4096
    seg = cap[end - n : end]
    src = one[:, p - n : p].T
    gain = fraction(seg, np.zeros_like(src), src, win=32)
    fading = np.flatnonzero(gain < 0.99)
    assert fading.size > 0, "the old song stopped at once, without a fade-out"
    first = int(fading[0])
    assert np.all(np.abs(gain[:first] - 1) < 0.01)  # the old song unchanged until the fade
    assert (len(gain) - first) * 32 <= 0.030 * SR + 32  # a fade-out of at most 30 ms
    assert np.all(np.diff(gain[first - 1 :]) < 0.02)  # monotonic down
    assert gain[-1] < 0.1
    # No click anywhere: no step larger than either song has in itself.
    step = np.abs(np.diff(cap[i0:, 0])).max()
    biggest = max(np.abs(np.diff(one[0])).max(), np.abs(np.diff(two[0])).max())
    assert step <= biggest + 1e-3
