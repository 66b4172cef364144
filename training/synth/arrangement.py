"""Song arrangement: genre, tempo, metre, key, chord progression, sections and every part's notes.

Owns the musical plan of one generated song (no audio): ``plan(seed, seconds)`` draws the
song-level decisions (genre, tempo, metre, key, sections and which parts play in them, the
chords) and has ``training/synth/parts.py`` write the bass line, the "other" parts (comping,
pads, arpeggios, counter-melodies), the drum hits and the vocal melody with its phrases; the
records are in ``training/synth/score.py``. Everything is drawn from one
``numpy.random.Generator`` so a song is a pure function of its seed. Runs in a generator worker
process.
"""

from __future__ import annotations

import numpy as np

from training.synth.parts import bass_line, drum_hits, other_part, vocal_melody
from training.synth.score import (
    GENRES,
    METER_STEPS,
    MODES,
    PROGRESSIONS,
    Arrangement,
    Genre,
    Section,
)


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
