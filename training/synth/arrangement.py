"""Song arrangement: genre, tempo, metre, key, chord progression, sections and every part's notes.

Owns the musical plan of one generated song (no audio): which parts play in which section, the
bass line, the "other" parts (comping, pads, arpeggios, counter-melodies), the drum hits and the
vocal melody with its phrases. Everything is drawn from one ``numpy.random.Generator`` so a song
is a pure function of its seed. Runs in a generator worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


def _chord(key: int, mode: str, degree: int, seventh: bool) -> tuple[int, ...]:
    scale = MODES[mode]
    idx = (0, 2, 4, 6) if seventh else (0, 2, 4)
    return tuple((key + scale[(degree + i) % 7] + 12 * ((degree + i) // 7)) % 12 for i in idx)


def _sections(rng: np.random.Generator, bars_needed: int, genre: Genre) -> list[tuple[str, int]]:
    # the intro takes at most ~15 % of the song so that short songs still have all stems
    intro = min(int(rng.choice([1, 2, 2, 4])), int(0.15 * bars_needed))
    layout: list[tuple[str, int]] = [("intro", intro)] if intro else []
    while sum(b for _, b in layout) < bars_needed:
        n = len(layout) + (0 if intro else 1)
        if n in (1, 3) or (n > 4 and rng.random() < 0.35):
            name = "verse"
        elif n in (2, 4) or rng.random() < 0.6:
            name = "chorus"
        else:
            name = str(rng.choice(["bridge", "break"]))
        bars = int(rng.choice([4, 8] if name != "break" else [2, 4]))
        layout.append((name, bars))
    if rng.random() < 0.5:
        layout.append(("outro", 2))
    return layout


def plan(seed: int, seconds: float) -> Arrangement:
    """Draw the song-level decisions and fill in every part."""
    rng = np.random.default_rng(seed)
    genre = GENRES[int(rng.integers(len(GENRES)))]
    meter = str(rng.choice(genre.meters))
    bpm = float(rng.uniform(*genre.bpm))
    if meter == "6/8":
        bpm = float(np.clip(bpm * 1.4, 90, 180))  # bpm counts eighths-in-quarters: keep it lively
    swing = float(rng.uniform(*genre.swing))
    key = int(rng.integers(12))
    mode = str(rng.choice(genre.modes))
    step_s = 60.0 / bpm / 4.0
    bar_s = METER_STEPS[meter] * step_s
    bars_needed = int(np.ceil(seconds / bar_s)) + 1
    layout = _sections(rng, bars_needed, genre)
    n_other = int(rng.integers(2, 5))
    roles = tuple(
        str(r)
        for r in rng.choice(
            genre.other_roles, size=min(n_other, len(genre.other_roles)), replace=False
        )
    )
    progs = PROGRESSIONS[mode]
    prog_for = {
        name: progs[int(rng.integers(len(progs)))]
        for name in ("intro", "verse", "chorus", "bridge", "break", "outro")
    }
    prog_for["outro"] = prog_for["chorus"]
    seventh = genre.name in ("funk", "hiphop", "shuffle") or rng.random() < 0.2
    sections: list[Section] = []
    chords: list[tuple[int, ...]] = []
    bar0 = 0
    vocal_prob = {
        "intro": 0.0,
        "verse": 0.85,
        "chorus": 0.95,
        "bridge": 0.5,
        "break": 0.15,
        "outro": 0.2,
    }
    for name, bars in layout:
        energy = {
            "intro": 0.3,
            "verse": 0.55,
            "chorus": 0.9,
            "bridge": 0.6,
            "break": 0.25,
            "outro": 0.4,
        }[name] + float(rng.uniform(-0.1, 0.1))
        k = max(1, round(len(roles) * min(1.0, energy + 0.3)))
        others = tuple(str(r) for r in rng.choice(roles, size=min(k, len(roles)), replace=False))
        sections.append(
            Section(
                name=name,
                bar0=bar0,
                bars=bars,
                vocals=bool(rng.random() < vocal_prob[name]),
                drums=name not in ("intro", "break") or rng.random() < 0.4,
                bass=name != "intro" or rng.random() < 0.4,
                others=others,
                energy=float(np.clip(energy, 0.1, 1.0)),
            )
        )
        prog = prog_for[name]
        for b in range(bars):
            chords.append(_chord(key, mode, prog[b % len(prog)], seventh))
        bar0 += bars
    # the song must have vocals somewhere and a silent-vocal section somewhere
    if not any(s.vocals for s in sections):
        next(s for s in sections if s.name in ("verse", "chorus")).vocals = True
    arr = Arrangement(
        seed=seed,
        genre=genre,
        bpm=bpm,
        meter=meter,
        swing=swing,
        key=key,
        mode=mode,
        sections=sections,
        chords=chords,
        other_roles=roles,
        duration=seconds,
        rap=bool(rng.random() < genre.rap),
    )
    arr.parts["bass"] = bass_line(arr, rng)
    for role in roles:
        arr.parts[role] = other_part(arr, rng, role)
    arr.hits = drum_hits(arr, rng)
    arr.melody = vocal_melody(arr, rng)
    return arr


# --- pitched parts ---------------------------------------------------------------------------
def _humanise(rng: np.random.Generator, t: float, amount: float = 0.008) -> float:
    return max(0.0, t + float(rng.normal(0.0, amount)))


def _nearest(pc: int, around: int) -> int:
    """MIDI pitch with pitch class ``pc`` nearest to ``around``."""
    base = around - ((around - pc) % 12)
    return base if around - base <= 6 else base + 12


def bass_line(arr: Arrangement, rng: np.random.Generator) -> list[Note]:
    style = str(rng.choice(arr.genre.bass_styles))
    spb = arr.steps_per_bar
    centre = int(rng.integers(33, 43))
    notes: list[Note] = []
    for bar, chord in enumerate(arr.chords):
        sec = arr.section_at(bar)
        if not sec.bass:
            continue
        root = _nearest(chord[0], centre)
        fifth = root + 7 if root + 7 <= 52 else root - 5
        vel = int(70 + 40 * sec.energy)
        if style == "root_whole":
            cells = [(0, spb, root)]
        elif style == "eighths":
            cells = [
                (s, 2, root if s < spb - 2 or rng.random() < 0.7 else fifth)
                for s in range(0, spb, 2)
            ]
        elif style == "root_fifth":
            half = spb // 2 if spb == 16 else spb // 3
            cells = [(0, half, root), (half, half, fifth)]
            if spb == 12:
                cells.append((2 * half, half, root + 12 if root < 40 else root))
        elif style == "synco":
            pattern = [
                (0, 3, root),
                (3, 1, root),
                (6, 2, root + 12),
                (10, 2, root),
                (13, 1, fifth),
                (14, 2, root),
            ]
            cells = [(s, d, p) for s, d, p in pattern if s < spb]
        elif style == "synth_octave":
            cells = [(s, 1, root + (12 if (s // 2) % 2 else 0)) for s in range(0, spb, 2)]
        else:  # walking quarters: chord tones then a chromatic approach to the next root
            nxt = _nearest(arr.chords[min(bar + 1, len(arr.chords) - 1)][0], centre)
            third = _nearest(chord[1], root + 4)
            line = [root, third, fifth, nxt + (1 if rng.random() < 0.5 else -1)]
            cells = [(4 * i, 4, line[i]) for i in range(spb // 4)]
        for s, d, p in cells:
            t0 = _humanise(rng, arr.t(bar, s))
            dur = d * arr.step_s * float(rng.uniform(0.75, 0.95))
            notes.append(Note(t0, dur, int(p), int(np.clip(vel + rng.normal(0, 8), 30, 127))))
    return notes


def _voicing(chord: tuple[int, ...], low: int) -> list[int]:
    out, p = [], low
    for pc in chord:
        p = p + ((pc - p) % 12)
        out.append(p)
    return out


def other_part(arr: Arrangement, rng: np.random.Generator, role: str) -> list[Note]:
    spb = arr.steps_per_bar
    low = int(rng.integers(50, 62))
    notes: list[Note] = []
    if role in ("pad", "strings", "organ"):
        kind = "pad"
    elif role in ("lead", "flute", "sax", "brass") and rng.random() < 0.6:
        kind = "counter"
    elif role in ("bells", "pluck", "harp") or (role in ("nylon", "steel") and rng.random() < 0.5):
        kind = "arp"
    else:
        kind = "comp"
    rhythm = [s for s in range(0, spb, 2) if rng.random() < 0.55] or [0]
    if kind == "comp" and rng.random() < 0.4:
        rhythm = [s for s in range(2, spb, 4)]  # off-beat stabs
    arp_step = int(rng.choice([1, 2])) if kind == "arp" else 2
    prev = low + 12
    for bar, chord in enumerate(arr.chords):
        sec = arr.section_at(bar)
        if role not in sec.others:
            continue
        vel = int(50 + 50 * sec.energy)
        voiced = _voicing(chord, low)
        if kind == "pad":
            for p in voiced:
                notes.append(Note(arr.t(bar, 0), spb * arr.step_s * 0.98, p, vel - 10))
        elif kind == "comp":
            for s in rhythm:
                t0 = _humanise(rng, arr.t(bar, s))
                dur = arr.step_s * float(rng.choice([1.5, 2, 3]))
                strum = 0.012 if "guitar" in role or role in ("nylon", "steel") else 0.0
                for i, p in enumerate(voiced):
                    notes.append(
                        Note(t0 + i * strum, dur, p, int(np.clip(vel + rng.normal(0, 6), 20, 127)))
                    )
        elif kind == "arp":
            seq = voiced + [p + 12 for p in voiced]
            if rng.random() < 0.3:
                seq = seq[::-1]
            for i, s in enumerate(range(0, spb, arp_step)):
                p = seq[i % len(seq)]
                notes.append(
                    Note(
                        _humanise(rng, arr.t(bar, s), 0.004),
                        arp_step * arr.step_s * 1.5,
                        p,
                        int(np.clip(vel + rng.normal(0, 8), 20, 127)),
                    )
                )
        else:  # counter-melody: a few notes answering in the second half of the bar
            scale = [(arr.key + i) % 12 for i in MODES[arr.mode]]
            for s in range(spb // 2, spb, 2):
                if rng.random() < 0.5:
                    continue
                pc = (
                    chord[int(rng.integers(len(chord)))]
                    if rng.random() < 0.6
                    else scale[int(rng.integers(7))]
                )
                prev = int(np.clip(_nearest(pc, prev), low + 7, low + 26))
                notes.append(
                    Note(
                        _humanise(rng, arr.t(bar, s)),
                        2 * arr.step_s * 0.9,
                        prev,
                        int(np.clip(vel + rng.normal(0, 8), 20, 127)),
                    )
                )
    return notes


# --- drums -----------------------------------------------------------------------------------
_GROOVES_44 = {
    "rock": {
        "kick": ("x.......x.x.....", "x.....x.x.......", "x......xx.x....."),
        "snare": ("....x.......x...",),
        "hh_closed": ("x.x.x.x.x.x.x.x.",),
    },
    "pop": {
        "kick": ("x.....x...x.....", "x..x..x...x....."),
        "snare": ("....x.......x...",),
        "clap": ("....x.......x...", "................"),
        "hh_closed": ("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x."),
    },
    "funk": {
        "kick": ("x..x..x...x..x..", "x.x...x..x......"),
        "snare": ("....x..x.x..x..x",),
        "hh_closed": ("xxxxxxxxxxxxxx.x",),
        "hh_open": ("..............x.",),
    },
    "hiphop": {
        "kick": ("x.......x.x.....", "x..x......x..x..", "x.....x..x......"),
        "snare": ("....x.......x...",),
        "clap": ("....x.......x...", "................"),
        "hh_closed": ("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"),
    },
    "electronic": {
        "kick": ("x...x...x...x...",),
        "clap": ("....x.......x...",),
        "hh_open": ("..x...x...x...x.",),
        "hh_closed": ("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x."),
    },
    "ballad": {
        "kick": ("x.......x.......", "x......x..x....."),
        "rim": ("....x.......x...",),
        "snare": ("....x.......x...",),
        "hh_closed": ("x.x.x.x.x.x.x.x.",),
    },
    "shuffle": {
        "kick": ("x.....x.x.......", "x.......x......."),
        "snare": ("....x.......x...",),
        "ride": ("x.x.x.x.x.x.x.x.",),
        "hh_pedal": ("....x.......x...",),
    },
    "folk": {
        "kick": ("x.......x.......",),
        "snare": ("....x.......x...",),
        "hh_closed": ("x.x.x.x.x.x.x.x.",),
        "tamb": ("..x...x...x...x.",),
    },
}
_GROOVES_3 = {  # 12 sixteenth steps: 3/4 and 6/8
    "3/4": {
        "kick": ("x...........", "x.......x..."),
        "snare": ("....x...x...",),
        "hh_closed": ("x.x.x.x.x.x.",),
    },
    "6/8": {
        "kick": ("x...........", "x.........x."),
        "snare": ("......x.....",),
        "hh_closed": ("x.x.x.x.x.x.",),
    },
}
_ACCENT = {0: 1.0, 4: 0.85, 8: 0.95, 12: 0.85}


def drum_hits(arr: Arrangement, rng: np.random.Generator) -> list[Hit]:
    if arr.steps_per_bar == 16:
        groove = _GROOVES_44[arr.genre.name]
    else:
        groove = _GROOVES_3[arr.meter]
    pattern = {piece: str(rng.choice(opts)) for piece, opts in groove.items()}
    if "snare" in pattern and "rim" in pattern:
        del pattern["rim" if rng.random() < 0.5 else "snare"]
    ghost = arr.genre.name in ("funk", "hiphop", "shuffle", "pop")
    spb = arr.steps_per_bar
    hits: list[Hit] = []
    jitter = float(rng.uniform(0.002, 0.012))
    for sec in arr.sections:
        if not sec.drums:
            continue
        quiet = sec.name in ("intro", "break", "outro")
        chorus_ride = sec.name == "chorus" and rng.random() < 0.35 and "hh_closed" in pattern
        for b in range(sec.bars):
            bar = sec.bar0 + b
            fill = b == sec.bars - 1 and sec.bars > 1 and rng.random() < 0.6
            fill_from = spb - int(rng.choice([4, 8])) if fill else spb
            for piece, pat in pattern.items():
                if quiet and piece in ("kick", "snare", "clap") and rng.random() < 0.5:
                    continue
                if chorus_ride and piece == "hh_closed":
                    piece = "ride"
                for s, ch in enumerate(pat[:spb]):
                    if ch != "x" or s >= fill_from:
                        continue
                    v = _ACCENT.get(s, 0.7 if s % 2 == 0 else 0.55) * (0.6 + 0.4 * sec.energy)
                    if piece.startswith("hh") or piece == "ride":
                        v *= 0.8
                    hits.append(
                        Hit(
                            _humanise(rng, arr.t(bar, s), jitter),
                            piece,
                            float(np.clip(v + rng.normal(0, 0.06), 0.05, 1.0)),
                        )
                    )
            if ghost and "snare" in pattern:
                for s in range(1, min(fill_from, spb), 2):
                    if rng.random() < 0.12:
                        hits.append(
                            Hit(
                                _humanise(rng, arr.t(bar, s), jitter),
                                "snare",
                                float(rng.uniform(0.12, 0.3)),
                            )
                        )
            if fill:
                toms = ["snare", "tom_hi", "tom_mid", "tom_lo"]
                for i, s in enumerate(range(fill_from, spb)):
                    piece = toms[min(3, i * 4 // max(1, spb - fill_from))]
                    hits.append(
                        Hit(
                            _humanise(rng, arr.t(bar, s), jitter),
                            piece,
                            float(rng.uniform(0.6, 0.95)),
                        )
                    )
            if b == 0 and sec.name in ("chorus", "bridge", "verse") and rng.random() < 0.8:
                hits.append(Hit(arr.t(bar, 0), "crash", float(rng.uniform(0.75, 1.0))))
    return hits


# --- vocal melody ----------------------------------------------------------------------------
_RHYTHMS = (  # (step, length) cells over 2 bars of 16 steps; scaled for 12-step bars
    ((0, 2), (2, 2), (4, 4), (8, 2), (10, 2), (12, 4), (16, 2), (18, 2), (20, 8)),
    ((0, 3), (3, 1), (4, 2), (6, 2), (8, 4), (12, 4), (16, 4), (20, 4), (24, 4)),
    ((2, 2), (4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (18, 2), (20, 2), (22, 6)),
    ((0, 4), (4, 4), (8, 8), (16, 4), (20, 8)),
    ((0, 2), (2, 1), (3, 1), (4, 2), (6, 2), (8, 2), (12, 2), (14, 2), (16, 6), (22, 2)),
    ((4, 2), (6, 2), (8, 2), (10, 4), (16, 2), (18, 2), (20, 2), (22, 4)),
)


def vocal_melody(arr: Arrangement, rng: np.random.Generator) -> list[list[Note]]:
    """Phrases of the lead vocal (pitches around C4-C5, the vocal module transposes them into
    the singer's range). Chord tones on strong steps, scale neighbours elsewhere."""
    spb = arr.steps_per_bar
    scale = sorted({(arr.key + i) % 12 for i in MODES[arr.mode]})
    phrases: list[list[Note]] = []
    motifs = {
        name: _RHYTHMS[int(rng.integers(len(_RHYTHMS)))]
        for name in ("verse", "chorus", "bridge", "break", "outro")
    }
    for sec in arr.sections:
        if not sec.vocals:
            continue
        centre = 64 + (3 if sec.name == "chorus" else 0)
        prev = _nearest(arr.chords[sec.bar0][0], centre)
        for b in range(0, sec.bars - 1, 2):
            cells = (
                motifs[sec.name]
                if rng.random() < 0.75
                else _RHYTHMS[int(rng.integers(len(_RHYTHMS)))]
            )
            phrase: list[Note] = []
            for step, length in cells:
                step_s = step * spb // 16
                length = max(1, length * spb // 16)
                bar = sec.bar0 + b + step_s // spb
                chord = arr.chords[bar]
                if step_s % 4 == 0:
                    pc = chord[int(rng.integers(len(chord)))]
                else:
                    here = scale.index(min(scale, key=lambda c: (c - prev) % 12))
                    pc = scale[(here + int(rng.choice([-1, 1, 1, 2]))) % len(scale)]
                p = _nearest(pc, prev + int(rng.integers(-2, 3)))
                p = int(np.clip(p, centre - 8, centre + 9))
                phrase.append(
                    Note(
                        arr.t(sec.bar0 + b, step_s),
                        length * arr.step_s * 0.95,
                        p,
                        int(rng.integers(80, 110)),
                    )
                )
                prev = p
            phrases.append(phrase)
    return phrases
