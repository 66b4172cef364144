"""Augmentations of training excerpts, as plain functions on numpy stems plus their settings.

Owns ``AugmentConfig`` (frozen) and the functions the datasets chain: per-stem gain, channel
swap, polarity flip, cheap tape-style speed change (pitch and tempo together, by resampling),
and the "is this stem audible" test used for silence-aware sampling; and the voice
augmentations that make more of each real take (mono ``(samples,)`` in, same length out):
formant-preserving pitch shift and time stretch (Rubber Band through ``pedalboard``), level
riding, and a double of the same take (detuned, late, with a drifting delay). Every function takes and
returns ``(channels=2, samples)`` or ``(stems, channels=2, samples)`` float32 arrays and a
``numpy.random.Generator``; nothing here knows about files or torch, so ``training/data/mix.py``
can reuse them. Runs in DataLoader worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard as pb
import soxr

from engine.config import SAMPLE_RATE
from engine.levels import rms_db  # the one RMS meter (also imported from here)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the augmentations (all off: ``AugmentConfig.none()``)."""

    remix_prob: float = 0.5  # each stem of an item comes from an independently drawn track
    gain_db: tuple[float, float] = (-6.0, 6.0)  # per-stem gain drawn uniformly in dB
    channel_swap_prob: float = 0.5  # per stem
    polarity_flip_prob: float = 0.5  # per stem
    speed_prob: float = 0.0  # whole item: tape-style speed change (pitch and tempo together)
    speed_range: tuple[float, float] = (0.94, 1.06)
    silent_stem_db: float = -50.0  # a stem below this RMS (dBFS) counts as silent
    vocal_redraws: int = 4  # redraw a silent vocal window up to this many times...
    silent_vocals_keep_prob: float = 0.1  # ...unless this coin says keep a silent one

    @staticmethod
    def none() -> AugmentConfig:
        return AugmentConfig(
            remix_prob=0.0,
            gain_db=(0.0, 0.0),
            channel_swap_prob=0.0,
            polarity_flip_prob=0.0,
            speed_prob=0.0,
            vocal_redraws=0,
        )


def is_silent(x: np.ndarray, threshold_db: float) -> bool:
    return rms_db(x) < threshold_db


def random_gain(
    x: np.ndarray, rng: np.random.Generator, gain_db: tuple[float, float]
) -> np.ndarray:
    lo, hi = gain_db
    if lo == hi == 0.0:
        return x
    return (x * np.float32(10 ** (rng.uniform(lo, hi) / 20))).astype(np.float32)


def channel_swap(x: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """Swap left and right of ``(2, samples)`` (or of every stem of ``(stems, 2, samples)``)
    with probability ``prob``."""
    return np.ascontiguousarray(x[..., ::-1, :]) if rng.random() < prob else x


def polarity_flip(x: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    return -x if rng.random() < prob else x


def change_speed(stems: np.ndarray, factor: float, samples: int) -> np.ndarray:
    """Play ``(stems, channels, n)`` ``factor`` times faster (pitch up by 12*log2(factor)
    semitones) and cut/pad to ``samples``. Needs n >= samples * factor for a full output."""
    if abs(factor - 1.0) < 1e-6:
        return stems[..., :samples]
    s, c, n = stems.shape
    flat = stems.reshape(s * c, n).T  # (n, rows) for soxr
    out = soxr.resample(flat, factor * 44100, 44100, quality="LQ").T.reshape(s, c, -1)
    res = np.zeros((s, c, samples), np.float32)
    m = min(samples, out.shape[-1])
    res[..., :m] = out[..., :m]
    return res


def augment_stem(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Gain, channel swap and polarity flip of one ``(2, samples)`` stem."""
    x = random_gain(x, rng, cfg.gain_db)
    x = channel_swap(x, rng, cfg.channel_swap_prob)
    return polarity_flip(x, rng, cfg.polarity_flip_prob).astype(np.float32)


# --------------------------------------------------------------------------- voices


def shift_voice(
    voice: np.ndarray, semitones: float = 0.0, stretch: float = 1.0, samples: int | None = None
) -> np.ndarray:
    """``voice (n,)`` pitch-shifted by ``semitones`` with its formants kept (so +3 semitones
    sounds like the same singer higher, not a smaller one) and played ``stretch`` times faster
    without changing pitch; cut or zero-padded to ``samples`` (default ``n``). Rubber Band
    (``pedalboard.time_stretch``), its faster mode: ~0.1 s of CPU per second of audio."""
    samples = len(voice) if samples is None else samples
    x = np.ascontiguousarray(voice, dtype=np.float32)[None, :]
    if abs(semitones) > 1e-3 or abs(stretch - 1.0) > 1e-4:
        x = pb.time_stretch(
            x, SAMPLE_RATE, stretch_factor=float(stretch),
            pitch_shift_in_semitones=float(semitones), high_quality=False,
            preserve_formants=True,
        )
    out = np.zeros(samples, dtype=np.float32)
    m = min(samples, x.shape[-1])
    out[:m] = x[0, :m]
    return out


def smooth_curve(
    rng: np.random.Generator, samples: int, depth: float, seconds: tuple[float, float]
) -> np.ndarray:
    """``(samples,)`` random curve in ``[-depth/2, depth/2]``: values drawn every
    ``seconds`` (a drawn segment length) joined by raised-cosine ramps, so it never steps."""
    seg = max(1, int(rng.uniform(*seconds) * SAMPLE_RATE))
    points = int(np.ceil(samples / seg)) + 2
    values = rng.uniform(-depth / 2, depth / 2, points)
    pos = np.arange(samples) / seg + rng.random()  # random phase of the segment grid
    i = np.floor(pos).astype(int)
    frac = 0.5 - 0.5 * np.cos(np.pi * (pos - i))
    return (values[i] * (1 - frac) + values[i + 1] * frac).astype(np.float32)


def ride_level(
    voice: np.ndarray,
    rng: np.random.Generator,
    depth_db: float = 8.0,
    seconds: tuple[float, float] = (0.8, 3.0),
) -> np.ndarray:
    """Level riding: ``voice (n,)`` times a slow gain curve spanning ``depth_db`` (a singer
    leaning in and backing off, an engineer riding the fader); same length, finite."""
    gain_db = smooth_curve(rng, len(voice), depth_db, seconds)
    return (voice * np.power(10.0, gain_db / 20.0, dtype=np.float32)).astype(np.float32)


def double_take(voice: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A double tracked from the same take: detuned by up to ±15 cents, 10-35 ms late, with
    the delay drifting by a few ms (two takes never line up); ``(n,)`` in and out."""
    n = len(voice)
    ratio = 2 ** (rng.uniform(-15, 15) / 1200)
    x = soxr.resample(voice, SAMPLE_RATE * ratio, SAMPLE_RATE, quality="LQ").astype(np.float32)
    delay = rng.uniform(0.010, 0.035) * SAMPLE_RATE
    drift = smooth_curve(rng, n, rng.uniform(0.002, 0.008) * SAMPLE_RATE, (0.5, 1.5))
    t = np.arange(n, dtype=np.float64) - delay - drift
    return np.interp(t, np.arange(len(x)), x, left=0.0, right=0.0).astype(np.float32)
