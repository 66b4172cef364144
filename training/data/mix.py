"""The training Dataset that mixes synthetic songs with real recordings, in configured proportions.

Owns ``MixConfig`` (a frozen, YAML-friendly dataclass) and ``MixDataset`` (a PyTorch map-style
dataset). Each item is one excerpt drawn from one of eight sources:

- ``synthetic``: a generated song (MUSDB-style folders from ``python -m training synth``);
- ``real_multitrack``: a real multitrack song of the training split, as it is;
- ``real_remix``: each stem from a different real song at its own random offset and gain
  (tempo-agnostic: nothing is aligned);
- ``vocals_over_synthetic`` / ``vocals_over_real``: an isolated real voice, produced as a lead
  and/or backing vocal (EQ, compression, stereo placement, delay, reverb — see
  ``produce_vocal``), over the drums, bass and other of a generated or real song, at a drawn
  level relative to that accompaniment. The vocal stem holds the voice with its effects.

Partial-label sources over the real instrumental music bank (``training/data/realmusic.py``:
screened game soundtracks, hours of them), whose drums / bass / other are known only as a sum:

- ``vocals_over_real_music``: a produced real voice over a real instrumental excerpt; vocals
  known, the excerpt (all of it in ``other``) stands for drums + bass + other;
- ``real_music_only``: an instrumental excerpt alone; vocals known (silent), the rest a sum;
- ``drums_over_real_music``: real drums (``sonic-pi-samples`` loops, drum stems of generated
  songs) over a track the screening found drum-free; vocals (silent) and drums known, bass +
  other a sum.

Each item says which stems are exact: ``dataset[i]`` is ``(mix, stems, known)`` and the loss
(``training/losses.py``) scores unknown stems only through their sum. Levels follow real songs
(``training/data/levels.py``; measured in ``training/DATA.md``, "Levels"): the voice from -18 to
+3 dB against the band, weighted toward quiet, and drums and bass of generated and re-mixed
items redrawn the same way. Voices are varied per item (``VocalProduction``): formant-keeping
pitch shift of ±3 semitones, small time stretch, level riding, doubles and harmonies of the
same take, and now and then real speech instead of singing.

The mixture is always the exact float32 sum of the returned stems. Items are deterministic in
``(config.seed, epoch, index)``; call ``set_epoch`` before each epoch for fresh excerpts.

Runs in the training process or in DataLoader worker processes (each worker holds a copy of
the dataset; the real audio is memory-mapped from the cache so the copies share RAM).

In a training config (``python -m training train``)::

    data:
      target: training.data.mix.MixDataset
      config_target: training.data.mix.MixConfig
      config:
        proportions: {synthetic: 0.22, real_multitrack: 0.1, real_remix: 0.1,
                      vocals_over_synthetic: 0.12, vocals_over_real: 0.08,
                      vocals_over_real_music: 0.2, real_music_only: 0.08,
                      drums_over_real_music: 0.1}
        synthetic_dirs: [/work/data/synth/train]
        samples_per_epoch: 4000
        missing_sources: skip        # same file on a machine without the real data

Listening check: ``python -m training.data.mix CONFIG.yaml -o OUT --items 8`` writes items as
MUSDB-style folders ``OUT/<nn>_<source>/{mixture,vocals,drums,bass,other}.wav`` (then
``python -m training preview OUT`` draws their spectrograms).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard as pb
import soundfile as sf
import soxr
import torch
import yaml
from torch.utils.data import Dataset

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from engine.levels import pan_gains
from training.data.augment import (
    AugmentConfig,
    augment_stem,
    change_speed,
    double_take,
    ride_level,
    rms_db,
    shift_voice,
)
from training.data.levels import (
    VOCALS_DB,
    LevelConfig,
    active_rms_db,
    balance_levels,
    draw_level,
    set_level,
)
from training.data.musdb import MusdbDataset
from training.data.real import (
    ACTIVITY_BLOCK,
    DrumBank,
    MultitrackBank,
    RealMusicBank,
    StemBank,
    VocalBank,
    VocalClip,
    default_realmusic_root,
    expand_patterns,
    split_voice_files,
)
from training.data.splits import (
    DEFAULT_CACHE_DIR,
    default_real_root,
    real_tracks,
    real_vocal_dirs,
)

log = logging.getLogger(__name__)

SOURCES = (
    "synthetic",
    "real_multitrack",
    "real_remix",
    "vocals_over_synthetic",
    "vocals_over_real",
    "vocals_over_real_music",
    "real_music_only",
    "drums_over_real_music",
)
#: Sources over the real-music bank: drums / bass / other are known only as their sum.
REAL_MUSIC_SOURCES = ("vocals_over_real_music", "real_music_only", "drums_over_real_music")
#: Sources whose voice is a produced isolated real voice (``vocal_stem``).
VOICE_SOURCES = ("vocals_over_synthetic", "vocals_over_real", "vocals_over_real_music")

#: Drum loops of Debian's ``sonic-pi-samples`` (CC0) that are drums or percussion only.
SONIC_PI_LOOPS = tuple(
    f"/usr/share/sonic-pi/samples/loop_{n}.flac"
    for n in ("amen", "amen_full", "breakbeat", "compus", "industrial", "mehackit1",
              "mehackit2", "mika", "perc1", "perc2", "safari", "tabla")
)

#: Credit line for model cards whose training used the real sources (their licences ask it).
REAL_CREDITS = (
    "trained partly on real recordings: the MedleyDB 'MusicDelta' multitracks as distributed "
    "with MDB Drums (CC BY-NC-SA 4.0); SiSEC 2011 'The Ultimate NZ Tour' (remix by Michel "
    "Desnoues, Telecom ParisTech; CC BY-NC-SA 3.0); GTSinger and M4Singer demo clips "
    "(CC BY-NC-SA 4.0); vocadito (CC BY 4.0); Children's Song Dataset (CC BY-NC-SA 4.0)"
)

#: Credit line when real drum loops of Debian's sonic-pi-samples are laid over real music.
SONIC_PI_CREDITS = "real drum loops from Debian's sonic-pi-samples (Sonic Pi, CC0 / CC-BY)"

#: Credit line when the Frets on Fire guitar tracks from Debian are used as extra stems.
FOF_CREDITS = (
    "isolated guitar tracks from Debian's fretsonfire-songs-muldjord (Muldjord, CC BY-SA 3.0) "
    "and fretsonfire-songs-sectoid (Sectoid, MIT-style licence)"
)

#: Pre-roll (seconds) processed before an excerpt so reverb, delay and compressor are settled.
PRE_ROLL_S = 0.5
#: Target RMS (dBFS over the active part) a voice is normalised to before its effect chain.
VOICE_REF_DB = -20.0
SILENT_DB = -60.0


def _default_proportions() -> dict[str, float]:
    return {
        "synthetic": 0.35,
        "real_multitrack": 0.15,
        "real_remix": 0.15,
        "vocals_over_synthetic": 0.2,
        "vocals_over_real": 0.15,
    }


#: Per-stem augmentation of real_remix (``AugmentConfig`` of ``training.data.augment``; its
#: ``remix_prob`` and vocal-redraw fields do not apply there).
REMIX_AUGMENT = AugmentConfig(
    gain_db=(-6.0, 3.0),
    channel_swap_prob=0.5,
    polarity_flip_prob=0.5,
    speed_prob=0.3,
    speed_range=(0.94, 1.06),
)


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


def _fields_of(cls: type, value: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    """A YAML mapping checked against the fields of dataclass ``cls``, lists made tuples."""
    value = dict(value or {})
    bad = set(value) - {f.name for f in dataclasses.fields(cls)}
    if bad:
        raise StemplayError(f"unknown mix config {key} key(s): {', '.join(sorted(bad))}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


@dataclass(frozen=True)
class MixConfig:
    """Everything the mix dataset draws from, and how. Build from YAML with ``from_dict``.

    ``proportions``: weight per source (normalised; see ``SOURCES``). ``synthetic_dirs``:
    folders of generated MUSDB-style songs. ``real_root``: the real data folder (default
    ``../shared/data/real``; its ``multitrack/`` training split and ``vocals/``).
    ``cache_dir``: where decoded real audio is kept as ``.npy`` (None: decode into RAM).
    """

    proportions: dict[str, float] = field(default_factory=_default_proportions)
    synthetic_dirs: tuple[str, ...] = ()
    real_root: str | None = None
    cache_dir: str | None = str(DEFAULT_CACHE_DIR)
    seconds: float = 6.0
    samples_per_epoch: int = 4000
    seed: int = 0
    stems: tuple[str, ...] = DEFAULT_STEMS
    loudness_db: tuple[float, float] = (-28.0, -14.0)  # mixture RMS, dBFS
    # synthetic source: MusdbDataset augmentation (remix across generated songs, gains, speed)
    synthetic_augment: AugmentConfig = field(default_factory=AugmentConfig)
    # real_remix: per-stem gain, channel swap, polarity flip, tape-style speed of each stem
    remix_augment: AugmentConfig = field(default_factory=lambda: REMIX_AUGMENT)
    multitrack_any_song_prob: float = 0.25  # real_multitrack: any song (else one with vocals)
    remix_silent_vocals_prob: float = 0.08  # real_remix with an instrumental (silent) vocal
    channel_swap_prob: float = 0.5
    polarity_flip_prob: float = 0.5
    extra_stems: dict[str, tuple[str, ...]] = field(default_factory=dict)  # stem -> globs
    extra_stem_prob: float = 0.5  # real_remix takes such a stem from the extras
    vocals_over_remix_prob: float = 0.5  # vocals_over_real over a real_remix accompaniment
    missing_sources: str = "error"  # a weighted source without data: "error" or "skip" (warn)
    vocals: VocalProduction = field(default_factory=VocalProduction)
    levels: LevelConfig = field(default_factory=LevelConfig)
    realmusic_root: str | None = None  # the real-music bank (None: $STEMPLAY_REALMUSIC or default)
    drum_loops: tuple[str, ...] = SONIC_PI_LOOPS  # globs of real drum loops
    drum_stems_from_synthetic: bool = True  # drums.* of synthetic_dirs as real-drum material
    drum_loop_prob: float = 0.5  # a loop rather than a drum stem, when both exist

    @property
    def samples(self) -> int:
        return round(self.seconds * SAMPLE_RATE)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MixConfig:
        """From a YAML mapping: lists become tuples, ``vocals`` is a nested mapping; an unknown
        key or source name raises ``StemplayError`` naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise StemplayError(f"unknown mix config key(s): {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "vocals" and not isinstance(value, VocalProduction):
                value = VocalProduction(**_fields_of(VocalProduction, value, "vocals"))
            elif key == "levels" and not isinstance(value, LevelConfig):
                value = LevelConfig(**_fields_of(LevelConfig, value, "levels"))
            elif key == "proportions":
                value = dict(value or {})
                bad = set(value) - set(SOURCES)
                if bad:
                    raise StemplayError(
                        f"unknown mix source(s) {', '.join(sorted(bad))}: use {', '.join(SOURCES)}"
                    )
                value = {s: float(value.get(s, 0.0)) for s in SOURCES}
            elif key in ("synthetic_augment", "remix_augment"):
                if not isinstance(value, AugmentConfig):
                    base = AugmentConfig() if key == "synthetic_augment" else REMIX_AUGMENT
                    value = dataclasses.replace(base, **_fields_of(AugmentConfig, value, key))
            elif key == "extra_stems":
                value = {
                    str(k): tuple(v) if isinstance(v, (list, tuple)) else (str(v),)
                    for k, v in (value or {}).items()
                }
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (tuples as lists) for YAML files and model cards."""

        def plain(v: Any) -> Any:
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        return plain(dataclasses.asdict(self))


# --------------------------------------------------------------------------- plain maths


def fit(x: np.ndarray, samples: int, offset: int) -> np.ndarray:
    """``x[..., offset:offset+samples]`` with zeros where the window leaves ``x``."""
    out = np.zeros((*x.shape[:-1], samples), dtype=np.float32)
    lo, hi = max(offset, 0), min(offset + samples, x.shape[-1])
    if hi > lo:
        out[..., lo - offset : hi - offset] = x[..., lo:hi]
    return out


def finish_example(
    stems: np.ndarray, rng: np.random.Generator, config: MixConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Channel swap, polarity flip, drawn loudness, peak guard; returns ``(mix, stems)``.

    ``stems``: ``(stems, 2, samples)``. Every step scales or permutes all stems alike, so the
    returned mixture ``(2, samples)`` is exactly ``stems.sum(0)`` in float32, with no sample
    of the mixture or of a stem beyond ±0.99.
    """
    stems = np.ascontiguousarray(stems, dtype=np.float32)
    if rng.random() < config.channel_swap_prob:
        stems = np.ascontiguousarray(stems[:, ::-1])
    if rng.random() < config.polarity_flip_prob:
        stems = -stems
    level = rms_db(stems.sum(axis=0))
    if level > SILENT_DB:
        stems *= np.float32(10 ** ((rng.uniform(*config.loudness_db) - level) / 20))
    mix = stems.sum(axis=0)
    peak = max(float(np.abs(mix).max(initial=0.0)), float(np.abs(stems).max(initial=0.0)))
    if peak > 0.99:
        stems *= np.float32(0.99 / peak)
        mix = stems.sum(axis=0)
    return mix.astype(np.float32), stems


# --------------------------------------------------------------------------- vocals


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


def _effect_chain(rng: np.random.Generator, prod: VocalProduction) -> pb.Pedalboard:
    """Mono voice EQ + compression of a produced vocal: high-pass, low shelf, presence, air."""
    chain: list[pb.Plugin] = [
        pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(70, 180))),
        pb.LowShelfFilter(cutoff_frequency_hz=250.0, gain_db=float(rng.uniform(-4, 2))),
        pb.PeakFilter(
            cutoff_frequency_hz=float(rng.uniform(1500, 5000)),
            gain_db=float(rng.uniform(-2, 5)),
            q=float(rng.uniform(0.6, 1.5)),
        ),
        pb.HighShelfFilter(
            cutoff_frequency_hz=float(rng.uniform(7000, 11000)), gain_db=float(rng.uniform(-3, 4))
        ),
    ]
    if rng.random() < prod.compress_prob:
        chain.append(
            pb.Compressor(
                threshold_db=float(rng.uniform(-32, -14)),
                ratio=float(rng.uniform(2, 6)),
                attack_ms=float(rng.uniform(2, 15)),
                release_ms=float(rng.uniform(40, 200)),
            )
        )
    return pb.Pedalboard(chain)


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
    x = _effect_chain(rng, prod)(x, SAMPLE_RATE)
    side = 1.0 if rng.random() < 0.5 else -1.0
    position = side * rng.uniform(0.3, 0.9) if backing else rng.uniform(-0.15, 0.15)
    gl, gr = pan_gains(position)
    stereo = np.concatenate([x * np.float32(gl), x * np.float32(gr)]).astype(np.float32)
    post: list[pb.Plugin] = []
    if rng.random() < prod.delay_prob:
        post.append(
            pb.Delay(
                delay_seconds=float(rng.uniform(0.08, 0.45)),
                feedback=float(rng.uniform(0.05, 0.4)),
                mix=float(rng.uniform(0.05, 0.2)),
            )
        )
    if rng.random() < prod.reverb_prob:
        wet = prod.backing_wet if backing else prod.lead_wet
        post.append(
            pb.Reverb(
                room_size=float(rng.uniform(0.15, 0.85)),
                damping=float(rng.uniform(0.2, 0.8)),
                wet_level=float(rng.uniform(*wet)),
                dry_level=1.0,
                width=float(rng.uniform(0.6, 1.0)),
            )
        )
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


