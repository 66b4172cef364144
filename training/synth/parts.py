"""The notes of a generated song's parts, written over its ``Arrangement`` (no audio).

Owns ``bass_line``, ``other_part`` (comping, pads, arpeggios, counter-melodies: the ``other``
roles of the genre), ``drum_hits`` and ``vocal_melody`` (phrases of the lead vocal), each
drawing from the song's one ``numpy.random.Generator`` in the order ``arrangement.plan`` calls
them, and ``nearest`` (the MIDI pitch of a pitch class nearest to another). Runs in a
generator worker process.
"""

from __future__ import annotations

import numpy as np

from training.synth.score import MODES, Arrangement, Hit, Note


# --- pitched parts ---------------------------------------------------------------------------
def _humanise(rng: np.random.Generator, t: float, amount: float = 0.008) -> float:
    return max(0.0, t + float(rng.normal(0.0, amount)))


def nearest(pc: int, around: int) -> int:
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
        root = nearest(chord[0], centre)
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
            nxt = nearest(arr.chords[min(bar + 1, len(arr.chords) - 1)][0], centre)
            third = nearest(chord[1], root + 4)
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
                prev = int(np.clip(nearest(pc, prev), low + 7, low + 26))
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
        prev = nearest(arr.chords[sec.bar0][0], centre)
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
                p = nearest(pc, prev + int(rng.integers(-2, 3)))
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
