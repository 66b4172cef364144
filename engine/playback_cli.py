"""``stemplay play``, ``stemplay devices`` and ``stemplay bench``: thin layers on the facade.

Runs on the main thread. ``engine/cli.py`` declares every sub-command and its options once
(``engine.cli.COMMANDS``) and calls :func:`play_command`, :func:`devices_command` and
:func:`bench_command` with its ``argparse.Namespace`` (attributes: file, model, mute, solo,
gain, start, duration, device, latency, tempo, pitch, pan, json); ``--gain`` is read here by
``engine.cli.parse_gains``, the rule ``export --mix`` uses too.

User errors print one line on stderr and return 1 (2 for a usage error); Ctrl+C stops the
sound and returns 130 without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from typing import Any

from engine.cli import merged, parse_gains
from engine.config import DEFAULT_STEMS
from engine.errors import DeviceError, StemplayError

#: How often ``play`` polls the engine (seconds).
POLL_S = 0.05
#: Headless `play` with a model waits for this much separated audio before the first sound…
PREROLL_S = 2.0
#: …but never longer than this (then the plain mix stands in until the stems catch up).
PREROLL_TIMEOUT_S = 30.0


class UsageError(StemplayError):
    """A bad option value (unknown stem name, malformed --gain)."""


def _fail(err: BaseException | str, code: int = 1) -> int:
    print(f"stemplay: error: {err}", file=sys.stderr)
    return code


def check_stems(names: list[str], valid: tuple[str, ...], option: str) -> None:
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown stem {name!r} for {option}; valid stems: {', '.join(valid)}")


def _preroll(engine: Any, seconds: float) -> None:
    """Wait until the stems are separated ``seconds`` ahead (or the song ends, or
    ``PREROLL_TIMEOUT_S``): headless, nobody sees "plain mix until separated", so the first
    sound is already the mix that was asked for, even on a busy machine."""
    deadline = time.monotonic() + PREROLL_TIMEOUT_S
    while time.monotonic() < deadline:
        st = engine.status()
        if st.ahead_s >= min(seconds, st.duration_s - st.position_s - 0.05) or st.error:
            return
        time.sleep(POLL_S)


def play_command(args: argparse.Namespace) -> int:
    """Play FILE to its end (or ``--duration``) with the given mix; 0 on success."""
    from engine.player import DEFAULT_MODEL, Engine, EngineConfig

    mute = list(getattr(args, "mute", None) or [])
    solo = list(getattr(args, "solo", None) or [])
    device = getattr(args, "device", None)
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    engine: Engine | None = None
    try:
        try:
            gains = parse_gains(getattr(args, "gain", None))
        except ValueError as err:
            raise UsageError(f"--gain {err}") from None
        start = getattr(args, "start", None) or 0.0
        duration = getattr(args, "duration", None)
        if not math.isfinite(start) or start < 0 or (
            duration is not None and not (math.isfinite(duration) and duration > 0)
        ):
            raise UsageError("--start must be a number >= 0 and --duration a number > 0")
        model = getattr(args, "model", None)
        # An explicit --model that cannot be loaded is an error (exit 1), not a warning.
        latency = getattr(args, "latency", None)
        config = EngineConfig(device=device, model=None if model else DEFAULT_MODEL)
        if latency is not None:
            config = dataclasses.replace(config, latency=latency)
        engine = Engine(config)
        if model:
            engine.set_model("A", model)
        device_error: DeviceError | None = None
        try:
            # The device opens on a helper thread; sounddevice silences stderr (fd 2) while
            # PortAudio starts, so let that finish before any line is printed.
            engine.wait_output()
        except DeviceError as err:
            device_error = err  # reported after the options are checked
        if model is None and engine.status().error:
            print(f"stemplay: warning: {engine.status().error}", file=sys.stderr)
        st = engine.status()
        info_a = st.models.get("A")
        if info_a is None and (mute or solo or gains):
            raise UsageError(
                "no separation model: put one in models/ or pass --model to mute, solo or gain "
                "stems"
            )
        valid = tuple(info_a.stems) if info_a is not None else DEFAULT_STEMS
        check_stems(mute, valid, "--mute")
        check_stems(solo, valid, "--solo")
        check_stems(list(gains), valid, "--gain")
        pans = merged(getattr(args, "pan", None))
        if pans and info_a is None:
            raise UsageError("no separation model: put one in models/ or pass --model to pan "
                             "stems")
        check_stems(list(pans), valid, "--pan")
        tempo = getattr(args, "tempo", 1.0)
        pitch = getattr(args, "pitch", 0.0)
        try:
            engine.set_tempo(tempo)
            engine.set_pitch(pitch)
        except ValueError as err:
            raise UsageError(str(err)) from None
        for stem, value in pans.items():
            engine.set_pan(stem, value)
        engine.open(args.file)
        engine.select("A" if info_a is not None else "mix")
        for stem in mute:
            engine.set_mute(stem, True)
        for stem in solo:
            engine.set_solo(stem, True)
        for stem, db in gains.items():
            engine.set_gain_db(stem, db)
        start = float(start)
        if start >= engine.status().duration_s:
            raise UsageError(f"--start {start:g} s is beyond the end of the song")
        if start:
            engine.seek(start)
        end = start + float(duration) if duration is not None else math.inf
        if device_error is not None:
            raise device_error
        if info_a is not None:
            _preroll(engine, min(PREROLL_S, end - start))
        engine.play()
        while True:
            time.sleep(POLL_S)
            st = engine.status()
            if st.finished or st.position_s >= end:
                break
            if not st.playing and st.error:  # the device failed while playing
                return _fail(st.error)
        latency = engine._output.latency_s if engine._output is not None else 0.0
        time.sleep(min(latency, 0.5))  # let the device play out what it holds
        if st.error:
            print(f"stemplay: warning: {st.error}", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        return 130
    except UsageError as err:
        return _fail(err, 2)
    except StemplayError as err:
        return _fail(err)
    finally:
        if engine is not None:
            try:
                engine.close()
            except KeyboardInterrupt:
                pass


def devices_command(args: argparse.Namespace | None = None) -> int:
    """Print the output devices as a table; 1 when PortAudio is unusable."""
    from engine.output import format_devices, list_devices

    try:
        print(format_devices(list_devices()))
    except StemplayError as err:
        return _fail(err)
    return 0


def bench_command(args: argparse.Namespace) -> int:
    """Print (or ``--json``) the speed and latency figures of ``engine/bench.py``."""
    from engine.bench import run_bench

    try:
        return run_bench(
            getattr(args, "file", None),
            getattr(args, "model", None),
            bool(getattr(args, "json", False)),
            getattr(args, "model_b", None),
            getattr(args, "provider", None),
        )
    except KeyboardInterrupt:
        return 130
    except StemplayError as err:
        return _fail(err)


if __name__ == "__main__":  # ``python -m engine.playback_cli play FILE``: the whole command line
    from engine.cli import main

    sys.exit(main())