# --------------------------------------------------------------------------- synthetic songs


class SyntheticSongs:
    """Generated MUSDB-style songs, one ``MusdbDataset`` per folder (its reader, silence-aware
    drawing and augmentation), drawn with probability proportional to their total length."""

    def __init__(
        self,
        roots: Sequence[str | Path],
        stems: Sequence[str],
        seconds: float,
        augment: AugmentConfig,
        seed: int,
    ) -> None:
        self.sets: list[MusdbDataset] = []
        for root in roots:
            try:
                self.sets.append(
                    MusdbDataset(
                        root,
                        None,
                        stems,
                        seconds,
                        samples_per_epoch=2**31 - 1,
                        augment=augment,
                        seed=seed,
                    )
                )
            except StemplayError as err:  # missing folder or no track: no data from it
                log.info("synthetic songs: %s", err)
        self.lengths = np.array(
            [sum(t.samples for t in ds.tracks) for ds in self.sets], dtype=np.float64
        )

    def __len__(self) -> int:
        return sum(len(ds.tracks) for ds in self.sets)

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum()) / SAMPLE_RATE

    def excerpt(self, rng: np.random.Generator) -> np.ndarray:
        """``(stems, 2, samples)``: one augmented item of a folder's ``MusdbDataset``."""
        ds = self.sets[int(rng.choice(len(self.sets), p=self.lengths / self.lengths.sum()))]
        return ds.example(int(rng.integers(0, 2**31 - 1)))


