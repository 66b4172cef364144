"""Production of a generated song: per-track effects, panning, level automation, stem sums,
song loudness, clip protection and exact quantisation.

Owns: pedalboard effect chains per track kind (EQ, compression, reverb, delay, chorus,
distortion), constant-power panning, slow level automation, a BS.1770-style loudness meter
(K-weighting, 400 ms blocks, absolute and relative gating), and ``quantise`` which puts the stems
on the PCM grid and makes the mixture their exact integer sum. No master limiter: the mixture
stays the sum of the stems. Runs in a generator worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
from pedalboard import (
    Chorus,
    Compressor,
    Delay,
    Distortion,
    HighpassFilter,
    HighShelfFilter,
    LowpassFilter,
    LowShelfFilter,
    PeakFilter,
    Pedalboard,
    Reverb,
)

from engine.config import SAMPLE_RATE
from engine.levels import pan_gains

PEAK_CEILING = 0.95  # no stem and no mixture sample exceeds this (full scale 1.0)


def pan(x: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of mono ``(samples,)`` or stereo ``(2, samples)`` audio; ``position``
    in [-1 (left), 1 (right)] -> ``(2, samples)``."""
    gains = np.array(pan_gains(position), np.float32)  # engine.levels: 0 dB at centre
    if x.ndim == 1:
        return (gains[:, None] * x[None, :]).astype(np.float32)
    return (gains[:, None] * x).astype(np.float32)


def automation(n: int, rng: np.random.Generator, depth_db: float) -> np.ndarray:
    """A slow random gain curve ``(samples,)``: a few sinusoids of 0.02-0.2 Hz, ±depth_db."""
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    db = np.zeros(n)
    for _ in range(3):
        db += np.sin(2 * np.pi * rng.uniform(0.02, 0.2) * t + rng.uniform(0, 2 * np.pi))
    return (10 ** (depth_db * db / 3 / 20)).astype(np.float32)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


Range = tuple[float, float]


@dataclass(frozen=True)
class VocalFx:
    """The one vocal effect chain's settings (generated songs and produced real voices alike).

    Ranges ``(low, high)`` are drawn uniformly, in the order the fields are listed; a stage set
    to None is left out; a probability of None means "always" (no coin is drawn for it).
    """

    highpass_hz: Range = (70.0, 180.0)
    low_shelf_db: Range | None = (-4.0, 2.0)  # at 250 Hz
    presence_hz: Range = (1500.0, 5000.0)
    presence_db: Range = (-2.0, 5.0)
    presence_q: Range | float = (0.6, 1.5)  # a number: fixed
    air_hz: Range | None = (7000.0, 11000.0)  # high shelf
    air_db: Range = (-3.0, 4.0)
    compress_prob: float | None = 0.8
    threshold_db: Range = (-32.0, -14.0)
    ratio: Range = (2.0, 6.0)
    attack_ms: Range = (2.0, 15.0)
    release_ms: Range = (40.0, 200.0)
    delay_prob: float | None = 0.25
    delay_s: Range = (0.08, 0.45)
    feedback: Range = (0.05, 0.4)
    delay_mix: Range = (0.05, 0.2)
    reverb_prob: float | None = 0.85
    room: Range = (0.15, 0.85)
    damping: Range = (0.2, 0.8)
    wet: Range = (0.03, 0.25)
    width: Range = (0.6, 1.0)


#: The generated songs' vocal settings (``chain("vocal")``): no shelves, always compressed and
#: reverberated.
SYNTH_VOCAL_FX = VocalFx(
    highpass_hz=(70.0, 140.0), low_shelf_db=None, presence_hz=(2000.0, 5000.0),
    presence_q=1.0, air_hz=None, compress_prob=None, threshold_db=(-26.0, -16.0),
    ratio=(2.5, 6.0), attack_ms=(2.0, 10.0), release_ms=(60.0, 200.0), delay_prob=0.4,
    delay_s=(0.12, 0.45), feedback=(0.1, 0.4), reverb_prob=None, room=(0.2, 0.8),
    damping=(0.3, 0.7), wet=(0.05, 0.3), width=(0.5, 1.0),
)


def _coin(rng: np.random.Generator, prob: float | None) -> bool:
    return prob is None or bool(rng.random() < prob)


