"""Real voices produced into a training mix: window drawing, pitch and tempo variation, effects.

Owns ``VocalProduction`` (the YAML ``vocals`` settings of ``MixConfig``) and ``vocal_stem``:
an isolated real voice drawn where somebody sings (``draw_voice_window``), transposed, stretched
and level-ridden (``training.data.augment``), produced as a lead and/or backing vocal (EQ,
compression, stereo placement, delay, reverb: the one vocal effect chain,
``training.synth.production.VocalFx``) and set at a drawn level against its accompaniment.
Mono voices are ``(samples,)``, produced vocals ``(channels=2, samples)`` float32 at 44.1 kHz.

Runs in the caller's thread (a DataLoader worker). No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pedalboard as pb
import soxr

from engine.config import SAMPLE_RATE
from engine.levels import pan_gains
from training.data.augment import double_take, ride_level, shift_voice
from training.data.banks import ACTIVITY_BLOCK, VocalBank, VocalClip
from training.data.levels import VOCALS_DB, active_rms_db, draw_level
from training.synth.production import VocalFx, vocal_eq, vocal_space

#: Pre-roll (seconds) processed before an excerpt so reverb, delay and compressor are settled.
PRE_ROLL_S = 0.5
#: Target RMS (dBFS over the active part) a voice is normalised to before its effect chain.
VOICE_REF_DB = -20.0
SILENT_DB = -60.0


@dataclass(frozen=True)
class VocalProduction:
    """How isolated voices are produced into a mix. Ranges are ``(low, high)``, drawn uniformly."""

    # lead active RMS minus accompaniment RMS (dB): quantile points, see levels.draw_level
    # (two values: uniform between them); default: -18..+3 dB weighted toward quiet
    lead_level_db: tuple[float, ...] = VOCALS_DB
    backing_prob: float = 0.35  # the vocal stem also has backing vocals
    backing_only_prob: float = 0.08  # ... or only backing vocals (no lead)
    backing_level_db: tuple[float, float] = (-12.0, -4.0)  # backing RMS minus lead RMS
    harmony_prob: float = 0.15  # a backing part is the lead pitch-shifted (else double/other)
    entry_prob: float = 0.3  # the voice may start or stop inside the excerpt
    pitch_prob: float = 0.2  # the voice is transposed (tape-style, by resampling) ...
    pitch_semitones: tuple[float, float] = (-2.5, 2.5)  # ... by this many semitones
    formant_pitch_prob: float = 0.35  # ... or shifted with its formants kept (Rubber Band)
    formant_semitones: tuple[float, float] = (-3.0, 3.0)
    stretch_prob: float = 0.25  # small time stretch (pitch kept; shares the Rubber Band pass)
    stretch_range: tuple[float, float] = (0.92, 1.08)
    ride_prob: float = 0.5  # level riding of the lead: a slow gain curve ...
    ride_db: tuple[float, float] = (3.0, 10.0)  # ... spanning this many dB (drawn)
    speech_prob: float = 0.08  # the voice is real speech instead of singing (when available)
    silent_prob: float = 0.05  # no voice at all in the item (a vocal-free passage)
    compress_prob: float = 0.8
    delay_prob: float = 0.25
    reverb_prob: float = 0.85
    lead_wet: tuple[float, float] = (0.03, 0.25)  # reverb wet level, lead
    backing_wet: tuple[float, float] = (0.1, 0.4)  # reverb wet level, backing


def fit(x: np.ndarray, samples: int, offset: int) -> np.ndarray:
    """``x[..., offset:offset+samples]`` with zeros where the window leaves ``x``."""
    out = np.zeros((*x.shape[:-1], samples), dtype=np.float32)
    lo, hi = max(offset, 0), min(offset + samples, x.shape[-1])
    if hi > lo:
        out[..., lo - offset : hi - offset] = x[..., lo:hi]
    return out


def draw_voice_window(
    clip: VocalClip, rng: np.random.Generator, samples: int, entry_prob: float, tries: int = 8
) -> int:
    """Start sample (may be negative or run past the end) of a window of ``samples`` over the
    clip in which the voice is active at least 30% of the time when the clip allows it; with
    probability ``entry_prob`` the window may hang over the clip's start or end so the voice
    enters or stops inside the excerpt."""
    n = len(clip.audio)
    overhang = int(0.6 * samples) if rng.random() < entry_prob else 0
    lo, hi = -overhang, max(n - samples + overhang, -overhang)
    best, best_frac = lo, -1.0
    for _ in range(tries):
        start = int(rng.integers(lo, hi + 1))
        b0 = max(start, 0) // ACTIVITY_BLOCK
        b1 = max(min(start + samples, n), 0) // ACTIVITY_BLOCK
        frac = float(clip.active[b0:b1].sum()) * ACTIVITY_BLOCK / samples
        if frac > best_frac:
            best, best_frac = start, frac
        if frac >= 0.3:
            break
    return best


def voice_window(
    clip: VocalClip,
    rng: np.random.Generator,
    samples: int,
    pre: int,
    entry_prob: float,
    semitones: float = 0.0,
    formant_semitones: float = 0.0,
    stretch: float = 1.0,
) -> np.ndarray:
    """A dry voice excerpt ``(pre + samples,)`` drawn with ``draw_voice_window``, transposed
    by ``semitones`` through resampling (pitch and tempo move together, as on tape; formants
    shift a little, which at ±2-3 semitones sounds like another singer, not a chipmunk).
    ``formant_semitones`` / ``stretch``: then shifted with its formants kept and played
    ``stretch`` times faster at the same pitch (``augment.shift_voice``, Rubber Band)."""
    if abs(formant_semitones) > 1e-3 or abs(stretch - 1.0) > 1e-4:
        pre_s = round(pre * stretch)
        dry = voice_window(
            clip, rng, round((pre + samples) * stretch) - pre_s + 64, pre_s, entry_prob, semitones
        )
        return shift_voice(dry, formant_semitones, stretch, pre + samples)
    ratio = 2.0 ** (semitones / 12.0)
    if abs(semitones) < 1e-3:
        start = draw_voice_window(clip, rng, samples, entry_prob)
        return fit(clip.audio, pre + samples, start - pre)
    start = draw_voice_window(clip, rng, round(samples * ratio), entry_prob)
    pre_src = round(pre * ratio)
    src = fit(clip.audio, round((pre + samples) * ratio) + 16, start - pre_src)
    out = soxr.resample(src, SAMPLE_RATE, SAMPLE_RATE / ratio).astype(np.float32)
    return fit(out, pre + samples, 0)


def vocal_fx(prod: VocalProduction, backing: bool) -> VocalFx:
    """The vocal chain's settings for a produced real voice: the chain's defaults with this
    config's compressor, delay and reverb chances and the lead's or backing's reverb level."""
    wet = prod.backing_wet if backing else prod.lead_wet
    return replace(VocalFx(), compress_prob=prod.compress_prob, delay_prob=prod.delay_prob,
                   reverb_prob=prod.reverb_prob, wet=wet)


