"""The worker thread and the facade, driven without any device: the test pulls the callback.

A song of summed sines goes through a tiny band-split model, so what the listener must hear is
known exactly (``tests.tinymodels.expected_band_split``).
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.errors import DecodeError, ModelError
from engine.model import load_model
from engine.player import Engine, EngineConfig
from engine.ring import NO_EOF
from engine.timeline import Piece, Timeline, start_timeline
from tests.engine.drive import ManualOutput, wait_for
from tests.tinymodels import BrokenModel, band_split_model, corrupt_model, expected_band_split

SR = 44100
BLOCK = 512
FREQS = ((440.0, 0.2), (4000.0, 0.1), (7000.0, 0.1), (9500.0, 0.05))  # one per band


def song(seconds: float) -> np.ndarray:
    """(2, n) float32: one sine per band of the band-split model, R slightly detuned."""
    t = np.arange(int(seconds * SR)) / SR
    left = sum(a * np.cos(2 * np.pi * f * t + 0.3) for f, a in FREQS)
    right = sum(a * np.cos(2 * np.pi * f * 1.01 * t + 0.7) for f, a in FREQS)
    return np.stack([left, right]).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("worker")
    audio = song(3.0)
    sf.write(d / "song.wav", audio.T, SR, subtype="FLOAT")
    return {
        "song": d / "song.wav",
        "model": band_split_model(d / "bandsplit.onnx", frames=16),
        "corrupt": corrupt_model(d / "corrupt.onnx"),
    }


@pytest.fixture(scope="module")
def expected(files: dict[str, Path]) -> np.ndarray:
    return expected_band_split(song(3.0))


def wait_all_ahead(eng: Engine, timeout: float = 30.0) -> None:
    """Until every ring holds the rest of the song (ends at EOF)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        rings = [eng.mixer.mix_ring] + [s.ring for s in eng.mixer.sources.values()]
        if all(r is not None and r.eof != NO_EOF for r in rings) and eng.mixer.sources:
            return
        time.sleep(0.01)
    raise AssertionError(f"worker did not separate the song: {eng.status().error}")


def pull(eng: Engine, blocks: int) -> np.ndarray:
    """(channels, frames) of ``blocks`` callbacks."""
    out = np.zeros((blocks * BLOCK, 2), dtype=np.float32)
    for i in range(blocks):
        eng.mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
    return out.T


@pytest.fixture
def engine(files: dict[str, Path]) -> Engine:
    eng = Engine(EngineConfig(device="null", model=None, ahead_s=4.0))
    eng.attach_output(ManualOutput())
    yield eng
    eng.close()


def start_playing(eng: Engine) -> None:
    eng.play()
    first = pull(eng, 1)  # applies the seek: silent
    assert not first.any()


def test_timeline_loop_wraps_seamlessly() -> None:
    tl = start_timeline(1, samples=1000, track=100, loop=(50, 300))
    assert tl.run_at(0) == (100, 200)
    assert tl.run_at(199) == (299, 1)
    assert tl.run_at(200) == (50, 250)  # wraps to the loop start
    assert tl.run_at(700) == (50, 250)
    outside = start_timeline(1, samples=1000, track=400, loop=(50, 300))
    assert outside.run_at(0) == (400, 600)  # a seek outside the loop plays on
    assert outside.run_at(600) == (1000, 0)  # end of track
    cleared = Timeline(1, 1000, (Piece(0, 100, (50, 300)),)).rewritten(250, None)
    assert cleared.run_at(249) == (99, 1)
    assert cleared.run_at(250) == (100, 900)  # same track position, no wrap any more


def test_separated_solo_matches_the_band(engine: Engine, files, expected) -> None:
    engine.set_model("A", files["model"])
    engine.open(files["song"])
    engine.set_solo("bass", True)
    wait_all_ahead(engine)
    start_playing(engine)
    out = pull(engine, 200)  # 102400 samples
    n = out.shape[1]
    # the first block fades in; from then on exactly the "bass" band of the model
    np.testing.assert_allclose(out[:, BLOCK:], expected[2, :, BLOCK:n], atol=2e-5)
    st = engine.status()
    assert st.separated and st.source == "A" and st.underruns == 0
    assert st.levels["vocals"] == (0.0, 0.0)
    assert st.levels["bass"][0] == pytest.approx(
        np.abs(expected[2, :, n - 20000 : n]).max(), rel=0.05
    )
    assert st.position_s == pytest.approx(n / SR, abs=1e-6)


def test_all_faders_up_sounds_like_the_original(engine: Engine, files) -> None:
    engine.set_model("A", files["model"])
    engine.open(files["song"])
    wait_all_ahead(engine)
    start_playing(engine)
    out = pull(engine, 100)
    np.testing.assert_allclose(out[:, BLOCK:], song(3.0)[:, BLOCK : out.shape[1]], atol=1e-4)