def vocal_eq(rng: np.random.Generator, fx: VocalFx) -> list:
    """The tone half of the vocal chain: high-pass, low shelf, presence, air, compressor."""
    out: list = [HighpassFilter(_u(rng, *fx.highpass_hz))]
    if fx.low_shelf_db is not None:
        out.append(LowShelfFilter(250.0, _u(rng, *fx.low_shelf_db)))
    freq, gain = _u(rng, *fx.presence_hz), _u(rng, *fx.presence_db)
    q = fx.presence_q if isinstance(fx.presence_q, float) else _u(rng, *fx.presence_q)
    out.append(PeakFilter(freq, gain, q))
    if fx.air_hz is not None:
        out.append(HighShelfFilter(_u(rng, *fx.air_hz), _u(rng, *fx.air_db)))
    if _coin(rng, fx.compress_prob):
        out.append(Compressor(_u(rng, *fx.threshold_db), _u(rng, *fx.ratio),
                              _u(rng, *fx.attack_ms), _u(rng, *fx.release_ms)))
    return out


def vocal_space(rng: np.random.Generator, fx: VocalFx) -> list:
    """The space half of the vocal chain (after panning): echo delay, then reverb."""
    out: list = []
    if _coin(rng, fx.delay_prob):
        out.append(Delay(_u(rng, *fx.delay_s), _u(rng, *fx.feedback), _u(rng, *fx.delay_mix)))
    if _coin(rng, fx.reverb_prob):
        out.append(Reverb(_u(rng, *fx.room), _u(rng, *fx.damping), _u(rng, *fx.wet), 1.0,
                          _u(rng, *fx.width)))
    return out


def chain(kind: str, rng: np.random.Generator) -> tuple[Pedalboard, list[str]]:
    """The effect chain of one track and a short description of it (for the manifest)."""
    fx: list = []
    if kind == "vocal":
        fx += vocal_eq(rng, SYNTH_VOCAL_FX) + vocal_space(rng, SYNTH_VOCAL_FX)
    elif kind == "bass":
        fx += [
            HighpassFilter(_u(rng, 25, 45)),
            LowShelfFilter(_u(rng, 80, 150), _u(rng, -3, 4)),
            Compressor(_u(rng, -24, -12), _u(rng, 3, 8), _u(rng, 5, 20), _u(rng, 80, 250)),
        ]
        if rng.random() < 0.2:
            fx.append(Distortion(_u(rng, 4, 14)))
            fx.append(LowpassFilter(_u(rng, 2500, 6000)))
    elif kind == "drums":
        fx += [
            Compressor(_u(rng, -20, -10), _u(rng, 2, 5), _u(rng, 5, 25), _u(rng, 60, 200)),
            LowShelfFilter(_u(rng, 60, 120), _u(rng, -2, 4)),
            HighShelfFilter(_u(rng, 6000, 10000), _u(rng, -3, 3)),
        ]
        if rng.random() < 0.7:
            fx.append(Reverb(_u(rng, 0.1, 0.4), 0.6, _u(rng, 0.03, 0.15), 1.0, 1.0))
    elif kind == "drive":
        fx += [
            HighpassFilter(_u(rng, 80, 140)),
            Distortion(_u(rng, 15, 32)),
            LowpassFilter(_u(rng, 3500, 6500)),
            PeakFilter(_u(rng, 600, 1500), -3, 1.0),
            Reverb(_u(rng, 0.2, 0.6), 0.5, _u(rng, 0.05, 0.2), 1.0, 1.0),
        ]
    else:  # other melodic/harmonic parts
        fx += [
            HighpassFilter(_u(rng, 60, 220)),
            PeakFilter(_u(rng, 300, 4000), _u(rng, -4, 4), _u(rng, 0.5, 2.0)),
        ]
        if rng.random() < 0.3:
            fx.append(Chorus(_u(rng, 0.3, 1.5), _u(rng, 0.1, 0.4), 7.0, 0.0, _u(rng, 0.2, 0.5)))
        if rng.random() < 0.15:
            fx.append(Distortion(_u(rng, 3, 10)))
        if rng.random() < 0.3:
            fx.append(Delay(_u(rng, 0.15, 0.5), _u(rng, 0.2, 0.5), _u(rng, 0.05, 0.25)))
        fx.append(Reverb(_u(rng, 0.3, 0.9), 0.5, _u(rng, 0.05, 0.35), 1.0, 1.0))
    return Pedalboard(fx), [type(p).__name__ for p in fx]


