"""Drum rendering from real recorded kits: Hydrogen drum kits (velocity layers from each kit's
drumkit.xml) and Sonic Pi samples. Soundfont kits are rendered by ``instruments.render_parts``.

Owns: parsing a kit into kit pieces (kick, snare, hats, toms, cymbals...), loading and caching
the samples at 44.1 kHz, and mixing hits into one stereo track per piece so that production can
pan and process them. Open hi-hats are choked by the next closed/pedal hat. Runs in a generator
worker process; the sample cache is per process.
"""

from __future__ import annotations

import functools
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine.config import SAMPLE_RATE
from training.synth.score import Hit
from training.synth.sources import DrumKit

log = logging.getLogger(__name__)

PIECES = (
    "kick",
    "snare",
    "rim",
    "clap",
    "hh_closed",
    "hh_pedal",
    "hh_open",
    "tom_hi",
    "tom_mid",
    "tom_lo",
    "crash",
    "ride",
    "ride_bell",
    "tamb",
    "cowbell",
)
#: where a kit without a piece borrows one
FALLBACK = {
    "rim": "snare",
    "clap": "snare",
    "hh_pedal": "hh_closed",
    "hh_open": "hh_closed",
    "ride": "hh_closed",
    "ride_bell": "ride",
    "tom_mid": "tom_hi",
    "tom_hi": "tom_mid",
    "tom_lo": "tom_mid",
    "crash": "ride",
    "tamb": "hh_closed",
    "cowbell": "rim",
}
#: General MIDI percussion note per piece (soundfont kits)
GM_NOTES = {
    "kick": 36,
    "snare": 38,
    "rim": 37,
    "clap": 39,
    "hh_closed": 42,
    "hh_pedal": 44,
    "hh_open": 46,
    "tom_lo": 45,
    "tom_mid": 47,
    "tom_hi": 50,
    "crash": 49,
    "ride": 51,
    "ride_bell": 53,
    "tamb": 54,
    "cowbell": 56,
}

_PATTERNS = (  # (piece, regex on the lower-cased instrument name); first match wins
    ("ride_bell", r"ride.*(bell|cup)|(bell|cup).*ride"),
    ("hh_open", r"(hat|hh|hihat).*(open|op\b|opened|semi)|(open|ohh).*(hat|hh)|\bohh\b"),
    ("hh_pedal", r"(hat|hh).*(pedal|pd\b|foot)|pedal.*(hat|hh)"),
    ("hh_closed", r"(hat|hh).*(clos|cl\b|tight)|clos.*(hat|hh)|\bchh\b|hi-?hat"),
    ("kick", r"kick|bass ?drum|\bbd\b|bassdrum"),
    ("rim", r"rim|stick"),
    ("snare", r"snare|\bsd\b"),
    ("clap", r"clap"),
    ("tom_lo", r"(tom).*(lo|floor)|floor.*tom"),
    ("tom_mid", r"tom.*mid"),
    ("tom_hi", r"tom.*(hi|high)|tom\b"),
    ("crash", r"crash|china|splash"),
    ("ride", r"ride"),
    ("tamb", r"tambourine|shaker|maraca"),
    ("cowbell", r"cowbell"),
)

_SONIC_PI = {
    "sonicpi-acoustic": {
        "kick": ("drum_bass_soft", "drum_bass_hard"),
        "snare": ("drum_snare_soft", "drum_snare_hard"),
        "hh_closed": ("drum_cymbal_closed",),
        "hh_pedal": ("drum_cymbal_pedal",),
        "hh_open": ("drum_cymbal_open",),
        "crash": ("drum_cymbal_soft", "drum_cymbal_hard"),
        "ride": ("drum_cymbal_closed",),
        "tom_hi": ("drum_tom_hi_soft", "drum_tom_hi_hard"),
        "tom_mid": ("drum_tom_mid_soft", "drum_tom_mid_hard"),
        "tom_lo": ("drum_tom_lo_soft", "drum_tom_lo_hard"),
        "cowbell": ("drum_cowbell",),
        "clap": ("perc_snap",),
    },
    "sonicpi-electro": {
        "kick": ("bd_808",),
        "snare": ("sn_dub",),
        "clap": ("elec_snare",),
        "hh_closed": ("elec_tick",),
        "hh_open": ("elec_cymbal",),
        "crash": ("elec_cymbal",),
        "tom_hi": ("elec_fuzz_tom",),
        "tom_mid": ("elec_fuzz_tom",),
        "tom_lo": ("elec_fuzz_tom",),
        "rim": ("elec_wood",),
        "cowbell": ("elec_bell",),
    },
}


@dataclass(frozen=True)
class Layer:
    """One sample of a piece, used for velocities in [lo, hi]."""

    path: str
    lo: float
    hi: float
    gain: float