# --------------------------------------------------------------------------- dataset


def _real_excerpt(
    bank: MultitrackBank,
    rng: np.random.Generator,
    samples: int,
    vocal_index: int | None,
    instrumental_prob: float = 1.0,
) -> np.ndarray:
    """A coherent excerpt ``(stems, 2, samples)`` of one real training song. With ``vocal_index``
    set, a song with vocals is drawn unless a coin of ``instrumental_prob`` says any song (by
    length), and a window where the vocals are audible is preferred (up to 4 redraws)."""
    any_song = vocal_index is None or rng.random() < instrumental_prob
    song = bank.draw(rng, with_stem=None if any_song else vocal_index)
    want_vocals = vocal_index is not None and song.has_stem(vocal_index)
    out = np.zeros((len(bank.stems), 2, samples), dtype=np.float32)
    for attempt in range(4):
        start = int(rng.integers(0, max(song.samples - samples, 0) + 1))
        out = fit(song.stems, samples, start)
        if not want_vocals or rms_db(out[vocal_index]) > -50.0 or attempt == 3:
            break
    return out


class MixDataset(Dataset):
    """Training excerpts from synthetic and real sources in the proportions of ``MixConfig``.

    ``dataset[i]`` → ``(mix, stems, known)``: float32 tensors ``(channels=2, samples)`` and
    ``(stems, channels=2, samples)``, ``mix == stems.sum(0)`` exactly, and a bool tensor
    ``(stems,)`` saying which stems are exact (see ``known_mask``; the unknown ones hold their
    sum in ``other``). ``len`` is ``samples_per_epoch``; every epoch holds each source's share
    exactly (rounded). Raises ``StemplayError`` when a source has weight but no data.
    """

    def __init__(self, config: MixConfig) -> None:
        self.config = config
        self.stems = tuple(config.stems)
        self.vocal_index = self.stems.index("vocals") if "vocals" in self.stems else None
        weights = {s: float(config.proportions.get(s, 0.0)) for s in SOURCES}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise StemplayError("mix proportions must be non-negative and not all zero")
        needs_vocals = sum(weights[s] for s in VOICE_SOURCES) > 0
        needs_music = sum(weights[s] for s in REAL_MUSIC_SOURCES) > 0
        if (needs_vocals or needs_music) and self.vocal_index is None:
            raise StemplayError(
                "vocal and real-music mix sources need a 'vocals' stem in the config's stems"
            )
        if weights["drums_over_real_music"] > 0 and "drums" not in self.stems:
            raise StemplayError("drums_over_real_music needs a 'drums' stem in the config's stems")
        real_root = Path(config.real_root) if config.real_root else default_real_root()
        music_root = (
            Path(config.realmusic_root) if config.realmusic_root else default_realmusic_root()
        )
        # where the sum of the unknown stems of a real-music item goes
        self.rest_index = self.stems.index("other") if "other" in self.stems else len(self.stems) - 1

        self.synthetic: SyntheticSongs | None = None
        drum_stems_wanted = weights["drums_over_real_music"] > 0 and config.drum_stems_from_synthetic
        if weights["synthetic"] + weights["vocals_over_synthetic"] > 0 or drum_stems_wanted:
            self.synthetic = SyntheticSongs(
                config.synthetic_dirs,
                self.stems,
                config.seconds,
                config.synthetic_augment,
                config.seed,
            )
        self.real: MultitrackBank | None = None
        if weights["real_multitrack"] + weights["real_remix"] + weights["vocals_over_real"] > 0:
            self.real = MultitrackBank(
                real_tracks("train", real_root), self.stems, config.cache_dir
            )
        self.voices: VocalBank | None = None
        self.speech: VocalBank | None = None
        if needs_vocals:
            singing, spoken = split_voice_files(real_vocal_dirs(real_root))
            self.voices = VocalBank(singing, config.cache_dir)
            if spoken and config.vocals.speech_prob > 0:
                self.speech = VocalBank(spoken, config.cache_dir)
        # the real-music bank: all kept tracks, and the drum-free ones
        self.music: RealMusicBank | None = None
        if weights["vocals_over_real_music"] + weights["real_music_only"] > 0:
            self.music = RealMusicBank(music_root)
        self.drumless: RealMusicBank | None = None
        self.drums: DrumBank | None = None
        if weights["drums_over_real_music"] > 0:
            self.drumless = RealMusicBank(music_root, drums=False)
            songs = []
            if config.drum_stems_from_synthetic and self.synthetic is not None:
                songs = [
                    (t.files["drums"], t.samples)
                    for ds in self.synthetic.sets
                    for t in ds.tracks
                    if "drums" in t.files
                ]
            self.drums = DrumBank(
                expand_patterns(config.drum_loops), songs, config.cache_dir, config.drum_loop_prob
            )
        # stem index -> isolated extra recordings of that stem (used by _remix)
        self.extras: dict[int, StemBank] = {}
        if weights["real_remix"] + weights["vocals_over_real"] > 0:
            for name, patterns in config.extra_stems.items():
                if name not in self.stems:
                    raise StemplayError(f"extra_stems names {name!r}, not one of {self.stems}")
                files = expand_patterns(patterns)
                if not files:
                    message = f"extra_stems {name}: no audio file matches {', '.join(patterns)}"
                    if config.missing_sources != "skip":
                        raise StemplayError(message)
                    log.warning("%s: skipped", message)
                    continue
                self.extras[self.stems.index(name)] = StemBank(files, config.cache_dir)
        # stem index -> median RMS (dBFS) of that stem over the real songs where it plays
        self._stem_ref_db = {
            k: float(
                np.median(
                    [rms_db(np.asarray(s.stems[k])) for s in self.real.songs if s.present[k]]
                    or [-20.0]
                )
            )
            for k in self.extras
            if self.real is not None
        }

        have = {
            "synthetic": bool(self.synthetic and len(self.synthetic)),
            "real_multitrack": bool(self.real and len(self.real)),
            "real_remix": bool(self.real and len(self.real) > 1),
            "vocals_over_synthetic": bool(self.synthetic and len(self.synthetic) and self.voices),
            "vocals_over_real": bool(self.real and len(self.real) and self.voices),
            "vocals_over_real_music": bool(self.music and len(self.music) and self.voices),
            "real_music_only": bool(self.music and len(self.music)),
            "drums_over_real_music": bool(
                self.drumless and len(self.drumless) and self.drums and len(self.drums)
            ),
        }
        syn = ", ".join(config.synthetic_dirs) or "(no synthetic_dirs)"
        multi, voc = real_root / "multitrack", real_root / "vocals"
        where = {
            "synthetic": syn,
            "real_multitrack": f"{multi} (training split)",
            "real_remix": f"{multi} (training split, needs two songs)",
            "vocals_over_synthetic": f"{syn} and {voc}",
            "vocals_over_real": f"{multi} and {voc}",
            "vocals_over_real_music": f"{music_root} (screened 'keep' tracks) and {voc}",
            "real_music_only": f"{music_root} (screened 'keep' tracks)",
            "drums_over_real_music": (
                f"{music_root} (kept tracks without drums) and drum loops "
                f"({', '.join(config.drum_loops) or 'none'}) or synthetic drum stems"
            ),
        }
        if config.missing_sources not in ("error", "skip"):
            raise StemplayError(
                f"missing_sources must be error or skip, not {config.missing_sources!r}"
            )
        for s in SOURCES:
            if weights[s] > 0 and not have[s]:
                message = f"mix source {s} has weight {weights[s]:g} but no data in {where[s]}"
                if config.missing_sources == "error":
                    raise StemplayError(message)
                log.warning("%s: skipped", message)
                weights[s] = 0.0
        if sum(weights.values()) <= 0:
            raise StemplayError("no mix source with weight has any data")
        total = sum(weights.values())
        self.proportions = {s: weights[s] / total for s in SOURCES}
        self.epoch = 0
        self._plan = self._make_plan()

    # ------------------------------------------------------------------ epoch plan

    def _make_plan(self) -> np.ndarray:
        """Source index per item of the epoch: exact shares (largest remainder), shuffled."""
        n = self.config.samples_per_epoch
        p = np.array([self.proportions[s] for s in SOURCES])
        counts = np.floor(p * n).astype(int)
        rest = np.argsort(-(p * n - counts), kind="stable")[: n - counts.sum()]
        counts[rest] += 1
        plan = np.repeat(np.arange(len(SOURCES)), counts)
        return np.random.default_rng([self.config.seed, self.epoch, 7]).permutation(plan)

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of excerpts (same shares) for ``epoch``."""
        self.epoch = int(epoch)
        self._plan = self._make_plan()

    def __len__(self) -> int:
        return self.config.samples_per_epoch

    def source_of(self, index: int) -> str:
        return SOURCES[int(self._plan[index])]

    # ------------------------------------------------------------------ items

    def known_mask(self, source: str) -> np.ndarray:
        """Which stems an item of ``source`` gives exactly: bool ``(stems,)``. All of them,
        except over the real-music bank: vocals (and drums for ``drums_over_real_music``)."""
        known = np.ones(len(self.stems), dtype=bool)
        if source in REAL_MUSIC_SOURCES:
            known[:] = False
            if self.vocal_index is not None:
                known[self.vocal_index] = True
            if source == "drums_over_real_music":
                known[self.stems.index("drums")] = True
        return known

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """``(mix (2, samples), stems (stems, 2, samples), source name)`` as numpy float32;
        ``known_mask(source)`` says which stems are exact."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        source = self.source_of(index)
        rng = np.random.default_rng([self.config.seed, self.epoch, index])
        samples = self.config.samples
        levels = self.config.levels
        if source == "synthetic":
            assert self.synthetic is not None
            stems = self.synthetic.excerpt(rng)
            if rng.random() < levels.prob:
                balance_levels(stems, rng, self.stems, levels)
        elif source in REAL_MUSIC_SOURCES:
            stems = self._over_real_music(source, rng, samples)
        elif source == "real_multitrack":
            assert self.real is not None
            stems = _real_excerpt(
                self.real, rng, samples, self.vocal_index, self.config.multitrack_any_song_prob
            )
        elif source == "real_remix":
            stems = self._remix(rng, samples)
            if rng.random() < levels.prob:
                balance_levels(stems, rng, self.stems, levels)
        else:
            stems = self._vocals_over(source, rng, samples)
        mix, stems = finish_example(stems, rng, self.config)
        return mix, stems, source

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mix, stems, source = self.example(index)
        known = torch.from_numpy(self.known_mask(source))
        return torch.from_numpy(mix), torch.from_numpy(stems), known

    def _over_real_music(
        self, source: str, rng: np.random.Generator, samples: int
    ) -> np.ndarray:
        """``(stems, 2, samples)`` of a real-music item: the instrumental excerpt in ``other``
        (standing for drums + bass + other), plus a produced voice or real drums."""
        assert self.vocal_index is not None
        stems = np.zeros((len(self.stems), 2, samples), dtype=np.float32)
        if source == "drums_over_real_music":
            assert self.drumless is not None and self.drums is not None
            stems[self.rest_index] = self.drumless.excerpt(rng, samples)
            k = self.stems.index("drums")
            stems[k] = self.drums.excerpt(rng, samples)
            # drums against the music at a level drawn like real songs' drums against the band
            set_level(stems, k, draw_level(rng, self.config.levels.drums_db), [self.rest_index])
            return stems
        assert self.music is not None
        stems[self.rest_index] = self.music.excerpt(rng, samples)
        if source == "vocals_over_real_music":
            assert self.voices is not None
            stems[self.vocal_index] = vocal_stem(
                self.voices, rng, self.config.vocals, samples, rms_db(stems[self.rest_index]),
                self.speech,
            )
        return stems

    def _remix(self, rng: np.random.Generator, samples: int) -> np.ndarray:
        """Each stem from an independently drawn real song (or extra recording), at its own
        offset, gain, channel order, polarity and speed (nothing is aligned)."""
        assert self.real is not None
        aug = self.config.remix_augment
        out = np.zeros((len(self.stems), 2, samples), dtype=np.float32)
        for k in range(len(self.stems)):
            if k == self.vocal_index and rng.random() < self.config.remix_silent_vocals_prob:
                continue
            speed = float(rng.uniform(*aug.speed_range)) if rng.random() < aug.speed_prob else 1.0
            need = int(np.ceil(samples * speed)) + 8 if speed != 1.0 else samples
            if k in self.extras and rng.random() < self.config.extra_stem_prob:
                x = self.extras[k].excerpt(rng, need)
                # at the typical level of this stem in the real songs
                if rms_db(x) > SILENT_DB:
                    x = x * np.float32(10 ** ((self._stem_ref_db[k] - rms_db(x)) / 20))
            else:
                song = self.real.draw(rng, with_stem=k)
                x = np.zeros((2, need), dtype=np.float32)
                for attempt in range(4):  # prefer a window where this stem is audible
                    start = int(rng.integers(0, max(song.samples - need, 0) + 1))
                    x = fit(song.stems[k], need, start)
                    if rms_db(x) > aug.silent_stem_db or attempt == 3:
                        break
            x = change_speed(x[None], speed, samples)[0]
            out[k] = augment_stem(x, rng, aug)
        return out

    def _vocals_over(self, source: str, rng: np.random.Generator, samples: int) -> np.ndarray:
        """Accompaniment (generated or real, its own vocals removed) plus a produced real voice."""
        assert self.voices is not None and self.vocal_index is not None
        if source == "vocals_over_synthetic":
            assert self.synthetic is not None
            stems = self.synthetic.excerpt(rng)
        elif rng.random() < self.config.vocals_over_remix_prob:
            stems = self._remix(rng, samples)  # drums, bass, other from different real songs
        else:
            assert self.real is not None
            stems = _real_excerpt(self.real, rng, samples, None)
        stems[self.vocal_index] = 0.0
        if rng.random() < self.config.levels.prob:  # drums and bass like real songs
            balance_levels(stems, rng, self.stems, self.config.levels, vocals=False)
        accompaniment_db = rms_db(stems.sum(axis=0))
        stems[self.vocal_index] = vocal_stem(
            self.voices, rng, self.config.vocals, samples, accompaniment_db, self.speech
        )
        return stems

    # ------------------------------------------------------------------ reporting

    def describe(self) -> str:
        """A few lines for logs and model cards: proportions and amount of data per source."""
        lines = [
            "training mix: "
            + ", ".join(f"{s} {p:.0%}" for s, p in self.proportions.items() if p > 0)
        ]
        if self.synthetic is not None:
            lines.append(
                f"synthetic songs: {len(self.synthetic)} "
                f"({self.synthetic.lengths.sum() / SAMPLE_RATE / 60:.1f} min)"
            )
        if self.real is not None:
            lines.append(
                f"real multitrack training songs: {len(self.real)} "
                f"({self.real.seconds / 60:.1f} min): " + ", ".join(s.name for s in self.real.songs)
            )
        if self.voices is not None:
            lines.append(
                f"real isolated voices: {len(self.voices)} clips "
                f"({self.voices.seconds / 60:.1f} min)"
            )
        if self.speech is not None:
            lines.append(
                f"real speech as a rarer voice (p={self.config.vocals.speech_prob:g}): "
                f"{len(self.speech)} clips ({self.speech.seconds / 60:.1f} min)"
            )
        for label, music in (("instrumental", self.music), ("drum-free", self.drumless)):
            if music is not None:
                lines.append(
                    f"real {label} music (partial labels): {len(music)} tracks "
                    f"({music.seconds / 3600:.2f} h): "
                    + "; ".join(f"{p} ({lic})" for p, lic in music.licences().items())
                )
        if self.drums is not None:
            lines.append(
                f"real drums over drum-free music: {len(self.drums.loops)} loops, "
                f"{len(self.drums.songs)} generated drum stems ({self.drums.seconds / 60:.1f} min)"
            )
        for k, bank in self.extras.items():
            lines.append(
                f"extra isolated {self.stems[k]} recordings (in real remixes, "
                f"p={self.config.extra_stem_prob:g}): {len(bank)} ({bank.seconds / 60:.1f} min)"
            )
        if self.real is not None or self.voices is not None:
            lines.append(REAL_CREDITS)
        if any("fretsonfire" in c.name for b in self.extras.values() for c in b.clips):
            lines.append(FOF_CREDITS)
        if self.drums is not None and any("sonic-pi" in c.name for c in self.drums.loops):
            lines.append(SONIC_PI_CREDITS)
        return "\n".join(lines)