def process(x: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Apply the track's chain to stereo ``(2, samples)`` audio, same length out."""
    board, names = chain(kind, rng)
    y = board(x.astype(np.float32), SAMPLE_RATE)
    return y[:, : x.shape[1]].astype(np.float32), names


def set_level(x: np.ndarray, target_db: float) -> np.ndarray:
    """Scale so that the RMS over the *active* part (above -50 dB of the peak) is target_db."""
    env = np.abs(x).max(axis=0)
    active = env > 10 ** (-50 / 20) * (env.max() + 1e-12)
    if not active.any():
        return x
    level = 10 * np.log10(np.mean(np.square(x[:, active], dtype=np.float64)) + 1e-12)
    return (x * 10 ** ((target_db - level) / 20)).astype(np.float32)


def _k_weight(x: np.ndarray) -> np.ndarray:
    # BS.1770 K-weighting: a +4 dB high shelf near 1.68 kHz then a 38 Hz high-pass (RLB)
    fs = SAMPLE_RATE
    f0, g, q = 1681.97, 3.99984, 0.7071752
    k = np.tan(np.pi * f0 / fs)
    vh, vb = 10 ** (g / 20), 10 ** (g / 20) ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    b1 = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    a1 = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    f1, q1 = 38.13547, 0.5003270
    k = np.tan(np.pi * f1 / fs)
    a2 = [1.0, 2 * (k * k - 1) / (1 + k / q1 + k * k), (1 - k / q1 + k * k) / (1 + k / q1 + k * k)]
    b2 = [1.0, -2.0, 1.0]
    return scipy.signal.lfilter(b2, a2, scipy.signal.lfilter(b1, a1, x, axis=-1), axis=-1)


def loudness(x: np.ndarray) -> float:
    """Integrated loudness in LUFS of ``(channels, samples)`` audio (-70 for silence)."""
    y = _k_weight(x.astype(np.float64))
    block, hop = int(0.4 * SAMPLE_RATE), int(0.1 * SAMPLE_RATE)
    if y.shape[1] < block:
        return -70.0
    starts = range(0, y.shape[1] - block + 1, hop)
    ms = np.array([np.mean(y[:, s : s + block] ** 2, axis=1).sum() for s in starts])
    lk = -0.691 + 10 * np.log10(ms + 1e-12)
    gated = ms[lk > -70]
    if len(gated) == 0:
        return -70.0
    rel = -0.691 + 10 * np.log10(gated.mean()) - 10
    gated = ms[(lk > -70) & (lk > rel)]
    return float(-0.691 + 10 * np.log10(gated.mean() + 1e-12))


def fit_song(
    stems: dict[str, np.ndarray], target_lufs: float
) -> tuple[dict[str, np.ndarray], float]:
    """Scale all stems by one gain so the mixture reaches ``target_lufs`` without any stem or
    the mixture exceeding ``PEAK_CEILING``; returns the scaled stems and the gain in dB."""
    mix = sum(stems.values())
    gain_db = target_lufs - loudness(mix)
    peak = max(float(np.abs(mix).max()), *(float(np.abs(s).max()) for s in stems.values()))
    gain_db = min(gain_db, 20 * np.log10(PEAK_CEILING / max(peak, 1e-9)))
    g = np.float32(10 ** (gain_db / 20))
    return {k: v * g for k, v in stems.items()}, float(gain_db)


def quantise(stems: dict[str, np.ndarray], bits: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stems on the ``bits`` PCM grid as integers and the mixture as their exact integer sum.

    Returns int16 arrays for 16 bits and left-aligned int32 arrays for 24 bits (what
    soundfile writes verbatim as PCM_16 / PCM_24), each ``(samples, channels)``."""
    scale = float(2 ** (bits - 1))
    ints = {k: np.round(v.T.astype(np.float64) * scale).astype(np.int64) for k, v in stems.items()}
    mix = sum(ints.values())
    top = int(scale) - 1
    assert max(int(np.abs(mix).max()), *(int(np.abs(v).max()) for v in ints.values())) <= top, (
        "stems or mixture exceed full scale: fit_song must run first"
    )
    if bits == 16:
        return {k: v.astype(np.int16) for k, v in ints.items()}, mix.astype(np.int16)
    if bits == 24:
        return (
            {k: (v << 8).astype(np.int32) for k, v in ints.items()},
            (mix << 8).astype(np.int32),
        )
    raise ValueError(f"unsupported bit depth {bits}")
