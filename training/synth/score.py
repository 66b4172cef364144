"""The musical vocabulary and records of a generated song (no audio, no randomness).

Owns the modes and chord progressions, the genres (tempo, metre, swing, styles of each part,
chance of rap) and the records an arrangement is made of: ``Note``, ``Hit``, ``Section``,
``Arrangement``. ``arrangement.plan`` draws one; ``parts`` writes its notes. Pure data: any
thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}

# progressions as scale degrees (0-based), one chord per bar
PROGRESSIONS = {
    "major": (
        (0, 4, 5, 3),
        (0, 3, 4, 3),
        (5, 3, 0, 4),
        (0, 5, 3, 4),
        (0, 3, 0, 4),
        (1, 4, 0, 0),
        (0, 2, 3, 4),
        (3, 4, 0, 5),
    ),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (5, 6, 0, 0), (0, 4, 5, 3)),
    "dorian": ((0, 3, 0, 3), (0, 6, 3, 0), (0, 1, 0, 6)),
    "mixolydian": ((0, 6, 3, 0), (0, 3, 6, 3), (0, 6, 0, 3)),
}


@dataclass(frozen=True)
class Genre:
    name: str
    bpm: tuple[int, int]
    meters: tuple[str, ...]
    swing: tuple[float, float]
    bass_styles: tuple[str, ...]
    bass_kinds: tuple[str, ...]
    other_roles: tuple[str, ...]  # keys of sources.OTHER_PROGRAMS
    modes: tuple[str, ...]
    rap: float = 0.0  # probability that the lead vocal is rapped


GENRES = (
    Genre(
        "rock",
        (90, 165),
        ("4/4",),
        (0.0, 0.0),
        ("eighths", "root_fifth"),
        ("pick", "finger"),
        ("drive_guitar", "clean_guitar", "organ", "piano", "strings"),
        ("major", "minor", "mixolydian"),
    ),
    Genre(
        "pop",
        (80, 130),
        ("4/4", "4/4", "6/8"),
        (0.0, 0.05),
        ("root_fifth", "synco", "eighths"),
        ("finger", "synth", "pick"),
        ("piano", "epiano", "pad", "clean_guitar", "strings", "bells", "pluck", "steel"),
        ("major", "minor"),
    ),
    Genre(
        "funk",
        (90, 122),
        ("4/4",),
        (0.0, 0.12),
        ("synco",),
        ("slap", "finger"),
        ("clav", "muted_guitar", "brass", "epiano", "organ", "sax"),
        ("dorian", "mixolydian", "minor"),
    ),
    Genre(
        "hiphop",
        (70, 100),
        ("4/4",),
        (0.08, 0.28),
        ("synco", "root_whole"),
        ("synth", "finger"),
        ("epiano", "pad", "bells", "strings", "piano", "flute"),
        ("minor", "dorian"),
        rap=0.55,
    ),
    Genre(
        "electronic",
        (112, 175),
        ("4/4",),
        (0.0, 0.0),
        ("synth_octave", "eighths"),
        ("synth",),
        ("pad", "lead", "pluck", "bells", "strings"),
        ("minor", "major"),
    ),
    Genre(
        "ballad",
        (60, 86),
        ("4/4", "3/4", "6/8"),
        (0.0, 0.0),
        ("root_whole", "root_fifth"),
        ("fretless", "finger", "acoustic"),
        ("piano", "strings", "pad", "nylon", "epiano", "harp", "flute"),
        ("major", "minor"),
    ),
    Genre(
        "shuffle",
        (88, 140),
        ("4/4",),
        (0.28, 0.34),
        ("walking", "root_fifth"),
        ("acoustic", "finger"),
        ("organ", "piano", "clean_guitar", "sax", "brass"),
        ("mixolydian", "major"),
    ),
    Genre(
        "folk",
        (90, 150),
        ("3/4", "6/8", "4/4"),
        (0.0, 0.0),
        ("root_fifth", "root_whole"),
        ("acoustic", "finger", "cello"),
        ("steel", "nylon", "flute", "strings", "piano", "harp"),
        ("major", "minor"),
    ),
)

# steps per bar (16th notes) per metre
METER_STEPS = {"4/4": 16, "3/4": 12, "6/8": 12}


@dataclass(frozen=True)
class Note:
    """One pitched note: onset and duration in seconds, MIDI pitch, MIDI velocity."""

    start: float
    dur: float
    pitch: int
    vel: int


@dataclass(frozen=True)
class Hit:
    """One drum hit: onset in seconds, kit piece name, velocity in [0, 1]."""

    time: float
    piece: str
    vel: float


@dataclass
class Section:
    name: str
    bar0: int
    bars: int
    vocals: bool
    drums: bool
    bass: bool
    others: tuple[str, ...]  # the "other" parts playing
    energy: float  # 0..1


@dataclass
class Arrangement:
    seed: int
    genre: Genre
    bpm: float
    meter: str
    swing: float
    key: int
    mode: str
    sections: list[Section]
    chords: list[tuple[int, ...]]  # per bar: chord pitch classes, root first
    other_roles: tuple[str, ...]
    duration: float
    parts: dict[str, list[Note]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    melody: list[list[Note]] = field(default_factory=list)  # phrases of the lead vocal
    rap: bool = False

    @property
    def steps_per_bar(self) -> int:
        return METER_STEPS[self.meter]

    @property
    def step_s(self) -> float:
        return 60.0 / self.bpm / 4.0

    @property
    def bars(self) -> int:
        return sum(s.bars for s in self.sections)

    def t(self, bar: int, step: float) -> float:
        """Onset in seconds of 16th ``step`` of ``bar`` with swing on off-beat 8ths."""
        if self.swing and int(step) % 4 == 2 and step == int(step):
            step = step + 2 * self.swing
        return (bar * self.steps_per_bar + step) * self.step_s

    def section_at(self, bar: int) -> Section:
        for s in self.sections:
            if s.bar0 <= bar < s.bar0 + s.bars:
                return s
        return self.sections[-1]
