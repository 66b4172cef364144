"""Pitched parts (and soundfont drum kits) rendered with the FluidSynth command line.

Owns: writing the parts of one song into a single MIDI file *one after the other* (each part on
its own channel, separated by a tail gap), rendering that file with ``fluidsynth`` in one call
(one soundfont load per song, its own reverb and chorus off: production adds effects), and
cutting the render back into one ``(channels=2, samples)`` track per part. Runs in a generator
worker process (spawns one ``fluidsynth`` subprocess per call).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from engine.config import SAMPLE_RATE
from training.synth.score import Note

TAIL_S = 2.5  # silence between parts in the render: release and decay of the previous part


@dataclass(frozen=True)
class Part:
    """A part to render: ``program`` is the GM program (0-based); for ``drum`` parts it picks the
    bank-128 kit and note pitches are GM percussion keys."""

    name: str
    program: int
    notes: tuple[Note, ...]
    drum: bool = False


def render_parts(
    parts: list[Part], soundfont: str, seconds: float, gain: float = 0.5
) -> dict[str, np.ndarray]:
    """Render every part with ``soundfont``: name -> ``(channels=2, samples)`` float32, each
    exactly ``round(seconds * 44100)`` samples long (notes past the end are cut)."""
    n = round(seconds * SAMPLE_RATE)
    slot = seconds + TAIL_S
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    melodic_channels = 0
    for i, part in enumerate(parts):
        if not part.drum:
            melodic_channels += 1
            if melodic_channels > 15:
                raise ValueError("at most 15 melodic parts per render")
        inst = pretty_midi.Instrument(program=part.program, is_drum=part.drum, name=part.name)
        offset = i * slot
        for note in part.notes:
            if note.start >= seconds:
                continue
            end = min(note.start + note.dur, seconds + 0.5)
            inst.notes.append(
                pretty_midi.Note(
                    int(np.clip(note.vel, 1, 127)),
                    int(np.clip(note.pitch, 0, 127)),
                    offset + note.start,
                    offset + end,
                )
            )
        if not inst.notes:  # keep the slot: a marker note at zero velocity would be dropped
            inst.notes.append(pretty_midi.Note(1, 60, offset + seconds, offset + seconds + 0.01))
        midi.instruments.append(inst)
    # a silent last event so the render covers the last slot fully
    marker = pretty_midi.Instrument(program=0, name="end")
    marker.notes.append(pretty_midi.Note(1, 0, len(parts) * slot - 0.02, len(parts) * slot))
    midi.instruments.append(marker)
    with tempfile.TemporaryDirectory(prefix="stemplay-fs-") as tmp:
        mid, wav = Path(tmp, "song.mid"), Path(tmp, "song.wav")
        midi.write(str(mid))
        cmd = [
            "fluidsynth",
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            f"{gain:.3f}",
            "-o",
            "synth.dynamic-sample-loading=1",
            "-o",
            "synth.polyphony=512",
            "-F",
            str(wav),
            "-r",
            str(SAMPLE_RATE),
            soundfont,
            str(mid),
        ]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not wav.exists():
            raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {proc.stderr[-300:]}")
        audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE, rate
    audio = audio.T  # (channels, samples)
    out: dict[str, np.ndarray] = {}
    hop = round(slot * SAMPLE_RATE)
    for i, part in enumerate(parts):
        seg = audio[:, i * hop : i * hop + n]
        track = np.zeros((2, n), np.float32)
        track[:, : seg.shape[1]] = seg
        fade = int(0.01 * SAMPLE_RATE)  # cut the last note's ring smoothly at the song end
        track[:, n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        out[part.name] = track
    return out