def test_loop_region_repeats_without_a_gap(engine: Engine, files) -> None:
    engine.open(files["song"])
    engine.select("mix")
    engine.set_loop(0.5, 1.0)  # playhead at 0: outside, so playback jumps to the loop start
    engine.wait_ready()
    start_playing(engine)
    # set_loop seeked to the loop start: wait for the worker to have written the new position
    # (the ring may still hold the song from 0, written before the seek), and for all the blocks
    # pulled back to back below — under load the worker can lag behind a seek
    ring = engine.mixer.mix_ring
    wait_for(lambda: ring.generation == engine.mixer.seek_request[0] and ring.ahead() >= 2 * SR)
    out = pull(engine, 150)  # 76800 samples = 0.5 s loop played about 3.5 times
    audio = song(3.0)
    a, b = int(0.5 * SR), int(1.0 * SR)
    idx = a + np.arange(out.shape[1]) % (b - a)
    np.testing.assert_allclose(out[:, BLOCK:], audio[:, idx[BLOCK:]], atol=1e-6)
    assert engine.status().loop == (0.5, 1.0)



def test_seek_plays_from_the_new_position(engine: Engine, files) -> None:
    engine.open(files["song"])
    engine.select("mix")
    engine.wait_ready()
    start_playing(engine)
    wait_for(lambda: engine.mixer.mix_ring.ahead() >= SR)
    pull(engine, 10)
    engine.seek(2.0)
    assert engine.status().position_s == pytest.approx(2.0)
    pull(engine, 2)  # fade-out block, then the jump
    wait_for(lambda: engine.mixer.mix_ring.available(*engine.mixer.seek_request) >= SR // 2)
    out = pull(engine, 20)
    start = int(2.0 * SR)
    # the first block fades in from silence, then the song from 2.0 s on
    np.testing.assert_allclose(
        out[:, BLOCK:], song(3.0)[:, start + BLOCK : start + out.shape[1]], atol=1e-6
    )


def test_corrupt_model_keeps_the_previous_one(engine: Engine, files, expected) -> None:
    engine.set_model("A", files["model"])
    engine.open(files["song"])
    engine.set_solo("drums", True)
    with pytest.raises(ModelError):
        engine.set_model("A", files["corrupt"])
    assert engine.status().models["A"].name == "bandsplit"
    wait_all_ahead(engine)
    start_playing(engine)
    out = pull(engine, 40)
    np.testing.assert_allclose(out[:, BLOCK:], expected[1, :, BLOCK : out.shape[1]], atol=2e-5)


def test_a_model_failing_while_playing_falls_back_and_says_so(engine: Engine, files) -> None:
    engine.set_model("A", files["model"])
    engine.open(files["song"])
    engine.wait_ready()
    engine.worker.set_model("A", BrokenModel(load_model(str(files["model"]))))
    engine.worker.set_model("B", BrokenModel(load_model(str(files["model"]))))
    engine.wait_ready()  # both taken; then they fail when they run:
    wait_for(lambda: engine.status().models["B"] is None)
    wait_for(lambda: engine.status().models["A"].name == "bandsplit")  # the previous model
    st = engine.status()
    assert st.error is not None and "failed: the graph broke" in st.error
    assert set(engine.mixer.sources) == {"A"}
    engine.set_model("B", files["model"])  # a new model clears the error
    engine.wait_ready()
    st = engine.status()
    assert st.error is None and st.models["B"].name == "bandsplit"
    wait_all_ahead(engine)  # and both slots separate again


def test_bad_file_keeps_the_open_track(engine: Engine, files, tmp_path) -> None:
    engine.open(files["song"])
    bad = tmp_path / "not_audio.wav"
    bad.write_bytes(b"RIFF....garbage")
    with pytest.raises(DecodeError):
        engine.open(bad)
    assert engine.status().duration_s == pytest.approx(3.0)


def test_end_of_song_finishes(engine: Engine, files) -> None:
    engine.open(files["song"])
    engine.select("mix")
    engine.seek(2.9)
    engine.wait_ready()
    wait_for(lambda: engine.mixer.mix_ring.eof != NO_EOF)
    start_playing(engine)
    pull(engine, 12)  # 0.1 s left, 0.14 s pulled
    st = engine.status()
    assert st.finished and not st.playing
    assert st.position_s == pytest.approx(3.0, abs=1e-6)
    assert st.underruns == 0
    assert math.isclose(st.duration_s, 3.0)


def test_no_output_device_play_raises_but_export_works(files, tmp_path) -> None:
    from engine.errors import DeviceError
    from engine.export import export_file

    eng = Engine(EngineConfig(device="no-such-sound-card", model=None))
    try:
        eng.set_model("A", files["model"])
        eng.open(files["song"])
        with pytest.raises(DeviceError):  # the device opens on a helper thread: wait for it
            eng.wait_output()
        with pytest.raises(DeviceError) as err:  # then play() knows, and says so
            eng.play()
        assert "\n" not in str(err.value)
        st = eng.status()  # status still works offline
        assert st.duration_s == pytest.approx(3.0) and not st.playing
    finally:
        eng.close()
    written = export_file(files["song"], tmp_path, model=files["model"])
    assert len(written) == 4 and all(p.stat().st_size > 0 for p in written)


def test_slots_a_and_b_separated_side_by_side_both_exact(engine: Engine, files, expected) -> None:
    engine.set_model("A", files["model"])
    engine.set_model("B", files["model"])
    engine.open(files["song"])
    engine.set_solo("drums", True)
    wait_all_ahead(engine)
    names = {t.name.rsplit("_", 1)[0] for t in threading.enumerate()}
    assert {"stemplay-separate-A", "stemplay-separate-B"} <= names  # one thread per slot
    start_playing(engine)
    out_a = pull(engine, 40)
    engine.select("B")
    pull(engine, 4)  # the A/B cross-fade
    out_b = pull(engine, 40)
    n = out_a.shape[1]
    np.testing.assert_allclose(out_a[:, BLOCK:], expected[1, :, BLOCK:n], atol=2e-5)
    s = n + 4 * BLOCK
    np.testing.assert_allclose(out_b, expected[1, :, s : s + out_b.shape[1]], atol=2e-5)
    assert engine.status().underruns == 0


class _StepWriter:
    """What SeparationThreads needs of a SeparatorWriter: records whether its step was asked to
    share the CPUs, and blocks until released (or cancelled)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = False
        self.cancel = None
        self.epoch = 0
        self.shared: bool | None = None
        self.close_when_done = False
        self.release = threading.Event()

    def prepare(self, timeline: Timeline) -> int:
        return 0

    def compute(self, timeline: Timeline, at: int, cancel, shared: bool) -> None:
        self.shared = shared
        while not (self.release.is_set() or cancel.cancelled):
            time.sleep(0.001)


def test_a_step_cancelled_by_a_seek_does_not_halve_the_next_steps_cpus() -> None:
    from engine.writers import SeparationThreads

    threads = SeparationThreads()
    a, b = _StepWriter("A"), _StepWriter("B")
    tl = start_timeline(1, SR, 0, None)
    try:
        assert threads.submit(b, tl)
        assert threads.submit(a, tl)  # B separates too: A gets half the CPUs
        wait_for(lambda: a.shared is not None)
        assert a.shared is True
        a.release.set()
        wait_for(lambda: threads.busy("A") and threads.finished() is not None)
        assert not a.busy and b.busy  # A's step was collected, B's is still in flight
        b.cancel.cancel()  # a seek: B's step ends at its model's next operator
        a.shared, a.release = None, threading.Event()
        assert threads.submit(a, tl)  # the first step at the new position: all the CPUs
        wait_for(lambda: a.shared is not None)
        assert a.shared is False
    finally:
        a.release.set()
        b.release.set()
        threads.close()


def test_a_model_set_while_nothing_plays_warms_up_on_its_slot_thread(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's first (slow) run happens when it comes into the slot, on that slot's
    separation thread, so pressing play later does not wait for it."""
    import engine.model as em

    runs: list[tuple[str, float]] = []
    real_run = em.SeparationModel.run

    def run(self, x, **kw):
        runs.append((threading.current_thread().name, float(np.abs(x).max())))
        return real_run(self, x, **kw)

    monkeypatch.setattr(em.SeparationModel, "run", run)
    engine = Engine(EngineConfig(device="null", model=str(files["model"])))
    try:
        wait_for(lambda: len(runs) >= 1)
        assert runs[0][0].startswith("stemplay-separate-A") and runs[0][1] == 0.0  # silence
    finally:
        engine.close()


def test_a_step_submitted_during_the_warm_up_cancels_it(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.model as em
    from engine.writers import SeparationThreads

    started, cancels = threading.Event(), []

    def run(self, x, cancel=None, **kw):  # the warm-up's run hangs until cancelled
        cancels.append(cancel)
        started.set()
        while not cancel.cancelled:
            time.sleep(0.001)
        raise em.RunCancelled()

    model = load_model(str(files["model"]))
    monkeypatch.setattr(em.SeparationModel, "run", run)
    threads = SeparationThreads()
    step = _StepWriter("A")
    try:
        threads.warm_up("A", model)
        assert started.wait(10)
        assert threads.submit(step, start_timeline(1, SR, 0, None))
        assert cancels[0].cancelled  # the listener's step does not wait for the warm-up
        wait_for(lambda: step.shared is not None)  # it runs
    finally:
        step.release.set()
        threads.close()
