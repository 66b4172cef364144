"""Tempo, pitch and count-in after the mixer, driven with plain numpy buffers (no device), and
offline stretching (export's): durations, pitch estimates, bypass, allocation, clicks."""

from __future__ import annotations

import math
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from engine.mixer import Mixer, MixSettings, Source, click_track
from engine.ring import StemRing
from engine.stretch import (
    LiveStretch,
    check_pitch,
    check_tempo,
    stretch,
)
from engine.timeline import start_timeline

SR = 44100
BLOCK = 512
STEMS = ("vocals", "drums", "bass", "other")


def tone(freq: float, seconds: float, amp: float = 0.3) -> np.ndarray:
    """(2, n) float32 sine."""
    t = np.arange(round(seconds * SR)) / SR
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x, x])


def pitch_hz(x: np.ndarray, lo: float = 100.0, hi: float = 2000.0) -> float:
    """Peak frequency of ``x`` (n,) with a zero-padded Hann FFT (resolution ~0.2 Hz)."""
    x = x.astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), 1 << 18))
    f = np.fft.rfftfreq(1 << 18, 1 / SR)
    band = (f > lo) & (f < hi)
    return float(f[band][np.argmax(spec[band])])


def cents(f: float, ref: float) -> float:
    return 1200.0 * math.log2(f / ref)


def make_mixer(audio: np.ndarray, stems: np.ndarray | None = None) -> Mixer:
    """A playing mixer over ``audio`` (2, n) as the plain mix (and ``stems`` as slot A)."""
    n = audio.shape[1]
    mixer = Mixer()
    ring = StemRing(1, n + 10)
    ring.reset(1, 0)
    ring.write(audio[None])
    ring.mark_eof()
    mixer.mix_ring = ring
    if stems is not None:
        r = StemRing(stems.shape[0], n + 10)
        r.reset(1, 0)
        r.write(stems)
        mixer.sources = {"A": Source(r, STEMS[: stems.shape[0]])}
    mixer.seek_request = (1, 0)
    mixer.play_request = True
    return mixer


def run(mixer: Mixer, blocks: int, block: int = BLOCK) -> np.ndarray:
    out = np.zeros((blocks * block, 2), dtype=np.float32)
    for i in range(blocks):
        mixer.process(out[i * block : (i + 1) * block], block)
    return out


def sounding(out: np.ndarray, level: float = 0.05) -> tuple[int, int]:
    """First and last sample louder than ``level`` in the left channel."""
    idx = np.flatnonzero(np.abs(out[:, 0]) > level)
    return int(idx[0]), int(idx[-1])


# ------------------------------------------------------------------------------ limits
@pytest.mark.parametrize("ratio", [0.49, 1.51, 0.0, -1.0, math.nan, math.inf])
def test_tempo_out_of_range_is_refused(ratio: float) -> None:
    with pytest.raises(ValueError, match="tempo"):
        check_tempo(ratio)


@pytest.mark.parametrize("semis", [6.01, -7.0, math.nan])
def test_pitch_out_of_range_is_refused(semis: float) -> None:
    with pytest.raises(ValueError, match="pitch"):
        check_pitch(semis)


