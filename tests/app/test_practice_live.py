"""Tempo, pitch and pan as heard: the real window (offscreen Qt), the real engine and the ALSA
capture sink paced by a dummy JACK server (tests/audiosink.py). One scenario (one subprocess,
~10 s of playing): tempo 50 % set in the transport, Space; then tempo 100 % and pitch +2
semitones; then the reset button and the vocals' pan hard left; Space.

The captured audio is cut into its three phases by its content (the vocals' tone moves from
1000 Hz to 1122 Hz in the second phase and leaves the right channel in the third), so the
checks do not depend on device latency. Song time is read from the song itself: the "other"
tone's level rises linearly with time (tests/app/conftest.py).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.app.conftest import TONE_LEVEL, TONES, other_level
from tests.app.gui_driver import Steps, open_main_window, play_in_sink
from tests.audiosink import first_sound

SR = 44100
WIN = 4410  # 0.1 s analysis windows
UP2 = 2 ** (2 / 12)  # +2 semitones
STEP_TIMEOUT_S = 15.0


# ---------------------------------------------------------------------------- the driver
def drive(song: str, settings_path: str, report_path: str) -> int:
    """Run in the subprocess whose ALSA default device is the capture sink."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    app, w = open_main_window(settings_path, (1000, 680))
    report: dict = {"steps": {}, "ok": False}
    if not w.open_path(song):
        report["errors"] = w.presenter.history
        Path(report_path).write_text(json.dumps(report))
        return 1
    c = w.controller
    t = w.transport
    run = Steps(app, w, report, STEP_TIMEOUT_S)

    def half_speed() -> None:
        t.tempo.setValue(50)
        QTest.keyClick(w, Qt.Key.Key_Space)

    def pitch_up() -> None:
        t.tempo.setValue(100)
        t.semitones.setValue(2)

    def pan_left() -> None:
        t.practice_reset.click()
        w.strips.strips["vocals"].pan.setValue(-100)

    played = run.played
    run.steps = [
        ("play", lambda st: True, half_speed),
        ("slow", lambda st: st.playing and st.separated and st.position_s > 0.3, None),
        ("pitch", played("slow", 1.3), pitch_up),
        ("pan", played("pitch", 1.6), pan_left),
        ("pause", played("pan", 2.2), lambda: QTest.keyClick(w, Qt.Key.Key_Space)),
        ("end", run.since("pause", 0.5), None),
    ]

    def finish() -> None:
        st = c.status
        report.update(
            tempo_text=t.tempo.text(), pitch_values=[t.semitones.value(), t.cents.value()],
            pan_label=w.strips.strips["vocals"].pan_label.text(),
            controller=[c.tempo, c.pitch, c.pan],
            status=[st.tempo, st.pitch, dict(st.pan)] if st else None,
            errors=w.presenter.history,
        )

    run.run(finish)
    Path(report_path).write_text(json.dumps(report))
    return 0


# ---------------------------------------------------------------------------- analysis
def peak(frames: np.ndarray, f: float, rel: float = 0.03) -> tuple[float, float]:
    """(frequency, amplitude) of the strongest component within ±rel of ``f`` in ``frames``
    (n,), zero-padded Hann FFT."""
    n = 1 << max(18, math.ceil(math.log2(frames.size)) + 2)
    w = np.hanning(frames.size)
    spec = np.abs(np.fft.rfft(frames * w, n)) * 2 / w.sum()
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = np.flatnonzero((freqs > f * (1 - rel)) & (freqs < f * (1 + rel)))
    k = band[np.argmax(spec[band])]
    return float(freqs[k]), float(spec[k])