def produce_vocal(
    voice: np.ndarray, rng: np.random.Generator, prod: VocalProduction, backing: bool
) -> np.ndarray:
    """Turn a dry mono voice ``(samples,)`` into a produced stereo vocal ``(2, samples)``.

    EQ and compression on the mono voice, constant-power panning (lead near the centre,
    backing off to one side), optional slap/echo delay, stereo reverb (wetter for backing).
    The output's active level is normalised to ``VOICE_REF_DB``; the caller sets the level.
    """
    level = active_rms_db(voice)
    if level <= SILENT_DB:
        return np.zeros((2, len(voice)), dtype=np.float32)
    x = (voice * np.float32(10 ** ((VOICE_REF_DB - level) / 20)))[None, :].astype(np.float32)
    fx = vocal_fx(prod, backing)
    x = pb.Pedalboard(vocal_eq(rng, fx))(x, SAMPLE_RATE)
    side = 1.0 if rng.random() < 0.5 else -1.0
    position = side * rng.uniform(0.3, 0.9) if backing else rng.uniform(-0.15, 0.15)
    gl, gr = pan_gains(position)
    stereo = np.concatenate([x * np.float32(gl), x * np.float32(gr)]).astype(np.float32)
    post = vocal_space(rng, fx)
    if post:
        stereo = pb.Pedalboard(post)(stereo, SAMPLE_RATE)
    out_level = active_rms_db(stereo)
    return (stereo * np.float32(10 ** ((VOICE_REF_DB - out_level) / 20))).astype(np.float32)


