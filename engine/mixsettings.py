"""What the audio callback is asked to play: value objects the GUI thread builds and hands over.

:class:`MixSettings` is the frozen snapshot of what the user asked to hear (faders, mute,
solo, master, source, pans, tempo, pitch); the GUI thread builds a new one for every change and
swaps it into ``Mixer.settings`` by reference, so the callback always sees one consistent
state. :class:`Source` pairs a stem ring with the names of its stems (swapped in by the
worker). :func:`stem_audible` is the solo/mute truth table. :func:`click_track` builds the
count-in clicks (``Mixer.count_in``, also swapped in by reference).

Pure; built on the GUI thread (``Source``: the worker), read by the callback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from engine.config import CHANNELS, SAMPLE_RATE
from engine.levels import PAN_MAX, db_to_gain
from engine.ring import StemRing

#: What can be heard: the plain mixture, model slot A, model slot B, the true stems.
SOURCES = ("mix", "A", "B", "reference")
STEM_SOURCES = ("A", "B", "reference")
#: Count-in click: length (seconds) and peak level of the accented and the other beats.
CLICK_S = 0.035
CLICK_LEVEL = (0.5, 0.3)
CLICK_HZ = (1760.0, 1320.0)


def stem_audible(stem: str, mute: Iterable[str], solo: Iterable[str]) -> bool:
    """The solo/mute truth table: mute beats solo; when any stem is soloed only soloed play."""
    mute = frozenset(mute)
    solo = frozenset(solo)
    if stem in mute:
        return False
    return not solo or stem in solo


def click_track(beats: int, beat_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """(samples, channels) float32: ``beats`` clicks ``beat_s`` apart, the first accented
    (higher and louder); None for 0 beats."""
    if beats <= 0:
        return None
    beat = max(1, round(beat_s * sample_rate))
    n = max(1, round(CLICK_S * sample_rate))
    t = np.arange(min(n, beat)) / sample_rate
    env = np.exp(-t / (CLICK_S / 5.0)) * np.minimum(1.0, t * sample_rate / 32.0)
    out = np.zeros((beats * beat, CHANNELS), dtype=np.float32)
    for i in range(beats):
        k = 0 if i == 0 else 1
        click = CLICK_LEVEL[k] * env * np.sin(2.0 * np.pi * CLICK_HZ[k] * t)
        out[i * beat : i * beat + t.size] = click[:, None]
    return out


@dataclass(frozen=True)
class MixSettings:
    """What the user asked to hear; immutable, swapped by reference into the callback."""

    gains_db: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    mute: frozenset[str] = frozenset()
    solo: frozenset[str] = frozenset()
    master_db: float = 0.0
    source: str = "A"
    pan: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    tempo: float = 1.0  # speed ratio (engine.stretch limits)
    pitch: float = 0.0  # semitones

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; choose one of {', '.join(SOURCES)}")

    def pan_of(self, stem: str) -> float:
        return float(self.pan.get(stem, 0.0))

    def with_pan(self, stem: str, pan: float) -> MixSettings:
        pans = dict(self.pan)
        pans[stem] = min(PAN_MAX, max(-PAN_MAX, float(pan)))
        return replace(self, pan=MappingProxyType(pans))

    def gain(self, stem: str) -> float:
        """Linear gain of ``stem`` after its fader, mute and solo (master not included)."""
        if not stem_audible(stem, self.mute, self.solo):
            return 0.0
        return db_to_gain(self.gains_db.get(stem, 0.0))

    @property
    def master_gain(self) -> float:
        return db_to_gain(self.master_db)

    def with_gain_db(self, stem: str, db: float) -> MixSettings:
        gains = dict(self.gains_db)
        gains[stem] = float(db)
        return replace(self, gains_db=MappingProxyType(gains))

    def with_mute(self, stem: str, on: bool) -> MixSettings:
        return replace(self, mute=self.mute | {stem} if on else self.mute - {stem})

    def with_solo(self, stem: str, on: bool) -> MixSettings:
        return replace(self, solo=self.solo | {stem} if on else self.solo - {stem})


@dataclass(frozen=True)
class Source:
    """One stem source as the callback sees it: its ring and the names of its stems."""

    ring: StemRing
    stems: tuple[str, ...]