# ------------------------------------------------------------------------------ offline
@pytest.mark.parametrize(("tempo", "pitch"), [(0.5, 0.0), (1.0, 2.0), (1.5, -6.0), (0.8, 0.5)])
def test_offline_stretch_duration_and_pitch(tempo: float, pitch: float) -> None:
    x = tone(440.0, 2.0)
    y = stretch(x, tempo, pitch)
    assert y.shape == (2, round(x.shape[1] / tempo))
    mid = y[0, y.shape[1] // 4 : y.shape[1] // 4 + 32768]
    assert cents(pitch_hz(mid), 440.0) == pytest.approx(100 * pitch, abs=3.0)
    assert np.abs(y[:, :256]).max() > 0.1  # starts at once: the start delay is removed


# ------------------------------------------------------------------------------ live
def test_neutral_tempo_and_pitch_are_bit_exact_with_a_stretcher_present() -> None:
    x = tone(440.0, 1.0)
    plain = make_mixer(x)
    plain.settings = MixSettings(source="mix")
    ref = run(plain, 40)
    mixer = make_mixer(x)
    mixer.stretcher = LiveStretch()  # built, but tempo 1 / pitch 0: bypassed
    mixer.settings = MixSettings(source="mix", tempo=1.0, pitch=0.0)
    out = run(mixer, 40)
    assert np.array_equal(out, ref)


def test_half_tempo_doubles_the_duration_and_keeps_the_pitch() -> None:
    x = tone(440.0, 1.0)
    mixer = make_mixer(x)
    mixer.stretcher = LiveStretch()
    mixer.settings = MixSettings(source="mix", tempo=0.5)
    out = run(mixer, 2 * SR // BLOCK + 40)
    first, last = sounding(out)
    assert (last - first) / SR == pytest.approx(2.0, abs=0.03)
    mid = out[first + SR // 2 : first + SR // 2 + 32768, 0]
    assert cents(pitch_hz(mid), 440.0) == pytest.approx(0.0, abs=3.0)
    assert mixer.finished  # song time reached the end: the playhead shows song time


def test_pitch_up_two_semitones_keeps_the_duration() -> None:
    x = tone(440.0, 1.0)
    mixer = make_mixer(x)
    mixer.stretcher = LiveStretch()
    mixer.settings = MixSettings(source="mix", pitch=2.0)
    out = run(mixer, SR // BLOCK + 40)
    first, last = sounding(out)
    assert (last - first) / SR == pytest.approx(1.0, abs=0.03)
    mid = out[first + SR // 4 : first + SR // 4 + 16384, 0]
    assert cents(pitch_hz(mid), 440.0) == pytest.approx(200.0, abs=3.0)


def test_changing_tempo_and_pitch_while_playing_does_not_click() -> None:
    """Into the stretcher, several ratio changes, and back to the exact bypass: the output
    never jumps by more than a 440 Hz tone at 0.3 can move between two samples (plus margin)."""
    x = tone(440.0, 4.0)
    mixer = make_mixer(x)
    mixer.stretcher = LiveStretch()
    mixer.settings = MixSettings(source="mix")
    parts = [run(mixer, 20)]
    for tempo, pitch in [(0.75, 0.0), (0.75, 3.0), (1.25, -2.5), (1.0, 0.0)]:
        mixer.settings = MixSettings(source="mix", tempo=tempo, pitch=pitch)
        parts.append(run(mixer, 40))
    out = np.concatenate(parts)
    start = sounding(out)[0] + 2 * BLOCK
    step = np.abs(np.diff(out[start:-BLOCK, 0]))
    limit = 0.3 * 2 * math.pi * 440 / SR * 2.4 * 2  # 2.4: pitch +3 moves faster; 2: margin
    assert step.max() < limit
    assert not mixer._stretching  # back at 1/0: the exact bypass again


def test_stretched_callback_never_allocates_arrays() -> None:
    stems = np.stack([tone(220.0 * (k + 1), 1.0, 0.1) for k in range(4)])
    mixer = make_mixer(stems.sum(0), stems)
    mixer.stretcher = LiveStretch()
    block = 2048
    out = np.empty((block, 2), dtype=np.float32)
    mixer.settings = MixSettings(source="A", tempo=0.7, pitch=1.0)
    for _ in range(4):
        mixer.process(out, block)
    settings = [
        MixSettings(source="A", tempo=0.6 + 0.05 * i, pitch=-i / 3)
        .with_gain_db("bass", -i).with_pan("vocals", -10 * i)
        for i in range(10)
    ]
    tracemalloc.start()
    for s in settings:
        mixer.settings = s
        mixer.process(out, block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < block * 2 * 4  # less than one block of audio: no array was allocated
    assert mixer.errors == 0
    assert np.abs(out).max() > 0.05  # it did play


# ------------------------------------------------------------------------------ count-in
def looping_mixer(x: np.ndarray, loop: tuple[int, int], laps: int) -> tuple[Mixer, object]:
    """A mixer playing the loop ``loop`` of ``x`` from its start, with the ring the worker
    would write (the loop ``laps`` times) and its timeline."""
    mixer = make_mixer(x)
    mixer.settings = MixSettings(source="mix")
    timeline = start_timeline(1, x.shape[1], loop[0], loop)
    ring = StemRing(1, (laps + 1) * (loop[1] - loop[0]))
    ring.reset(1, 0)
    for _ in range(laps):
        ring.write(x[None, :, loop[0] : loop[1]])
    mixer.mix_ring = ring
    mixer.timeline_owner = SimpleNamespace(timeline=timeline)
    return mixer, timeline


def test_count_in_clicks_before_the_loop_restarts() -> None:
    x = tone(220.0, 1.0, 0.2)
    loop = (round(0.2 * SR), round(0.5 * SR))
    mixer, _ = looping_mixer(x, loop, 3)
    beats, beat_s = 2, 0.25
    mixer.count_in = click_track(beats, beat_s)
    out = run(mixer, round(1.4 * SR) // BLOCK)
    length = loop[1] - loop[0]
    wrap = BLOCK + length  # the first block is the silent seek block
    # the loop plays to its end (faded over the last 4 ms), then the clicks, then again
    song = out[2 * BLOCK : wrap - 200, 0]  # after the fade-in of play
    np.testing.assert_allclose(song, x[0, loop[0] + BLOCK : loop[0] + BLOCK + song.size],
                               atol=1e-6)
    expected = click_track(beats, beat_s)[:, 0]
    clicks = out[wrap : wrap + expected.size, 0]
    np.testing.assert_allclose(clicks, expected, atol=1e-6)
    beat = round(beat_s * SR)
    assert np.abs(clicks[:2000]).max() > 1.5 * np.abs(clicks[beat : beat + 2000]).max()  # accent
    after = wrap + expected.size
    np.testing.assert_allclose(out[after + 200 : after + 4000, 0],
                               x[0, loop[0] + 200 : loop[0] + 4000], atol=1e-6)
    # no click at the cut or the restart: steps no larger than the tone's own (0.0063)
    for a, b in ((wrap - 400, wrap), (after - 20, after + 400)):
        assert np.abs(np.diff(out[a:b, 0])).max() < 0.01


def test_count_in_holds_the_playhead_at_the_loop_start() -> None:
    x = tone(220.0, 1.0, 0.2)
    loop = (round(0.1 * SR), round(0.3 * SR))
    mixer, timeline = looping_mixer(x, loop, 2)
    mixer.count_in = click_track(4, 0.5)
    run(mixer, round(0.4 * SR) // BLOCK)
    assert mixer.counting_in
    held = mixer.playhead
    run(mixer, 10)
    assert mixer.playhead == held
    assert timeline.track_at(held[1]) == loop[0]  # song time: the loop start, waiting


def test_count_in_off_keeps_the_loop_seamless() -> None:
    x = tone(220.0, 1.0, 0.2)
    loop = (round(0.1 * SR), round(0.3 * SR))
    mixer, _ = looping_mixer(x, loop, 3)
    out = run(mixer, round(0.5 * SR) // BLOCK)
    length = loop[1] - loop[0]
    np.testing.assert_allclose(out[BLOCK + length : BLOCK + length + 2000, 0],
                               x[0, loop[0] : loop[0] + 2000], atol=1e-6)
    assert not mixer.counting_in


# ------------------------------------------------------------------------------ the facade
class ManualOutput:
    """An output that plays nothing by itself: the test calls the callback."""

    latency_s = 0.0

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


def test_engine_count_in_at_the_loop_wrap(song_wav, music) -> None:
    import time

    from engine.player import Engine, EngineConfig

    with Engine(EngineConfig(device="null", model=None, ahead_s=2.0)) as eng:
        eng.attach_output(ManualOutput())
        eng.open(song_wav)
        eng.set_loop(1.0, 1.5)  # the playhead is outside: it goes to the loop start
        eng.set_count_in(2, 0.25)
        eng.select("mix")
        eng.wait_ready()
        eng.play()
        mixer = eng.mixer
        blocks = round(1.7 * SR) // BLOCK
        out = np.zeros((blocks * BLOCK, 2), dtype=np.float32)
        held = []
        for i in range(blocks):
            deadline = time.monotonic() + 5.0
            while (mixer.mix_ring is not None and mixer.seek_request[0] == mixer._generation
                   and mixer.mix_ring.available(*mixer.playhead) < BLOCK
                   and time.monotonic() < deadline):
                time.sleep(0.005)
            mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
            st = eng.status()
            if st.counting_in:
                held.append(st.position_s)
    assert held and all(p == pytest.approx(1.0) for p in held)  # waits at the loop start
    first = int(np.flatnonzero(out[:, 0])[0])  # the first sample of the loop (faded in)
    lap = round(0.5 * SR)
    clicks = click_track(2, 0.25)[:, 0]
    np.testing.assert_allclose(out[first + lap : first + lap + clicks.size, 0], clicks,
                               atol=1e-6)
    again = first + lap + clicks.size
    np.testing.assert_allclose(out[again + 200 : again + 8000, 0],
                               music[0, SR + 200 : SR + 8000], atol=1e-5)


def test_a_loop_at_half_tempo_takes_twice_as_long_per_lap() -> None:
    """Loops stay in song time: each lap of a 0.3 s loop lasts 0.6 s at tempo 0.5, and the
    playhead keeps wrapping inside the loop."""
    t = np.arange(SR) / SR
    x = np.zeros((2, SR), np.float32)
    loop = (round(0.2 * SR), round(0.5 * SR))
    x[:, loop[0] : loop[0] + 400] = 0.5 * np.sin(2 * np.pi * 1000 * t[:400])  # a blip per lap
    mixer, timeline = looping_mixer(x, loop, 8)
    mixer.stretcher = LiveStretch()
    mixer.settings = MixSettings(source="mix", tempo=0.5)
    out = run(mixer, round(2.6 * SR) // BLOCK)
    env = np.convolve(np.abs(out[:, 0]), np.ones(256), "same")
    rising = np.flatnonzero((env[1:] > 20) & (env[:-1] <= 20))
    blips = [int(rising[0])]
    for i in rising[1:]:
        if i - blips[-1] > 0.2 * SR:  # one onset per blip (the stretched blip wobbles)
            blips.append(int(i))
    laps = np.diff(blips) / SR
    assert len(laps) >= 2
    np.testing.assert_allclose(laps, 0.6, atol=0.02)
    assert loop[0] <= timeline.track_at(mixer.playhead[1]) < loop[1]
