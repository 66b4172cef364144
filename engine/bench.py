"""``stemplay bench``: speed and latency figures of the playback engine. Main thread.

No sound card is needed: playback figures use :class:`engine.output.NullOutput`, a thread that
pulls the real audio callback at real-time pace (blocks of 512 samples), with the callback
wrapped to timestamp what it outputs. Speeds are ``speed_x_*``: seconds of audio per second of
compute ("× real time", the inverse of what is usually called a real-time factor; higher is
faster). How each figure is measured:

* ``speed_x_one`` / ``speed_x_ab``: streaming separation (``StreamSeparator``, as in playback)
  over ``BENCH_SECONDS`` of the input, with one model, then with two separators (slots A and
  B: two copies of the model, or ``--model-b`` in B) fed the same audio, each on its own
  thread and with half the CPUs for its model as in the worker (``speed_x_ab`` counts the
  audio of one slot per wall second). The sustained rate that keeps playback ahead: each
  separator first runs once over one segment of audio
  (FFTW plans of the thread, the model's first run, first touch of its buffers); that cold
  start is part of ``first_separated_ms``, not of these figures.
* ``speed_x_engine``: ``speed_x_one`` with a near-zero-cost model of the same shape (stems,
  bins, frames, batch axis; ``engine/nullmodel.py``, built in code): the speed of the engine
  around the model (STFT, segments, cross-fades, high band, mixture consistency, iSTFT) on its
  own. ``model_share``: ``1 - speed_x_one / speed_x_engine``, the part of the separation time
  the model's own ``session.run`` takes.
* ``first_sound_ms``: from ``Engine.play()`` to the end of the first callback block that
  carries non-silent audio (add the device's own output latency on real hardware).
* ``first_separated_ms`` / ``seek_separated_ms``: from ``play()`` (resp. ``seek()`` while
  playing: the median of far seeks to the ``FAR_SEEKS`` points of the song, each one in
  ``seek_separated_ms_each``) to the first callback block where the stems, not the plain mix,
  are heard. ``seek_first_sound_ms``: from the first of those seeks to the first sound at the
  new position.
  ``near_seek_separated_ms``: the same for a seek 2 s forward once 4 s are separated ahead
  (inside audio already separated: reused, not re-separated).
* ``gain_change_ms``: from ``set_gain_db()`` to the end of the callback block that completes
  the ramp to the new gain (the ramp spans one block), averaged over several changes.
* ``provider``: the onnxruntime execution provider the model runs on (``--provider``, else
  ``STEMPLAY_PROVIDER``, else CUDA when it works and the CPU otherwise).
* ``machine``: the CPU's model name, the CPUs this process may use and its wide-vector
  features (AVX2, AVX-512, bf16, AMX): the same code runs 2× apart on two "2-core EPYC"
  machines of this project, so a figure is read with the machine that produced it.
* ``peak_rss_mb_10min`` / ``peak_rss_mb_60min``: peak resident memory of a fresh process that
  opens a generated 10- resp. 60-minute file, plays 3 s at its start and 3 s after a seek to
  its middle (``ru_maxrss``). Streaming decode and rings of ``ahead_s`` keep it flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import HOP, SAMPLE_RATE
from engine.errors import ModelError
from engine.writers import FEED_CHUNK

BENCH_SECONDS = 20.0  # length of the generated test song and of the speed measurement
BLOCK = 512


def make_song(path: Path, seconds: float, chunk_s: float = 30.0) -> Path:
    """Write a stereo test song (chords of sines + a pulse, 16-bit WAV) in chunks."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    n_total = int(seconds * SAMPLE_RATE)
    chunk = int(chunk_s * SAMPLE_RATE)
    with sf.SoundFile(path, "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
        for start in range(0, n_total, chunk):
            t = np.arange(start, min(n_total, start + chunk)) / SAMPLE_RATE
            x = 0.15 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1320 * t)
            x += 0.05 * np.sin(2 * np.pi * 5500 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
            x += 0.02 * rng.standard_normal(t.shape)
            f.write(np.stack([x, 0.9 * x], axis=1).astype(np.float32))
    return path


class _Probe:
    """Wraps the mixer callback: timestamps the first sound, stems heard, settings applied."""

    def __init__(self, mixer: Any) -> None:
        self.mixer = mixer
        self.first_sound: float | None = None
        self.first_separated: float | None = None
        self.generation = 0  # only blocks of this generation (or later) count
        self.watched: Any = None  # a MixSettings whose arrival is timed
        self.applied: float | None = None  # end of the first block that ramped to ``watched``

    def reset(self, generation: int) -> None:
        self.generation = generation
        self.first_sound = None
        self.first_separated = None

    def watch(self, settings: Any) -> None:
        self.applied = None
        self.watched = settings

    def callback(self, outdata: np.ndarray, frames: int, t: Any = None, st: Any = None) -> None:
        settings = self.mixer.settings
        self.mixer.callback(outdata, frames, t, st)
        now = time.perf_counter()
        if self.mixer.playhead[0] < self.generation:
            return
        if self.first_sound is None and np.any(outdata):
            self.first_sound = now
        if self.first_separated is None and self.mixer.heard != "mix":
            self.first_separated = now
        if self.applied is None and settings is self.watched:
            self.applied = now


def _wait(cond: Any, timeout: float) -> bool:
    t_end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > t_end:
            return False
        time.sleep(0.001)
    return True


def _ms(t0: float, t1: float | None) -> float | None:
    return None if t1 is None else round((t1 - t0) * 1000.0, 1)


SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def machine_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """``{"cpu": model name, "cpus": usable CPUs, "simd": [features]}`` from ``/proc/cpuinfo``
    (``cpuinfo``: its text, for tests); the platform's processor name elsewhere."""
    import platform

    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    name, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features"):
            flags.update(value.split())
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return {"cpu": name or platform.processor() or platform.machine(), "cpus": cpus,
            "simd": [f for f in SIMD_FLAGS if f in flags]}


def measure_speed_x(model_path: str, audio: np.ndarray, slots: int,
                    model_b: str | None = None) -> float:
    """Speed (× real time) of streaming separation with ``slots`` separators over ``audio``
    (2, n); with two slots, B runs ``model_b`` (default: ``model_path`` again).

    Each separator runs on its own thread, as the worker runs slots A and B: warm-up
    (module docstring) on that thread, then all start together and the clock runs until the
    last one has finished.
    """
    from engine.model import load_model
    from engine.separate import StreamSeparator

    # side by side, the worker runs each slot's model with half the CPUs (model.narrowed)
    paths = [model_path] if slots == 1 else [model_path, model_b or model_path]
    seps = [StreamSeparator(load_model(path) if slots == 1 else load_model(path).narrowed())
            for path in paths]
    ready = threading.Barrier(slots + 1)
    errors: list[BaseException] = []

    def run(sep: StreamSeparator) -> None:
        try:
            sep.reset(0)  # warm-up: one segment, then start over
            sep.feed(audio[:, : sep.frames * HOP])
            sep.finish()
            sep.reset(0)
        except BaseException as err:  # noqa: BLE001 - reported on the main thread
            errors.append(err)
            ready.abort()
            return
        ready.wait()
        try:
            for i in range(0, audio.shape[1], FEED_CHUNK):
                sep.feed(audio[:, i : i + FEED_CHUNK])
            sep.finish()
        except BaseException as err:  # noqa: BLE001 - reported on the main thread
            errors.append(err)

    threads = [
        threading.Thread(target=run, args=(sep,), name=f"stemplay-bench-slot{k}")
        for k, sep in enumerate(seps)
    ]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return audio.shape[1] / SAMPLE_RATE / elapsed


#: far seeks while playing, as fractions of the song, each before the last (so outside what is
#: separated ahead): where a seek lands against the segment grid decides whether one or two
#: model runs come before the first separated sound, so one position alone says little;
#: ``seek_separated_ms`` is their median
FAR_SEEKS = (0.86, 0.68, 0.5, 0.32, 0.14)


def measure_playback(song: Path, model_path: str) -> dict[str, Any]:
    from engine.output import NullOutput
    from engine.player import Engine, EngineConfig

    eng = Engine(EngineConfig(device="null", model=model_path))
    probe = _Probe(eng.mixer)
    out = NullOutput(BLOCK, probe.callback)
    eng.attach_output(out)
    res: dict[str, Any] = {}
    try:
        eng.open(song)
        eng.wait_ready()
        t0 = time.perf_counter()
        probe.reset(eng.mixer.seek_request[0])
        eng.play()
        _wait(lambda: probe.first_separated is not None, 30)
        res["first_sound_ms"] = _ms(t0, probe.first_sound)
        res["first_separated_ms"] = _ms(t0, probe.first_separated)
        far: list[float] = []
        for k, where in enumerate(FAR_SEEKS):
            time.sleep(0.5)
            t0 = time.perf_counter()
            eng.seek(eng.status().duration_s * where)
            probe.reset(eng.mixer.seek_request[0])
            _wait(lambda: probe.first_separated is not None, 30)
            if k == 0:
                res["seek_first_sound_ms"] = _ms(t0, probe.first_sound)
            ms = _ms(t0, probe.first_separated)
            if ms is not None:
                far.append(ms)
        res["seek_separated_ms"] = round(float(np.median(far)), 1) if far else None
        res["seek_separated_ms_each"] = far
        _wait(lambda: eng.status().ahead_s >= 4.0, 30)
        t0 = time.perf_counter()
        eng.seek(eng.status().position_s + 2.0)
        probe.reset(eng.mixer.seek_request[0])
        _wait(lambda: probe.first_separated is not None, 30)
        res["near_seek_separated_ms"] = _ms(t0, probe.first_separated)
        delays = []
        for i in range(8):
            time.sleep(0.13)
            t0 = time.perf_counter()
            eng.set_gain_db("vocals", -6.0 * (i % 2))
            probe.watch(eng.mixer.settings)  # a block already using it counts one block late
            if _wait(lambda: probe.applied is not None, 2) and probe.applied is not None:
                delays.append(probe.applied - t0)
        res["gain_change_ms"] = round(1000 * float(np.mean(delays)), 1) if delays else None
        res["underruns"] = eng.status().underruns
    finally:
        eng.close()
    return res


def rss_child(path: str, model_path: str) -> int:
    """Body of the RSS subprocess: play 3 s at the start and 3 s in the middle; print KiB."""
    from engine.output import NullOutput
    from engine.player import Engine, EngineConfig

    eng = Engine(EngineConfig(device="null", model=model_path))
    eng.attach_output(NullOutput(BLOCK, eng.mixer.callback))
    eng.open(path)
    eng.play()
    time.sleep(3.0)
    eng.seek(eng.status().duration_s / 2)
    time.sleep(3.0)
    eng.close()
    print(peak_rss_kib())
    return 0


def peak_rss_kib() -> int:
    """This process's peak resident memory (KiB) since it started its program.

    Linux keeps ``ru_maxrss`` across ``execve``, so a child forked from a big parent (the bench
    itself) reports the parent's size when that is larger; ``VmHWM`` belongs to the new
    program's memory map and starts afresh at exec. Elsewhere ``ru_maxrss`` (KiB on Linux,
    bytes on macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def measure_rss(path: Path, model_path: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-m", "engine.bench", "--rss-child", str(path), model_path],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return round(int(proc.stdout.strip().splitlines()[-1]) / 1024.0, 1)


def run_bench(file: str | None, model: str | None, as_json: bool,
              model_b: str | None = None, provider: str | None = None) -> int:
    """Measure and print; 1 with one line when no model is available. ``model_b``: slot B of
    ``speed_x_ab`` (default: a second copy of the model). ``provider``: "cpu", "cuda" or
    "auto" for every model the bench runs (here and in its subprocesses, through
    ``STEMPLAY_PROVIDER``); "cuda" where CUDA cannot run is 1 with the reason, not CPU
    figures under a CUDA heading."""
    from engine.decode import read_all
    from engine.model import (
        cuda_problem,
        cuda_unusable_reason,
        default_model_path,
        load_model,
        resolve_model_path,
    )
    from engine.nullmodel import write_null_model

    if provider is not None:
        provider = provider.lower()
        os.environ["STEMPLAY_PROVIDER"] = provider
        if provider == "cuda":
            reason = cuda_unusable_reason()
            if reason is not None:
                print(f"stemplay bench: CUDA is not usable here: {reason}", file=sys.stderr)
                return 1

    if model is None:
        path = default_model_path()
        if path is None:
            print("stemplay bench: no model in models/; pass --model PATH", file=sys.stderr)
            return 1
        model_path = str(path)
    else:
        try:
            model_path = str(resolve_model_path(model))
        except ModelError as err:
            print(f"stemplay bench: {err}", file=sys.stderr)
            return 1
    b_path = None
    if model_b is not None:
        try:
            b_path = str(resolve_model_path(model_b))
        except ModelError as err:
            print(f"stemplay bench: {err}", file=sys.stderr)
            return 1
    figures: dict[str, Any] = {"model": model_path, "machine": machine_info()}
    if b_path is not None:
        figures["model_b"] = b_path
    try:
        figures["provider"] = load_model(model_path, threads=1).info.provider
    except ModelError as err:
        print(f"stemplay bench: {err}", file=sys.stderr)
        return 1
    if provider == "cuda" and figures["provider"] != "CUDAExecutionProvider":
        print(f"stemplay bench: CUDA is not usable here: {cuda_problem() or 'no CUDA session'}",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="stemplay-bench-") as tmp:
        song = Path(file) if file else make_song(Path(tmp) / "bench.wav", BENCH_SECONDS)
        figures["input"] = str(song) if file else f"generated {BENCH_SECONDS:.0f} s"
        audio = read_all(song)[:, : int(BENCH_SECONDS * SAMPLE_RATE)]
        figures["speed_x_one"] = round(measure_speed_x(model_path, audio, 1), 2)
        null = write_null_model(Path(tmp) / "engine-null.onnx", model_path)
        figures["speed_x_engine"] = round(measure_speed_x(str(null), audio, 1), 2)
        # the model's share of the separation time: what the engine alone does not spend
        figures["model_share"] = round(
            max(0.0, 1.0 - figures["speed_x_one"] / figures["speed_x_engine"]), 3)
        figures["speed_x_ab"] = round(measure_speed_x(model_path, audio, 2, b_path), 2)
        figures.update(measure_playback(song, model_path))
        for minutes in (10, 60):
            long_song = make_song(Path(tmp) / f"long{minutes}.wav", minutes * 60.0)
            figures[f"peak_rss_mb_{minutes}min"] = measure_rss(long_song, model_path)
            long_song.unlink()
    if as_json:
        print(json.dumps(figures))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key.ljust(width)}  {value}")
    return 0


def _main(argv: list[str]) -> int:
    from engine.cli import COMMANDS

    p = argparse.ArgumentParser(prog="python -m engine.bench",
                                description=COMMANDS["bench"].help)
    COMMANDS["bench"].options(p)  # the options of `stemplay bench`, declared once
    # internal: the body of measure_rss's subprocess
    p.add_argument("--rss-child", nargs=2, metavar=("FILE", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        return rss_child(*args.rss_child)
    return run_bench(args.file, args.model, args.json, args.model_b, args.provider)


if __name__ == "__main__":
    threading.current_thread().name = "stemplay-bench"
    sys.exit(_main(sys.argv[1:]))
