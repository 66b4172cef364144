"""engine/analysis.py: beats of generated click tracks within 10 ms, bars on the accented
click, tempo, key of generated chords, the cache."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf

from engine import analysis
from engine.analysis import analyse_file

SR = 44100


def click_track(path, bpm: float, seconds: float = 16.0, t0: float = 0.25,
                accent: bool = True) -> np.ndarray:
    """A click per beat (the first of each 4-beat bar higher, louder, with a low thump);
    returns the clicks' onset times (seconds)."""
    n = int(seconds * SR)
    y = np.zeros(n, np.float32)
    times = []
    k = 0
    length = int(0.03 * SR)
    tt = np.arange(length) / SR
    while t0 + k * 60.0 / bpm < seconds - 0.1:
        i = round((t0 + k * 60.0 / bpm) * SR)
        down = accent and k % 4 == 0
        burst = (0.8 if down else 0.5) * np.sin(2 * np.pi * (1500 if down else 1000) * tt)
        burst *= np.exp(-tt / 0.006)
        if down:
            burst += 0.6 * np.sin(2 * np.pi * 80 * tt) * np.exp(-tt / 0.02)
        y[i:i + length] += burst[: n - i]
        times.append(i / SR)
        k += 1
    sf.write(path, np.stack([y, y], 1), SR)
    return np.array(times)


def chords(path, progression, seconds_each: float = 1.0) -> None:
    """Triads of sawtooth-ish tones (MIDI note numbers), one after the other."""
    parts = []
    t = np.arange(int(seconds_each * SR)) / SR
    for notes in progression:
        y = np.zeros(t.size)
        for m in notes:
            f = 440.0 * 2 ** ((m - 69) / 12)
            for h in range(1, 5):
                y += np.sin(2 * np.pi * f * h * t) / h
        parts.append(y * np.hanning(t.size))
    y = (0.1 * np.concatenate(parts)).astype(np.float32)
    sf.write(path, np.stack([y, y], 1), SR)


@pytest.mark.parametrize("bpm", [120.0, 97.0, 143.0])
def test_click_track_beats_land_within_10_ms(tmp_path, bpm):
    clicks = click_track(tmp_path / "click.wav", bpm)
    a = analyse_file(tmp_path / "click.wav", cache=tmp_path / "cache")
    beats = np.array(a.beats)
    assert len(beats) == len(clicks)
    assert np.max(np.abs(beats - clicks)) < 0.010
    assert a.bpm == pytest.approx(bpm, abs=0.2)
    assert a.label().startswith(f"{bpm:.0f} BPM")
    np.testing.assert_allclose(a.bars, clicks[::4], atol=0.010)  # the accented clicks


def test_key_of_generated_chords(tmp_path):
    # A minor: Am Dm E Am (A3 C4 E4 / D4 F4 A4 / E3 G#3 B3 / A3 C4 E4) twice
    am, dm, e = (57, 60, 64), (62, 65, 69), (52, 56, 59)
    chords(tmp_path / "am.wav", [am, dm, e, am] * 2)
    assert analyse_file(tmp_path / "am.wav", cache=tmp_path / "c").key == "A minor"
    # C major: C F G C
    c, f, g = (60, 64, 67), (65, 69, 72), (55, 59, 62)
    chords(tmp_path / "c.wav", [c, f, g, c] * 2)
    assert analyse_file(tmp_path / "c.wav", cache=tmp_path / "c").key == "C major"


def test_silence_has_no_beats_and_no_key(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros((3 * SR, 2), np.float32), SR)
    a = analyse_file(tmp_path / "quiet.wav", cache=tmp_path / "c")
    assert a.bpm == 0 and a.beats == () and a.bars == () and a.key == "" and a.label() == ""


def test_results_are_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    click_track(tmp_path / "click.wav", 120.0, seconds=6.0)
    first = analyse_file(tmp_path / "click.wav", cache=tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.json"))) == 1

    def boom(*a, **k):
        raise AssertionError("analysed again")

    monkeypatch.setattr(analysis, "analyse_audio", boom)
    assert analyse_file(tmp_path / "click.wav", cache=tmp_path / "c") == first
    click_track(tmp_path / "click.wav", 100.0, seconds=6.0)  # the file changed
    os.utime(tmp_path / "click.wav", ns=(1, 1))
    monkeypatch.undo()
    again = analyse_file(tmp_path / "click.wav", cache=tmp_path / "c")
    assert again.bpm == pytest.approx(100.0, abs=0.2)


def test_unreadable_file_is_a_decode_error(tmp_path):
    from engine.errors import DecodeError

    (tmp_path / "bad.wav").write_bytes(b"nope" * 100)
    with pytest.raises(DecodeError):
        analyse_file(tmp_path / "bad.wav", cache=tmp_path / "c")


def test_analysis_imports_neither_qt_nor_librosa():
    import subprocess

    code = ("import sys, engine.analysis; "
            "sys.exit(any(m.startswith(('PySide6', 'librosa', 'torch')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
