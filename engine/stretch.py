"""Tempo and pitch: Rubber Band (``pylibrb``) time-stretching and pitch-shifting after the mix.

Owns the limits (:data:`TEMPO_MIN` .. :data:`TEMPO_MAX` speed, ±:data:`PITCH_MAX` semitones),
their validation (:func:`check_tempo`, :func:`check_pitch`: a ``ValueError`` with a one-line
reason), and two wrappers of one Rubber Band R3 real-time stretcher (``ENGINE_FINER`` with the
short window: the library's own low-latency setting):

- :class:`LiveStretch`: the audio callback's stage (``Mixer`` holds one). Preallocated input
  buffer; ``feed((frames, channels))`` and ``take_into(out (frames, channels))``. Rubber Band is
  real-time safe in this mode (no allocation or lock inside ``process``/``retrieve``, also when
  the ratios change); pylibrb's ``retrieve`` hands back a fresh ``(channels, n)`` array whose
  buffer comes from the C++ heap (not Python's allocator) and is freed in the same block.
- :class:`StreamStretch`: offline (export), ``feed((channels, n)) -> (channels, m)`` and
  ``finish()``; the output of a whole file is exactly ``round(N / tempo)`` samples long and
  starts at sample 0 of the input (the stretcher's start delay is removed).

Tempo is a speed ratio (0.5 = half speed, twice as long); pitch is in semitones, fractional
for cents. Why Rubber Band R3 and not Signalsmith Stretch (``python-stretch``): measured on
this project's 2-core machine in 512-sample blocks, R3 keeps a tone's pitch within 1 cent and
a click's peak at 0.8–0.9 of the original, at 13–28 % of one core; python-stretch ignores
the transposition and detunes by ~100 cents when fed callback-sized blocks (it needs ~8192
sample blocks, i.e. 190 ms more latency) and smears clicks more.

Thread: ``LiveStretch`` is built on the GUI thread and then used only by the audio callback;
``StreamStretch`` by the export thread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.config import CHANNELS, SAMPLE_RATE

#: Slowest and fastest speed (ratio of the song's tempo).
TEMPO_MIN = 0.5
TEMPO_MAX = 1.5
#: Largest transposition either way (semitones).
PITCH_MAX = 6.0
#: Most input samples handed to Rubber Band per ``process`` call.
CHUNK = 1024
#: Largest pitch step applied at once in playback (semitones per output block): a larger jump
#: glides there in steps (Rubber Band's output jumps audibly on a jump of ~3 semitones or more).
PITCH_GLIDE = 1.0


def check_tempo(ratio: float) -> float:
    """``ratio`` as a float when it lies in [TEMPO_MIN, TEMPO_MAX]; else ValueError."""
    value = float(ratio)
    if not (math.isfinite(value) and TEMPO_MIN <= value <= TEMPO_MAX):
        raise ValueError(f"tempo {ratio} is outside {TEMPO_MIN:g}..{TEMPO_MAX:g} "
                         f"({TEMPO_MIN:.0%}..{TEMPO_MAX:.0%} speed)")
    return value


def check_pitch(semitones: float) -> float:
    """``semitones`` as a float when it lies in [-PITCH_MAX, PITCH_MAX]; else ValueError."""
    value = float(semitones)
    if not (math.isfinite(value) and -PITCH_MAX <= value <= PITCH_MAX):
        raise ValueError(f"pitch {semitones} is outside -{PITCH_MAX:g}..+{PITCH_MAX:g} "
                         "semitones")
    return value


def is_neutral(tempo: float, pitch: float) -> bool:
    """Tempo 1 and pitch 0: the stretcher is bypassed (bit-exact)."""
    return tempo == 1.0 and pitch == 0.0


def _options() -> Any:
    import pylibrb

    opt = pylibrb.Option
    return (opt.PROCESS_REALTIME | opt.ENGINE_FINER | opt.WINDOW_SHORT
            | opt.THREADING_NEVER | opt.CHANNELS_TOGETHER | opt.PitchHighConsistency)  # type: ignore[attr-defined]


def _make(channels: int, tempo: float, pitch: float) -> Any:
    import pylibrb

    rb = pylibrb.RubberBandStretcher(SAMPLE_RATE, channels, _options(), 1.0 / tempo,
                                     2.0 ** (pitch / 12.0))
    rb.set_max_process_size(CHUNK)
    return rb


class LiveStretch:
    """The callback's stretcher: (frames, channels) in, (frames, channels) out.

    Built on the GUI thread (construction allocates), then owned by the audio callback.
    """

    def __init__(self, channels: int = CHANNELS) -> None:
        self.channels = channels
        self._rb = _make(channels, 1.0, 0.0)
        self.tempo = 1.0
        self.pitch = 0.0
        # Preallocated channel-major input, viewed as (channels, k) contiguous per call.
        self._flat = np.zeros(channels * CHUNK, dtype=np.float32)
        self._discard = 0  # output samples still to drop after a reset (the start delay)

    def set(self, tempo: float, pitch: float) -> None:
        """Go to these ratios (real-time safe in Rubber Band); called once per output block,
        the pitch moves by at most ``PITCH_GLIDE`` semitones per call."""
        if tempo != self.tempo:
            self._rb.time_ratio = 1.0 / tempo
            self.tempo = tempo
        if pitch != self.pitch:
            step = min(PITCH_GLIDE, max(-PITCH_GLIDE, pitch - self.pitch))
            self.pitch = pitch if abs(pitch - self.pitch) <= PITCH_GLIDE else self.pitch + step
            self._rb.pitch_scale = 2.0 ** (self.pitch / 12.0)

    def jump(self, tempo: float, pitch: float) -> None:
        """Set the ratios at once (before a reset: nothing is playing through it)."""
        self.tempo = tempo
        self.pitch = pitch
        self._rb.time_ratio = 1.0 / tempo
        self._rb.pitch_scale = 2.0 ** (pitch / 12.0)

    def reset(self) -> None:
        """Forget everything; the next output starts with the next input sample."""
        rb = self._rb
        rb.reset()
        pad = int(rb.get_preferred_start_pad())
        flat = self._flat
        flat.fill(0.0)
        while pad > 0:
            k = min(pad, CHUNK)
            rb.process(flat[: self.channels * k].reshape(self.channels, k))
            pad -= k
        self._discard = int(rb.get_start_delay())

    def wanted(self) -> int:
        """Input samples to feed next (1..CHUNK)."""
        k = int(self._rb.get_samples_required())
        return min(CHUNK, max(1, k)) if k > 0 else 256

    def available(self) -> int:
        """Output samples ready (after the start delay is dropped)."""
        return max(0, int(self._rb.available()) - self._discard)

    def feed(self, block: np.ndarray) -> None:
        """Hand ``block`` (k, channels), k <= CHUNK, to the stretcher."""
        k = block.shape[0]
        inp = self._flat[: self.channels * k].reshape(self.channels, k)
        np.copyto(inp, block.T)
        self._rb.process(inp)
        if self._discard:
            drop = min(self._discard, int(self._rb.available()))
            if drop > 0:
                self._rb.retrieve(drop)
                self._discard -= drop

    def take_into(self, out: np.ndarray) -> int:
        """Write up to ``out.shape[0]`` ready samples into ``out`` (n, channels); returns how
        many (the rest of ``out`` is left as it was)."""
        n = min(out.shape[0], self.available())
        if n > 0:
            y = self._rb.retrieve(n)
            np.copyto(out[:n], y.T)
        return n


class StreamStretch:
    """Offline stretching of one stream: ``feed((channels, n))`` → ``(channels, m)``.

    The outputs of a whole stream add up to ``round(total_in / tempo)`` samples after
    :meth:`finish` and begin with the first input sample (no leading delay).
    """

    def __init__(self, tempo: float, pitch: float, channels: int = CHANNELS) -> None:
        self.tempo = check_tempo(tempo)
        self.pitch = check_pitch(pitch)
        self.channels = channels
        self._rb = _make(channels, self.tempo, self.pitch)
        pad = int(self._rb.get_preferred_start_pad())
        if pad:
            self._rb.process(np.zeros((channels, pad), dtype=np.float32))
        self._discard = int(self._rb.get_start_delay())
        self._fed = 0
        self._out = 0

    def _drain(self, parts: list[np.ndarray], limit: int | None = None) -> None:
        rb = self._rb
        while True:
            avail = int(rb.available())
            if avail <= 0:
                return
            y = rb.retrieve(avail)
            if self._discard:
                drop = min(self._discard, y.shape[1])
                y = y[:, drop:]
                self._discard -= drop
            if limit is not None:
                y = y[:, : max(0, limit - self._out)]
            if y.shape[1]:
                parts.append(y)
                self._out += y.shape[1]

    def _join(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def feed(self, block: np.ndarray) -> np.ndarray:
        parts: list[np.ndarray] = []
        block = np.ascontiguousarray(block, dtype=np.float32)
        for i in range(0, block.shape[1], CHUNK):
            self._rb.process(np.ascontiguousarray(block[:, i : i + CHUNK]))
            self._drain(parts)
        self._fed += block.shape[1]
        return self._join(parts)

    def finish(self) -> np.ndarray:
        """The rest: the output then totals exactly ``round(fed / tempo)`` samples."""
        total = round(self._fed / self.tempo)
        parts: list[np.ndarray] = []
        zeros = np.zeros((self.channels, CHUNK), dtype=np.float32)
        guard = 0
        while self._out < total and guard < 10_000:
            self._rb.process(zeros)  # push the tail out with silence
            self._drain(parts, limit=total)
            guard += 1
        return self._join(parts)


def stretch(audio: np.ndarray, tempo: float, pitch: float) -> np.ndarray:
    """(channels, N) → (channels, round(N / tempo)) at ``tempo`` and ``pitch`` (offline)."""
    st = StreamStretch(tempo, pitch, audio.shape[0])
    return np.concatenate([st.feed(audio), st.finish()], axis=1)