@functools.lru_cache(maxsize=512)
def load_sample(path: str) -> np.ndarray:
    """A sample as ``(channels=2, samples)`` float32 at 44.1 kHz (mono is doubled)."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        data = soxr.resample(data, rate, SAMPLE_RATE).astype(np.float32)
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    data = data[:, :2].T.copy()
    peak = float(np.abs(data).max()) or 1.0
    return data / peak if peak > 1.0 else data


def _text(el: ET.Element, tag: str, default: str = "") -> str:
    found = el.find(tag)
    return found.text or default if found is not None and found.text else default


def parse_hydrogen(kit_dir: str) -> dict[str, list[list[Layer]]]:
    """Pieces of a Hydrogen kit: piece -> candidate instruments -> velocity layers."""
    text = Path(kit_dir, "drumkit.xml").read_text(encoding="utf-8", errors="replace")
    text = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", text)  # drop namespaces
    root = ET.fromstring(text)
    pieces: dict[str, list[list[Layer]]] = {}
    for inst in root.iter("instrument"):
        name = _text(inst, "name").lower()
        layers = []
        for layer in inst.iter("layer"):
            fname = _text(layer, "filename")
            if fname:
                layers.append(
                    Layer(
                        str(Path(kit_dir, fname)),
                        float(_text(layer, "min", "0")),
                        float(_text(layer, "max", "1")),
                        float(_text(layer, "gain", "1")),
                    )
                )
        if not layers and _text(inst, "filename"):
            layers.append(Layer(str(Path(kit_dir, _text(inst, "filename"))), 0.0, 1.0, 1.0))
        layers = [la for la in layers if Path(la.path).exists()]
        if not layers or not name:
            continue
        for piece, pattern in _PATTERNS:
            if re.search(pattern, name):
                pieces.setdefault(piece, []).append(sorted(layers, key=lambda la: la.lo))
                break
    return pieces


def kit_pieces(kit: DrumKit) -> dict[str, list[list[Layer]]]:
    if kit.kind == "hydrogen":
        return parse_hydrogen(kit.path)
    if kit.kind == "sonicpi":
        out: dict[str, list[list[Layer]]] = {}
        for piece, names in _SONIC_PI[kit.name].items():
            paths = [Path(kit.path, n + ".flac") for n in names]
            paths = [p for p in paths if p.exists()]
            if not paths:
                continue
            step = 1.0 / len(paths)
            out[piece] = [
                [Layer(str(p), i * step, (i + 1) * step, 1.0) for i, p in enumerate(paths)]
            ]
        return out
    raise ValueError(f"kit {kit.name} is a soundfont kit: render it with instruments.render_parts")


def resolve(pieces: dict[str, list[list[Layer]]], piece: str) -> str | None:
    seen = set()
    while piece not in pieces:
        if piece in seen or piece not in FALLBACK:
            return None
        seen.add(piece)
        piece = FALLBACK[piece]
    return piece


def render_kit(
    kit: DrumKit, hits: list[Hit], n: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Mix ``hits`` with the samples of ``kit``: piece -> ``(channels=2, samples=n)`` float32."""
    pieces = kit_pieces(kit)
    chosen = {p: cands[int(rng.integers(len(cands)))] for p, cands in pieces.items()}
    tracks: dict[str, np.ndarray] = {}
    chokes: list[int] = []
    open_hits: list[int] = []
    for hit in sorted(hits, key=lambda h: h.time):
        piece = resolve(pieces, hit.piece)
        if piece is None:
            continue
        layers = chosen[piece]
        usable = [la for la in layers if la.lo <= hit.vel <= la.hi + 1e-6] or [
            min(layers, key=lambda la: abs((la.lo + la.hi) / 2 - hit.vel))
        ]
        layer = usable[int(rng.integers(len(usable)))]  # round robin among equal layers
        sample = load_sample(layer.path)
        multi = len(layers) > 1
        gain = layer.gain * (hit.vel ** (0.7 if multi else 1.5))
        start = round(hit.time * SAMPLE_RATE)
        if start >= n:
            continue
        end = min(n, start + sample.shape[1])
        track = tracks.setdefault(piece, np.zeros((2, n), np.float32))
        track[:, start:end] += gain * sample[:, : end - start]
        if piece in ("hh_closed", "hh_pedal"):
            chokes.append(start)
        elif piece == "hh_open":
            open_hits.append(start)
    if "hh_open" in tracks and chokes:
        _choke(tracks["hh_open"], sorted(chokes), open_hits)
    return tracks


def _choke(track: np.ndarray, chokes: list[int], opens: list[int]) -> None:
    """Fade an open hat out over 20 ms when the next closed or pedal hat is played."""
    fade = int(0.02 * SAMPLE_RATE)
    idx = np.searchsorted(chokes, opens, side="right")
    for o, i in zip(opens, idx, strict=True):
        if i >= len(chokes):
            continue
        c = chokes[i]
        nxt = [x for x in opens if x > o]
        stop = nxt[0] if nxt else track.shape[1]
        if c >= stop:
            continue
        ramp = np.linspace(1.0, 0.0, min(fade, stop - c), dtype=np.float32)
        track[:, c : c + len(ramp)] *= ramp
        track[:, c + len(ramp) : stop] = 0.0
