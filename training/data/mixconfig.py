"""The training mix's configuration: its sources and ``MixConfig`` (a frozen, YAML-friendly dataclass).

``MixConfig.from_dict`` checks a YAML mapping (an unknown key or source raises
``StemplayError`` naming it) and builds the nested settings: ``vocals``
(``VocalProduction``, ``training/data/voices.py``), ``levels`` (``LevelConfig``,
``training/data/levels.py``), the augmentations (``AugmentConfig``); ``to_dict`` gives the
plain mapping back for YAML files and model cards. The dataset that reads it is
``training.data.mix.MixDataset`` (configs name ``training.data.mix.MixConfig``, re-exported
there). Pure data: any thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from training.data.augment import AugmentConfig
from training.data.levels import LevelConfig
from training.data.splits import DEFAULT_CACHE_DIR
from training.data.voices import VocalProduction

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
    # synthetic source: SyntheticDataset augmentation (remix across generated songs, gains, speed)
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
