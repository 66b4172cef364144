"""Catalogue of the sound sources the generator draws from, and which split may use which.

Owns: the lists of drum kits (Hydrogen kits, Sonic Pi sample kits, soundfont kits), General MIDI
soundfonts, instrument programs and singing/speaking voices, plus the split rule: the ``test``
split uses only sources that ``train`` and ``valid`` never use (held-out kits, a held-out
soundfont, held-out voices and voice settings). Pure data + look-ups; runs in any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HYDROGEN_DIR = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI_DIR = Path("/usr/share/sonic-pi/samples")
SF2_DIRS = (Path("/usr/share/sounds/sf3"), Path("/usr/share/sounds/sf2"))

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class DrumKit:
    """A drum kit: ``kind`` is ``hydrogen`` (folder with drumkit.xml), ``sonicpi`` (a set of
    Sonic Pi samples named by ``name``) or ``soundfont`` (GM bank-128 ``program`` of a soundfont
    file ``path``)."""

    name: str
    kind: str
    path: str
    program: int = 0
    electronic: bool = False


@dataclass(frozen=True)
class Voice:
    """A vocal timbre: ``engine`` is ``sinsy`` (singing synthesis, Japanese lyrics) or ``espeak``
    (syllables tuned to the melody, or rap lines); ``formant`` shifts the spectral envelope in
    semitones (negative = larger, darker vocal tract)."""

    engine: str
    name: str
    formant: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}:{self.formant:+.1f}"


# --- drum kits -------------------------------------------------------------------------------
_HYDROGEN_TRAIN = (
    "Audiophob",
    "BJA_Pacific",
    "ColomboAcousticDrumkit",
    "ElectricEmpireKit",
    "ForzeeStereo",
    "Millo-Drums_v.1",
    "Millo_MultiLayered3",
    "VariBreaks",
    "rumpf_kit_z01_h2",
)
_HYDROGEN_TEST = ("The Black Pearl 1.0", "HardElectro1", "Millo_MultiLayered2")
_ELECTRONIC = {"ElectricEmpireKit", "HardElectro1", "VariBreaks", "sonicpi-electro"}
#: extra percussion kits layered on top of a main kit now and then (shakers, hand drums)
PERCUSSION_KITS = {
    "train": ("Gimme A Hand 1.0",),
    "valid": ("Gimme A Hand 1.0",),
    "test": ("circAfrique v4",),
}

# GM bank-128 drum programs: Standard, Room, Power, Electronic, TR-808, Jazz, Brush
_SF_DRUM_PROGRAMS = {
    0: "standard",
    8: "room",
    16: "power",
    24: "electronic",
    25: "tr808",
    32: "jazz",
    40: "brush",
}

# --- soundfonts ------------------------------------------------------------------------------
SOUNDFONTS = {
    "train": ("MuseScore_General_Lite.sf3", "TimGM6mb.sf2"),
    "valid": ("MuseScore_General_Lite.sf3", "TimGM6mb.sf2"),
    "test": ("FluidR3Mono_GM.sf3",),
}

# --- voices ----------------------------------------------------------------------------------
_ESPEAK_TRAIN = (
    "en-us+m1",
    "en-us+m3",
    "en-us+f2",
    "en-us+f3",
    "en+m2",
    "en+f1",
    "en+m4",
    "en-us+klatt2",
    "de+m5",
    "es+f4",
    "it+m6",
    "fr+m2",
    "en+Andy",
    "en+belinda",
    "en-us+steph",
)
_ESPEAK_TEST = ("en+f5", "en-us+m7", "pt+f2", "nl+m3", "en+Alicia", "sv+m1")
_SINSY_TRAIN = (0.0, -2.0, 1.0, -4.0)
_SINSY_TEST = (2.5, -5.5)


def sf_path(name: str) -> str:
    for folder in SF2_DIRS:
        path = folder / name
        if path.exists():
            return str(path.resolve())
    raise FileNotFoundError(f"soundfont {name} not found in {', '.join(map(str, SF2_DIRS))}")


def _split_group(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    return "test" if split == "test" else "train"


def drum_kits(split: str) -> list[DrumKit]:
    """The main drum kits a split may use."""
    group = _split_group(split)
    kits: list[DrumKit] = []
    for name in _HYDROGEN_TRAIN if group == "train" else _HYDROGEN_TEST:
        if (HYDROGEN_DIR / name / "drumkit.xml").exists():
            kits.append(
                DrumKit(name, "hydrogen", str(HYDROGEN_DIR / name), electronic=name in _ELECTRONIC)
            )
    if group == "train" and SONIC_PI_DIR.exists():
        kits.append(DrumKit("sonicpi-acoustic", "sonicpi", str(SONIC_PI_DIR)))
    if group == "test" and SONIC_PI_DIR.exists():
        kits.append(DrumKit("sonicpi-electro", "sonicpi", str(SONIC_PI_DIR), electronic=True))
    for sf in SOUNDFONTS[group]:
        try:
            path = sf_path(sf)
        except FileNotFoundError:
            continue
        for prog, style in _SF_DRUM_PROGRAMS.items():
            kits.append(
                DrumKit(f"{sf}:{style}", "soundfont", path, prog, electronic=prog in (24, 25))
            )
    return kits


def soundfonts(split: str) -> list[str]:
    out = []
    for name in SOUNDFONTS[_split_group(split)]:
        try:
            out.append(sf_path(name))
        except FileNotFoundError:
            pass
    return out


def percussion_kits(split: str) -> list[DrumKit]:
    return [
        DrumKit(n, "hydrogen", str(HYDROGEN_DIR / n))
        for n in PERCUSSION_KITS[split]
        if (HYDROGEN_DIR / n / "drumkit.xml").exists()
    ]


def voices(split: str, engine: str | None = None) -> list[Voice]:
    group = _split_group(split)
    sinsy = _SINSY_TRAIN if group == "train" else _SINSY_TEST
    espeak = _ESPEAK_TRAIN if group == "train" else _ESPEAK_TEST
    out = [Voice("sinsy", "nitech_f001", f) for f in sinsy]
    out += [Voice("espeak", v, 0.0) for v in espeak]
    return [v for v in out if engine is None or v.engine == engine]


# --- General MIDI programs by role (0-based program numbers) -----------------------------------
BASS_PROGRAMS = {
    "acoustic": (32,),
    "finger": (33,),
    "pick": (34,),
    "fretless": (35,),
    "slap": (36, 37),
    "synth": (38, 39),
    "tuba": (58,),
    "cello": (42,),
}
OTHER_PROGRAMS = {
    "piano": (0, 1, 2),
    "epiano": (4, 5),
    "organ": (16, 17, 18, 19),
    "clav": (7,),
    "nylon": (24,),
    "steel": (25,),
    "clean_guitar": (26, 27),
    "muted_guitar": (28,),
    "drive_guitar": (29, 30),
    "strings": (48, 49, 50),
    "brass": (61, 62, 56),
    "sax": (65, 66),
    "flute": (73, 71, 68),
    "pad": (88, 89, 90, 91, 94, 95),
    "lead": (80, 81, 84, 87),
    "bells": (11, 8, 9, 13, 14),
    "harp": (46,),
    "pluck": (45, 105, 107),
}