def write_items(dataset: MixDataset, out_dir: str | Path, items: int) -> list[Path]:
    """Write the first ``items`` examples as MUSDB-style WAV folders (float, exact sums)."""
    out = Path(out_dir)
    folders = []
    for i in range(min(items, len(dataset))):
        mix, stems, source = dataset.example(i)
        folder = out / f"{i:03d}_{source}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, x in [("mixture", mix), *zip(dataset.stems, stems, strict=True)]:
            sf.write(str(folder / f"{name}.wav"), x.T, SAMPLE_RATE, subtype="FLOAT")
        folders.append(folder)
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data.mix",
        description="Write a few items of the training mix as MUSDB-style folders to listen to.",
    )
    parser.add_argument(
        "config",
        type=Path,
        help="YAML: a MixConfig mapping or a training config whose data.config is one",
    )
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--items", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        raw = yaml.safe_load(args.config.read_text()) or {}
        if isinstance(raw.get("data"), dict) and "config" in raw["data"]:
            raw = raw["data"]["config"] or {}
        dataset = MixDataset(MixConfig.from_dict(raw))
    except (OSError, yaml.YAMLError, StemplayError, TypeError) as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 1
    print(dataset.describe())
    for folder in write_items(dataset, args.out, args.items):
        mix = sf.read(str(folder / "mixture.wav"), dtype="float32")[0].T
        levels = " ".join(
            f"{s} {rms_db(sf.read(str(folder / f'{s}.wav'), dtype='float32')[0]):6.1f}"
            for s in dataset.stems
        )
        print(f"{folder}  mix {rms_db(mix):6.1f} dBFS  {levels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
