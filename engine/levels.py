"""Level maths, written once: decibels ↔ gain, RMS level, the pan law.

Plain functions on floats and numpy arrays; any thread (the audio callback reaches
:func:`db_to_gain` through ``MixSettings`` and calls :func:`pan_matrix`: neither allocates an
array). Used by the mixer, the export and ``training/`` (training may import the engine, never
the reverse); it imports only ``math`` and numpy.

Gain: ``-inf`` dB (and NaN) is silence; nothing louder than ``MAX_GAIN_DB`` (+24 dB) reaches
the output, so ``+inf`` or ``1000`` never turn into a non-finite sample.

RMS level: ``10·log10(mean square + RMS_FLOOR)`` dBFS of the whole array, so digital silence
reads -200 dB instead of ``-inf``.

Pan law (the one stemplay uses, in the player, the export and the training data): equal-power
sine/cosine, normalised to 0 dB at centre. A position ``p`` from -1 (left) to +1 (right) gives
θ = (p + 1)·π/4 and the channel gains ``(√2·cos θ, √2·sin θ)`` (:func:`pan_gains`): 1 and 1 at
centre (the sound is unchanged), √2 (+3 dB) and 0 at a side, and L² + R² = 2 everywhere, the
power of a centred sound. On top of the law the player narrows a stereo stem towards mono as it
moves to a side (:func:`pan_matrix`, positions -100..100), so that hard left puts all of the
stem, its right channel too, in the left ear.
"""

from __future__ import annotations

import math

import numpy as np

#: Loudest gain a fader, the master or an exported mix may ask for (dB); more is taken as this.
MAX_GAIN_DB = 24.0
#: Pan range of the player and the export: -PAN_MAX = hard left, +PAN_MAX = hard right.
PAN_MAX = 100.0
#: Added to the mean square before the logarithm: silence reads -200 dBFS, never ``-inf``.
RMS_FLOOR = 1e-20


def db_to_gain(db: float) -> float:
    """Amplitude gain of ``db`` decibels; ``-inf`` (and NaN) give 0; at most ``MAX_GAIN_DB``
    (so ``+inf`` or ``1000`` never reach the output as a non-finite sample)."""
    if math.isnan(db) or db == -math.inf:
        return 0.0
    return 10.0 ** (min(db, MAX_GAIN_DB) / 20.0)


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS of any array (all samples, every channel); silence gives -200."""
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + RMS_FLOOR))


def pan_gains(position: float) -> tuple[float, float]:
    """``(left gain, right gain)`` of a mono sound at ``position`` (-1 left … +1 right, clipped;
    NaN = centre): the equal-power law with 0 dB at centre (module docstring)."""
    p = 0.0 if math.isnan(position) else min(1.0, max(-1.0, float(position)))
    theta = (p + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(theta), math.sqrt(2.0) * math.sin(theta)


def pan_matrix(pan: float) -> tuple[float, float, float, float]:
    """``(ll, lr, rl, rr)``: ``out_L = ll·L + lr·R``, ``out_R = rl·L + rr·R`` for a stereo stem
    at ``pan`` (-100 … +100).

    :func:`pan_gains` of ``pan / 100``, normalised so that centre (0) is the identity: the stem
    is unchanged. Towards a side the stem also narrows to mono (width ``1 − |pan|/100``), so
    hard left puts *all* of it, its right channel too, in the left ear at +3 dB there (the same
    power as at centre for a centred sound) and nothing in the right.
    """
    p = min(PAN_MAX, max(-PAN_MAX, float(pan))) / PAN_MAX
    if p == 0.0 or math.isnan(p):
        return (1.0, 0.0, 0.0, 1.0)
    gl, gr = pan_gains(p)
    w = 1.0 - abs(p)
    a, b = (1.0 + w) / 2.0, (1.0 - w) / 2.0
    return (gl * a, gl * b, gr * b, gr * a)


def apply_pan(audio: np.ndarray, pan: float) -> np.ndarray:
    """(2, samples) panned by ``pan`` (a new array; pan 0 returns ``audio`` itself)."""
    ll, lr, rl, rr = pan_matrix(pan)
    if (ll, lr, rl, rr) == (1.0, 0.0, 0.0, 1.0):
        return audio
    out = np.empty_like(audio)
    out[0] = ll * audio[0] + lr * audio[1]
    out[1] = rl * audio[0] + rr * audio[1]
    return out