def windows(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // WIN
    return audio[: n * WIN].reshape(n, WIN, 2)


@dataclass
class Phases:
    report: dict
    audio: np.ndarray  # (frames, 2) captured
    slow: slice  # windows of each phase (transitions left out)
    up: slice
    left: slice


def song_time(win: np.ndarray, ratio: float = 1.0) -> np.ndarray:
    """Song time of each window (n, WIN, 2), from the level of the "other" tone."""
    lv = np.array([peak(x[:, 0], TONES["other"] * ratio, 0.01)[1] for x in win])
    return (lv - other_level(0.0)) / (other_level(1.0) - other_level(0.0))


def cents(f: float, ref: float) -> float:
    return 1200 * math.log2(f / ref)


@pytest.fixture(scope="module")
def phases(tmp_path_factory) -> Phases:
    report, audio = play_in_sink(tmp_path_factory.mktemp("practice"),
                                 "tests.app.test_practice_live:drive", ("bandsplit",), timeout=150)
    win = windows(audio)
    start = first_sound(audio) // WIN + 6  # after the fade-in and the stretcher's start
    voc = np.array([peak(x[:, 0], 1060.0, 0.1) for x in win])  # 1000 or 1122 Hz
    up = np.flatnonzero((np.abs(voc[:, 0] - 1000 * UP2) < 15) & (voc[:, 1] > 0.05))
    assert up.size > 8, "no window at +2 semitones"
    a, b = int(up[0]), int(up[-1]) + 1
    loud = np.flatnonzero(np.abs(win[:, :, 0]).max(axis=1) > 0.05)
    end = int(loud[-1]) - 3
    return Phases(report, audio, slice(start, a - 4), slice(a + 4, b - 4), slice(b + 6, end))


def test_half_tempo_doubles_the_duration_and_keeps_the_pitch(phases):
    win = windows(phases.audio)[phases.slow]
    assert len(win) >= 10, "too short a slow phase"
    t = song_time(win)
    slope = np.polyfit(np.arange(len(t)) * WIN / SR, t, 1)[0]
    assert slope == pytest.approx(0.5, abs=0.04), "a second of song did not take two seconds"
    f, amp = peak(win[:, :, 0].reshape(-1), TONES["vocals"])
    assert cents(f, TONES["vocals"]) == pytest.approx(0.0, abs=5.0)
    assert amp == pytest.approx(TONE_LEVEL, rel=0.12)
    # the playhead shows song time: half a second of song per second of playing
    s = phases.report["steps"]
    rate = (s["pitch"]["pos"] - s["slow"]["pos"]) / (s["pitch"]["wall"] - s["slow"]["wall"])
    assert rate == pytest.approx(0.5, abs=0.12)


def test_pitch_up_two_semitones_keeps_the_duration(phases):
    win = windows(phases.audio)[phases.up]
    assert len(win) >= 8
    f, _ = peak(win[:, :, 0].reshape(-1), TONES["vocals"] * UP2)
    assert cents(f, TONES["vocals"]) == pytest.approx(200.0, abs=5.0)
    t = song_time(win, UP2)
    slope = np.polyfit(np.arange(len(t)) * WIN / SR, t, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.06), "pitch changed the speed"


def test_vocals_hard_left_leave_the_right_channel(phases):
    win = windows(phases.audio)[phases.left]
    assert len(win) >= 8
    left = win[:, :, 0].reshape(-1)
    right = win[:, :, 1].reshape(-1)
    f, v_left = peak(left, TONES["vocals"], 0.01)
    assert cents(f, TONES["vocals"]) == pytest.approx(0.0, abs=5.0)  # back at pitch 0
    assert v_left == pytest.approx(TONE_LEVEL * math.sqrt(2), rel=0.06)  # all of it on the left
    assert peak(right, TONES["vocals"], 0.01)[1] < 0.002 * TONE_LEVEL  # right: nothing (-54 dB)
    for ch in (left, right):  # the drums stay in the middle
        assert peak(ch, TONES["drums"], 0.01)[1] == pytest.approx(TONE_LEVEL, rel=0.06)


def test_widgets_and_read_back(phases):
    rep = phases.report
    assert rep["errors"] == []
    assert rep["tempo_text"] == "100 %" and rep["pitch_values"] == [0, 0]
    assert rep["pan_label"] == "L100"
    tempo, pitch, pan = rep["controller"]
    assert (tempo, pitch, pan["vocals"]) == (1.0, 0.0, -100.0)
    assert rep["status"][:2] == [1.0, 0.0] and rep["status"][2]["vocals"] == -100.0


if __name__ == "__main__":
    sys.exit(drive(*sys.argv[1:4]))
