"""Audio output: the sounddevice stream, device listing, and a paced device-less output.

Runs on the GUI / main thread (listing devices, stopping, closing) and on the helper thread of
:class:`OutputOpener` ("stemplay-output"), which initialises PortAudio, opens and starts the
stream, so the GUI never waits for the device (that takes 0.5–1.3 s on a busy machine). The
stream's callback runs on PortAudio's thread. ``DeviceError`` (one line) is raised when
PortAudio is missing, when there is no output device, or when the chosen one cannot be opened.

``device="null"`` gives :class:`NullOutput`: a thread that pulls the callback at real-time pace
(or as fast as possible with ``pace=0``) without any sound card. The bench and the tests use it;
what it "plays" can be captured.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.config import CHANNELS, SAMPLE_RATE
from engine.errors import DeviceError

log = logging.getLogger(__name__)

#: Nice value asked for the audio callback's thread (ordinary threads run at 0).
AUDIO_NICE = -10

NULL_DEVICE = "null"

Callback = Callable[[np.ndarray, int, Any, Any], None]


def _sd() -> Any:
    """The sounddevice module, or DeviceError when PortAudio cannot be loaded."""
    try:
        import sounddevice
    except OSError as err:  # libportaudio2 missing
        raise DeviceError(f"PortAudio is not available ({err}); install libportaudio2") from None
    return sounddevice


def reinitialize() -> None:
    """Make PortAudio re-read the host's audio configuration (ALSA config, JACK server)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


