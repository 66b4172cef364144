"""GUI-side mixer state: what the user set on each stem strip, and pure maths on it.

Runs on the GUI thread only. The engine owns the real mixer; this mirror exists so that widgets,
presets and "export current mix" agree on one truth. Gains are in dB, ``-inf`` is silence; pan
goes from -100 (hard left) to +100 (hard right), 0 = as separated. Tempo (a speed ratio) and
pitch (semitones) are shown with :func:`format_tempo` and :func:`format_pitch`; their limits
are the engine's (``engine.stretch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from engine.levels import PAN_MAX
from engine.mixsettings import stem_audible

FADER_MAX_DB = 6.0
FADER_MIN_DB = -66.0  # the bottom of the fader travel; the very bottom is -inf
FADER_STEPS = 1000  # integer resolution of a fader (QSlider positions)


def fader_to_db(pos: int) -> float:
    """Fader position ``0..FADER_STEPS`` → dB. Square law: fine control near 0 dB, -inf at 0."""
    if pos <= 0:
        return -math.inf
    travel = 1.0 - min(pos, FADER_STEPS) / FADER_STEPS
    # a tenth of a dB is below what anyone hears; rounding makes the 0 dB detent exact
    return round(FADER_MAX_DB - (FADER_MAX_DB - FADER_MIN_DB) * travel * travel, 1) + 0.0


def db_to_fader(db: float) -> int:
    """Inverse of :func:`fader_to_db` (clamped to the travel)."""
    if db == -math.inf or db <= FADER_MIN_DB:
        return 0
    db = min(db, FADER_MAX_DB)
    travel = math.sqrt((FADER_MAX_DB - db) / (FADER_MAX_DB - FADER_MIN_DB))
    return max(1, round((1.0 - travel) * FADER_STEPS))


def format_db(db: float) -> str:
    """``-inf`` → ``"-∞ dB"``, else one decimal with sign (``"+1.5 dB"``, ``"-12.0 dB"``)."""
    if db == -math.inf:
        return "-∞ dB"
    return f"{db:+.1f} dB"


def clamp_pan(value: float) -> float:
    """``value`` within -100..100 (NaN → 0)."""
    if math.isnan(value):
        return 0.0
    return min(PAN_MAX, max(-PAN_MAX, float(value)))


def format_pan(value: float) -> str:
    """``0`` → ``"C"``, ``-100`` → ``"L100"``, ``35`` → ``"R35"``."""
    v = round(clamp_pan(value))
    if v == 0:
        return "C"
    return f"{'L' if v < 0 else 'R'}{abs(v)}"


def format_tempo(ratio: float) -> str:
    """``0.75`` → ``"75 %"``."""
    return f"{round(ratio * 100)} %"


def format_pitch(semitones: float) -> str:
    """``2`` → ``"+2 st"``, ``-1.25`` → ``"-1 st -25 ct"``, ``0`` → ``"0 st"``."""
    st, ct = split_pitch(semitones)
    text = f"{st:+d} st" if st else "0 st"
    return f"{text} {ct:+d} ct" if ct else text


def split_pitch(semitones: float) -> tuple[int, int]:
    """Semitones → (whole semitones, cents -50..50), e.g. 1.75 → (2, -25)."""
    cents = round(semitones * 100)
    st = round(cents / 100)
    return int(st), int(cents - 100 * st)


@dataclass(frozen=True)
class MixState:
    """Per-stem gain (dB), mute, solo and pan, in the model's stem order."""

    stems: tuple[str, ...]
    gains_db: dict[str, float] = field(default_factory=dict)
    muted: frozenset[str] = frozenset()
    soloed: frozenset[str] = frozenset()
    pans: dict[str, float] = field(default_factory=dict)

    @classmethod
    def unity(cls, stems: tuple[str, ...] | list[str]) -> MixState:
        stems = tuple(stems)
        return cls(stems, {s: 0.0 for s in stems})

    def gain(self, stem: str) -> float:
        return self.gains_db.get(stem, 0.0)

    def pan(self, stem: str) -> float:
        return self.pans.get(stem, 0.0)

    def with_pan(self, stem: str, value: float) -> MixState:
        return replace(self, pans={**self.pans, stem: clamp_pan(value)})

    def with_gain(self, stem: str, db: float) -> MixState:
        return replace(self, gains_db={**self.gains_db, stem: db})

    def with_mute(self, stem: str, on: bool) -> MixState:
        return replace(self, muted=self.muted | {stem} if on else self.muted - {stem})

    def with_solo(self, stem: str, on: bool) -> MixState:
        return replace(self, soloed=self.soloed | {stem} if on else self.soloed - {stem})

    def audible(self, stem: str) -> bool:
        """Whether the engine lets ``stem`` through: its solo/mute rule
        (:func:`engine.mixsettings.stem_audible`: mute beats solo; when any stem is soloed only the
        soloed ones play)."""
        return stem_audible(stem, self.muted, self.soloed)

    def effective_db(self) -> dict[str, float]:
        """What each stem contributes to the mix, in dB (``-inf`` when not audible)."""
        return {s: (self.gain(s) if self.audible(s) else -math.inf) for s in self.stems}


#: Presets of the stem strips: name → (muted stems, soloed stems). Gains go back to 0 dB.
PRESETS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "All": (frozenset(), frozenset()),
    "Karaoke": (frozenset({"vocals"}), frozenset()),
    "A cappella": (frozenset(), frozenset({"vocals"})),
    "Drumless": (frozenset({"drums"}), frozenset()),
    "Bassless": (frozenset({"bass"}), frozenset()),
}


def apply_preset(state: MixState, preset: str) -> MixState:
    """The state after a preset; stems the model does not have are ignored. Pan is kept (a
    preset says what is heard, not where)."""
    muted, soloed = PRESETS[preset]
    present = set(state.stems)
    return MixState(
        state.stems,
        {s: 0.0 for s in state.stems},
        frozenset(muted & present),
        frozenset(soloed & present),
        dict(state.pans),
    )