def _backing_voice(
    lead: np.ndarray,
    clip: VocalClip,
    bank: VocalBank,
    rng: np.random.Generator,
    prod: VocalProduction,
    samples: int,
    pre: int,
) -> np.ndarray:
    """A dry backing part ``(pre + samples,)``: a harmony (the same take pitch-shifted with
    its formants kept), a double (the same take detuned, late, with a drifting delay, like a
    second take) or another singer's line."""
    kind = rng.random()
    if kind < prod.harmony_prob and lead.any():
        semis = float(rng.choice([-5, -3, 3, 4, 5, 7]))
        return shift_voice(lead, semis)
    if kind < 0.6 and lead.any():
        return double_take(lead, rng)
    other = bank.draw(rng, exclude=clip)
    return voice_window(other, rng, samples, pre, prod.entry_prob, 0.0)


def vocal_stem(
    bank: VocalBank,
    rng: np.random.Generator,
    prod: VocalProduction,
    samples: int,
    accompaniment_db: float,
    speech: VocalBank | None = None,
) -> np.ndarray:
    """A produced vocal stem ``(2, samples)`` at a drawn level relative to the accompaniment
    (whose mixture RMS is ``accompaniment_db``): lead, lead + backing, or backing only; or,
    with probability ``prod.silent_prob``, silence. With ``speech`` (a bank of spoken clips)
    the lead is speech with probability ``prod.speech_prob`` (then without backing)."""
    if rng.random() < prod.silent_prob:
        return np.zeros((2, samples), dtype=np.float32)
    pre = int(PRE_ROLL_S * SAMPLE_RATE)
    spoken = bool(speech is not None and len(speech) and rng.random() < prod.speech_prob)
    clip = speech.draw(rng) if spoken and speech is not None else bank.draw(rng)
    pitch_roll = rng.random()
    semitones = formant = 0.0
    if pitch_roll < prod.formant_pitch_prob:
        formant = float(rng.uniform(*prod.formant_semitones))
    elif pitch_roll < prod.formant_pitch_prob + prod.pitch_prob:
        semitones = float(rng.uniform(*prod.pitch_semitones))
    stretch = float(rng.uniform(*prod.stretch_range)) if rng.random() < prod.stretch_prob else 1.0
    lead_dry = voice_window(clip, rng, samples, pre, prod.entry_prob, semitones, formant, stretch)
    if rng.random() < prod.ride_prob:
        lead_dry = ride_level(lead_dry, rng, float(rng.uniform(*prod.ride_db)))
    roll = rng.random()
    backing_only = not spoken and roll < prod.backing_only_prob
    with_backing = not spoken and (backing_only or roll < prod.backing_only_prob + prod.backing_prob)
    out = np.zeros((2, pre + samples), dtype=np.float32)
    if not backing_only:
        out += produce_vocal(lead_dry, rng, prod, backing=False)
    if with_backing:
        dry = _backing_voice(lead_dry, clip, bank, rng, prod, samples, pre)
        gain = 10 ** (draw_level(rng, prod.backing_level_db) / 20)
        out += np.float32(gain) * produce_vocal(dry, rng, prod, backing=True)
    out = out[:, pre:]
    level = active_rms_db(out)
    if level <= SILENT_DB:
        return np.zeros((2, samples), dtype=np.float32)
    target = draw_level(rng, prod.lead_level_db)
    target += accompaniment_db if accompaniment_db > SILENT_DB else VOICE_REF_DB
    if backing_only:
        target += draw_level(rng, prod.backing_level_db)
    return (out * np.float32(10 ** ((target - level) / 20))).astype(np.float32)