@dataclass(frozen=True)
class DeviceInfo:
    """One output device as PortAudio sees it."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_samplerate: float
    is_default: bool


def list_devices() -> list[DeviceInfo]:
    """Every device with output channels; DeviceError when PortAudio is missing."""
    sd = _sd()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_out = sd.default.device[1]
    except sd.PortAudioError as err:
        raise DeviceError(f"cannot list audio devices: {err}") from None
    out = []
    for d in devices:
        if d["max_output_channels"] <= 0:
            continue
        out.append(
            DeviceInfo(
                index=int(d["index"]),
                name=str(d["name"]),
                hostapi=str(apis[d["hostapi"]]["name"]),
                channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                is_default=int(d["index"]) == default_out,
            )
        )
    return out


def format_devices(devices: list[DeviceInfo]) -> str:
    """The ``stemplay devices`` table."""
    if not devices:
        return "no audio output device found"
    rows = [("", "id", "name", "api", "ch", "rate")]
    for d in devices:
        rows.append(
            (
                "*" if d.is_default else "",
                str(d.index),
                d.name,
                d.hostapi,
                str(d.channels),
                f"{d.default_samplerate:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n(* = default)"


class Output(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...
    @property
    def latency_s(self) -> float: ...


def resolve_device(device: int | str | None) -> int | None:
    """PortAudio index of ``device`` (index, exact or partial name, None = default)."""
    devices = list_devices()
    if not devices:
        raise DeviceError(
            "no audio output device found (no sound card, or PortAudio sees no ALSA/JACK device)"
        )
    if device is None or device == "":
        return None
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        idx = int(device)
        if any(d.index == idx for d in devices):
            return idx
        raise DeviceError(f"no output device with id {idx}; see `stemplay devices`")
    matches = [d for d in devices if d.name == device] or [
        d for d in devices if device.lower() in d.name.lower()
    ]
    if not matches:
        raise DeviceError(f"no output device named {device!r}; see `stemplay devices`")
    return matches[0].index


def raise_audio_thread_priority() -> str:
    """Ask the OS to run the calling thread (the audio callback's) ahead of ordinary work:
    nice −10 where the user may have it (root, CAP_SYS_NICE or an ``audio`` group's nice limit),
    else nothing. Returns what was granted, in words.

    Not real-time (SCHED_FIFO): a Python callback at FIFO priority outranks the sound server's
    own real-time threads (JACK, PipeWire); under a busy-loop process the test suite's dummy JACK
    device stalled that way and a player stopped answering Ctrl-C (session 3).
    """
    if os.environ.get("STEMPLAY_NO_RT") or not hasattr(os, "setpriority"):
        return "normal"
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), AUDIO_NICE)
        return f"nice {AUDIO_NICE}"
    except (PermissionError, OSError):
        return "normal"


class _PriorityOnFirstCall:
    """Wraps the callback: the first call (on PortAudio's thread) raises that thread's priority."""

    def __init__(self, callback: Callback) -> None:
        self.callback = callback
        self.granted: str | None = None

    def __call__(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        if self.granted is None:
            self.granted = raise_audio_thread_priority()
            log.info("audio thread priority: %s", self.granted)
        self.callback(outdata, frames, time_info, status)


class SoundDeviceOutput:
    """A float32 stereo 44.1 kHz PortAudio output stream."""

    def __init__(
        self, device: int | str | None, blocksize: int, latency: str | float, callback: Callback
    ) -> None:
        sd = _sd()
        index = resolve_device(device)
        try:
            self.stream = sd.OutputStream(
                samplerate=SAMPLE_RATE,
                blocksize=blocksize,
                device=index,
                channels=CHANNELS,
                dtype="float32",
                latency=latency,
                callback=_PriorityOnFirstCall(callback),
            )
        except (sd.PortAudioError, ValueError) as err:
            name = "default device" if device is None else f"device {device!r}"
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DeviceError(f"cannot open the {name} for output: {msg}") from None

    def start(self) -> None:
        if not self.stream.active:
            self.stream.start()

    def stop(self) -> None:
        if self.stream.active:
            self.stream.stop()

    def close(self) -> None:
        self.stream.close()

    @property
    def latency_s(self) -> float:
        return float(self.stream.latency)


class NullOutput:
    """A device-less output: a thread calls ``callback`` every ``blocksize`` samples.

    ``pace`` 1.0 runs at real time (sleeping between blocks), 0 as fast as possible.
    ``capture``, when a list, receives a copy of every block (tests); ``blocks`` counts them.
    """

    def __init__(
        self, blocksize: int, callback: Callback, pace: float = 1.0, capture: list | None = None
    ) -> None:
        self.blocksize = blocksize
        self.callback = callback
        self.pace = pace
        self.capture = capture
        self.blocks = 0  # written by the output thread, read by anyone
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stemplay-null-out", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        out = np.zeros((self.blocksize, CHANNELS), dtype=np.float32)
        period = self.blocksize / SAMPLE_RATE * self.pace
        t_next = time.perf_counter()
        while not self._stop.is_set():
            self.callback(out, self.blocksize, None, None)
            self.blocks += 1
            if self.capture is not None:
                self.capture.append(out.copy())
            if period > 0:
                t_next += period
                delay = t_next - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -0.5:  # far behind (machine busy): do not try to catch up
                    t_next = time.perf_counter()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def close(self) -> None:
        self.stop()

    @property
    def latency_s(self) -> float:
        return self.blocksize / SAMPLE_RATE


class OutputOpener:
    """An :class:`Output` opened and started on a helper thread ("stemplay-output").

    ``factory`` (e.g. ``lambda: open_output(...)``) runs on that thread as soon as the opener
    is made; :meth:`request_start` never waits: the stream starts once it is open. A failure
    is kept as :attr:`error` (a :class:`DeviceError`, one line). :meth:`wait` blocks until the
    output is open (CLI, tests) and raises that error.
    """

    def __init__(self, factory: Callable[[], Output]) -> None:
        self._factory = factory
        # Written by the helper thread before ``_opened`` is set; read by anyone after it.
        self.output: Output | None = None
        self.error: DeviceError | None = None
        # Written by the helper thread, read by anyone: the stream has been started.
        self.started = False
        # Commands for the helper thread ("start", "close"), put by the GUI thread.
        self._commands: queue.Queue[str] = queue.Queue()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stemplay-output", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        """Opening has finished (successfully or not)."""
        return self._opened.is_set()

    @property
    def failed(self) -> bool:
        return self._opened.is_set() and self.error is not None

    def _run(self) -> None:
        try:
            self.output = self._factory()
        except DeviceError as err:
            self.error = err
        except Exception as err:  # PortAudio misbehaving is a device problem for the user
            log.exception("opening the audio output failed")
            self.error = DeviceError(f"cannot open the audio output: {err}".splitlines()[0])
        finally:
            self._opened.set()
        while True:
            cmd = self._commands.get()
            if cmd == "close":
                if self.output is not None:
                    self.output.stop()
                    self.output.close()
                return
            if self.output is None or self.error is not None:
                continue
            try:
                if cmd == "start":
                    self.output.start()
                    self.started = True
                elif cmd == "stop":
                    self.output.stop()
                    self.started = False
            except Exception as err:  # noqa: BLE001 - reported through ``error``
                msg = str(err).splitlines()[0] if str(err) else type(err).__name__
                self.error = DeviceError(f"cannot {cmd} the audio output: {msg}")

    def request_start(self) -> None:
        """Start the stream as soon as it is open (returns at once)."""
        self._commands.put("start")

    def wait(self, timeout: float = 10.0) -> Output:
        """Block until the output is open; DeviceError when it cannot be (or takes too long)."""
        if not self._opened.wait(timeout):
            raise DeviceError(f"the audio output did not open within {timeout:g} s")
        if self.error is not None:
            raise self.error
        assert self.output is not None
        return self.output

    def start(self) -> None:
        self.request_start()

    def stop(self) -> None:
        """Stop the stream (on the helper thread; returns at once)."""
        self._commands.put("stop")

    def close(self, timeout: float = 5.0) -> None:
        """Stop and close the output on the helper thread, waiting at most ``timeout`` for it
        (0: return at once; an opening in progress is closed as soon as it is open)."""
        self._commands.put("close")
        self._thread.join(timeout)

    @property
    def latency_s(self) -> float:
        return self.output.latency_s if self.output is not None else 0.0


def open_output(
    device: int | str | None, blocksize: int, latency: str | float, callback: Callback
) -> Output:
    """The output for ``device`` (``"null"``: no sound card); DeviceError when impossible."""
    if device == NULL_DEVICE:
        return NullOutput(blocksize, callback)
    return SoundDeviceOutput(device, blocksize, latency, callback)
