"""One generated song: choose the sources for the split, render every track, produce the stems.

Owns ``generate(seed, seconds, split) -> Song``: the arrangement (``arrangement.plan``), the
sources (soundfonts, GM programs, drum kit, voices: only those of the split), rendering
(``instruments``, ``drums``, ``vocals``), production (``production``) and the metadata that goes
into ``manifest.json``. A song is a pure function of ``(seed, seconds, split)``. Runs in a
generator worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from training.synth import arrangement, drums, instruments, production, sources, vocals
from training.synth.parts import nearest
from training.synth.score import MODES, Hit, Note

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# typical level of each stem relative to the others (dB RMS over its active part)
STEM_LEVEL_DB = {"vocals": -17.0, "drums": -17.0, "bass": -19.0, "other": -19.0}
# drum piece -> stereo position (drummer's view is flipped at random per song)
PIECE_PAN = {
    "kick": 0.0,
    "snare": 0.05,
    "rim": 0.05,
    "clap": 0.0,
    "hh_closed": 0.35,
    "hh_pedal": 0.35,
    "hh_open": 0.35,
    "tom_hi": 0.25,
    "tom_mid": -0.1,
    "tom_lo": -0.4,
    "crash": -0.5,
    "ride": 0.55,
    "ride_bell": 0.55,
    "tamb": 0.6,
    "cowbell": -0.3,
}


@dataclass
class Song:
    """Stems ``{name: (channels=2, samples)}`` float32 (mixture = their sum) and metadata."""

    stems: dict[str, np.ndarray]
    meta: dict


def _pick(rng: np.random.Generator, items: list | tuple):
    return items[int(rng.integers(len(items)))]


def _transpose(notes: list[Note], semis: int) -> list[Note]:
    return [Note(n.start, n.dur, n.pitch + semis, n.vel) for n in notes]


def _harmony(notes: list[Note], key: int, mode: str, steps: int) -> list[Note]:
    """Diatonic parallel harmony ``steps`` scale degrees above (negative: below)."""
    scale = sorted((key + i) % 12 for i in MODES[mode])
    out = []
    for n in notes:
        pc = n.pitch % 12
        idx = min(range(7), key=lambda i: min((scale[i] - pc) % 12, (pc - scale[i]) % 12))
        tgt = scale[(idx + steps) % 7]
        delta = (tgt - pc) % 12 if steps > 0 else -((pc - tgt) % 12)
        out.append(Note(n.start, n.dur, n.pitch + delta, int(n.vel * 0.85)))
    return out


def _range_shift(notes: list[Note], voice: sources.Voice) -> int:
    """Semitones that put the melody's median in the voice's comfortable range."""
    med = float(np.median([n.pitch for n in notes])) if notes else 64.0
    target = 65 if vocals.is_female(voice) else 56
    if voice.engine == "sinsy" and voice.formant < -3:
        target = 62
    return round(target - med)


def _delay(x: np.ndarray, seconds: float) -> np.ndarray:
    k = round(seconds * SAMPLE_RATE)
    return np.concatenate([np.zeros(k, np.float32), x[: len(x) - k]]) if k > 0 else x


def generate(seed: int, seconds: float, split: str = "train", lufs: float | None = None) -> Song:
    """Generate one song of ``seconds`` from ``seed`` with the sources of ``split``; ``lufs``
    overrides the drawn loudness target (the peak ceiling still applies)."""
    arr = arrangement.plan(seed, seconds)
    rng = np.random.default_rng([seed, 1])
    n = round(seconds * SAMPLE_RATE)
    meta: dict = {
        "seed": int(seed),
        "split": split,
        "seconds": seconds,
        "genre": arr.genre.name,
        "bpm": round(arr.bpm, 2),
        "meter": arr.meter,
        "swing": round(arr.swing, 3),
        "key": f"{NOTE_NAMES[arr.key]} {arr.mode}",
        "sections": [
            {
                "name": s.name,
                "start_s": round(arr.t(s.bar0, 0), 3),
                "end_s": round(min(seconds, arr.t(s.bar0 + s.bars, 0)), 3),
                "vocals": s.vocals,
                "drums": s.drums,
                "bass": s.bass,
                "other": list(s.others),
            }
            for s in arr.sections
            if arr.t(s.bar0, 0) < seconds
        ],
        "tracks": [],
    }
    tracks: dict[str, list[np.ndarray]] = {s: [] for s in DEFAULT_STEMS}

    # --- pitched parts: bass and "other", one fluidsynth render per soundfont ----------------
    fonts = sources.soundfonts(split)
    main_font = _pick(rng, fonts)
    bass_kind = _pick(rng, arr.genre.bass_kinds)
    by_font: dict[str, list[instruments.Part]] = {}
    bass_font = _pick(rng, fonts) if rng.random() < 0.3 else main_font
    by_font.setdefault(bass_font, []).append(
        instruments.Part(
            "bass", _pick(rng, sources.BASS_PROGRAMS[bass_kind]), tuple(arr.parts["bass"])
        )
    )
    for role in arr.other_roles:
        font = _pick(rng, fonts) if rng.random() < 0.25 else main_font
        by_font.setdefault(font, []).append(
            instruments.Part(role, _pick(rng, sources.OTHER_PROGRAMS[role]), tuple(arr.parts[role]))
        )

    # --- drums: a recorded kit, or a soundfont kit rendered with the pitched parts -------------
    kits = sources.drum_kits(split)
    want_electronic = arr.genre.name in ("electronic", "hiphop") and rng.random() < 0.7
    pool = [k for k in kits if k.electronic == want_electronic] or kits
    kit = _pick(rng, pool)
    drum_tracks: dict[str, np.ndarray] = {}
    if kit.kind == "soundfont":
        notes = tuple(
            Note(h.time, 0.2, drums.GM_NOTES[h.piece], int(20 + 107 * h.vel)) for h in arr.hits
        )
        by_font.setdefault(kit.path, []).append(
            instruments.Part("drums", kit.program, notes, drum=True)
        )
    else:
        drum_tracks = drums.render_kit(kit, arr.hits, n, rng)
    rendered: dict[str, np.ndarray] = {}
    for font, parts in by_font.items():
        rendered.update(instruments.render_parts(parts, font, seconds))
        for p in parts:
            meta["tracks"].append(
                {
                    "name": p.name,
                    "source": font.rsplit("/", 1)[-1],
                    "program": p.program,
                    "drum": p.drum,
                }
            )
    if "drums" in rendered:
        drum_tracks = {"kit": rendered.pop("drums")}
    meta["drum_kit"] = kit.name
    flip = -1.0 if rng.random() < 0.5 else 1.0
    drum_bus = np.zeros((2, n), np.float32)
    for piece, x in drum_tracks.items():
        mono_like = np.allclose(x[0], x[1], atol=1e-4)
        pos = flip * PIECE_PAN.get(piece, 0.0) * float(rng.uniform(0.6, 1.2))
        drum_bus += production.pan(x[0], pos) if mono_like else x
    perc = sources.percussion_kits(split)
    if perc and arr.genre.name in ("pop", "folk", "funk") and rng.random() < 0.4:
        pkit = perc[0]
        shaker = [h for h in arr.hits if h.piece.startswith("hh")]
        extra = drums.render_kit(
            pkit, [Hit(h.time + 0.004, "tamb", h.vel * 0.7) for h in shaker], n, rng
        )
        for x in extra.values():
            drum_bus += production.pan(x.mean(axis=0), flip * 0.6) * 0.5
        meta["percussion_kit"] = pkit.name
    drum_bus, fx = production.process(drum_bus, "drums", rng)
    tracks["drums"].append(production.set_level(drum_bus, 0.0))
    meta["tracks"].append({"name": "drums", "source": kit.name, "fx": fx})

    bass, fx = production.process(
        production.pan(rendered.pop("bass").mean(axis=0), 0.0), "bass", rng
    )
    tracks["bass"].append(production.set_level(bass, 0.0))
    meta["tracks"][0]["fx"] = fx
    positions = list(np.linspace(-0.7, 0.7, max(2, len(arr.other_roles))))
    rng.shuffle(positions)
    for i, role in enumerate(arr.other_roles):
        x = rendered.pop(role)
        if not np.any(x):
            continue
        kind = "drive" if role == "drive_guitar" else "other"
        y, fx = production.process(production.pan(x.mean(axis=0), positions[i]), kind, rng)
        y = production.set_level(y, float(rng.uniform(-6, 0)))
        tracks["other"].append(y * production.automation(n, rng, 2.0))
        next(t for t in meta["tracks"] if t["name"] == role)["fx"] = fx

    # --- vocals ------------------------------------------------------------------------------
    voices = sources.voices(split)
    espeak_voices = [v for v in voices if v.engine == "espeak"]
    lead_notes = [note for phrase in arr.melody for note in phrase]
    chorus = [(s.bar0, s.bar0 + s.bars) for s in arr.sections if s.name == "chorus"]
    bar_s = arr.steps_per_bar * arr.step_s
    in_chorus = [
        nt for nt in lead_notes if any(a * bar_s <= nt.start < b * bar_s for a, b in chorus)
    ]
    meta["voices"] = []

    def add_vocal(
        x: np.ndarray, role: str, voice: sources.Voice, position: float, level_db: float
    ) -> None:
        if not np.any(x):
            return
        y, fx = production.process(production.pan(x, position), "vocal", rng)
        tracks["vocals"].append(production.set_level(y, level_db))
        meta["voices"].append({"role": role, "voice": voice.key, "fx": fx})

    if arr.rap:
        lead = _pick(rng, espeak_voices)
        add_vocal(vocals.rap_espeak(arr.melody, lead, rng, n), "rap", lead, 0.0, 0.0)
        sung_hook = in_chorus and rng.random() < 0.6
        if sung_hook:
            hook = _pick(rng, voices)
            notes = _transpose(in_chorus, _range_shift(in_chorus, hook))
            add_vocal(
                vocals.sing(notes, hook, rng, arr.step_s, arr.steps_per_bar, n),
                "hook",
                hook,
                float(rng.uniform(-0.2, 0.2)),
                -3.0,
            )
    else:
        lead = _pick(rng, voices)
        shift = _range_shift(lead_notes, lead)
        notes = _transpose(lead_notes, shift)
        lead_audio = vocals.sing(notes, lead, rng, arr.step_s, arr.steps_per_bar, n)
        add_vocal(lead_audio, "lead", lead, 0.0, 0.0)
        if rng.random() < 0.5:  # unison double: the hard case for separation
            same = rng.random() < 0.5
            dbl = (
                sources.Voice(lead.engine, lead.name, lead.formant + float(rng.uniform(-1, 1)))
                if same
                else _pick(rng, voices)
            )
            dnotes = notes if same else _transpose(lead_notes, _range_shift(lead_notes, dbl))
            x = vocals.sing(dnotes, dbl, rng, arr.step_s, arr.steps_per_bar, n)
            side = float(rng.choice([-1, 1]))
            add_vocal(
                _delay(x, float(rng.uniform(0.008, 0.03))),
                "double",
                dbl,
                side * float(rng.uniform(0.2, 0.6)),
                float(rng.uniform(-7, -2)),
            )
        if in_chorus and rng.random() < 0.6:  # harmony a third (or sixth) above in choruses
            harm = _pick(rng, voices)
            hnotes = _harmony(
                _transpose(in_chorus, shift), arr.key, arr.mode, int(rng.choice([2, 2, -2, 5]))
            )
            x = vocals.sing(hnotes, harm, rng, arr.step_s, arr.steps_per_bar, n)
            add_vocal(x, "harmony", harm, float(rng.uniform(-0.7, 0.7)), float(rng.uniform(-9, -4)))
        if chorus and rng.random() < 0.35:  # "ooh" backing on chord tones, one note per bar
            back = sources.Voice(
                "sinsy",
                "nitech_jp_song070_f001",
                _pick(rng, [v.formant for v in voices if v.engine == "sinsy"]),
            )
            bnotes = []
            for a, b in chorus:
                for bar in range(a, min(b, len(arr.chords))):
                    if bar * bar_s >= seconds:
                        break
                    pc = arr.chords[bar][int(rng.integers(1, len(arr.chords[bar])))]
                    bnotes.append(Note(bar * bar_s, bar_s * 0.9, nearest(pc, 64), 70))
            x = vocals.sing_sinsy(
                bnotes,
                rng,
                arr.step_s,
                arr.steps_per_bar,
                n,
                [str(rng.choice(["う", "あ", "お"]))] * len(bnotes),
            )
            add_vocal(
                vocals.formant_shift(x, back.formant),
                "backing",
                back,
                float(rng.uniform(-0.5, 0.5)),
                float(rng.uniform(-12, -6)),
            )

    # --- stems, balance, loudness --------------------------------------------------------------
    stems = {}
    for name in DEFAULT_STEMS:
        x = sum(tracks[name]) if tracks[name] else np.zeros((2, n), np.float32)
        if name != "vocals":
            x = x * production.automation(n, rng, 1.5)
        level = STEM_LEVEL_DB[name] + float(rng.uniform(-4, 4))
        stems[name] = production.set_level(x.astype(np.float32), level)
    target = float(rng.uniform(-22, -10))
    if lufs is not None:
        target = float(lufs)
    stems, _ = production.fit_song(stems, target)
    meta["target_lufs"] = round(target, 2)
    meta["loudness_lufs"] = {k: round(production.loudness(v), 2) for k, v in stems.items()}
    meta["loudness_lufs"]["mixture"] = round(production.loudness(sum(stems.values())), 2)
    return Song(stems=stems, meta=meta)
