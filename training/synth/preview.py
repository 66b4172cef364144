"""``python -m training preview DATASET [-o OUT] [--songs 5] [--seconds 10]``: the listening check.

Owns rendering short previews of a MUSDB-style dataset: for each of the first ``--songs``
songs, a ``--seconds`` window (the one with the most vocal activity) written as
``OUT/<song>/{mixture,vocals,drums,bass,other}.wav`` and one log-frequency spectrogram PNG per
stem, plus ``OUT/<song>/overview.png`` stacking mixture and stems so a person can judge realism
at a glance. Runs in the main process (numpy STFT, Pillow for the images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from training.data.multitrack import Multitrack
from training.data.synthetic import find_tracks

N_FFT, HOP, ROWS = 2048, 512, 256
F_LO, F_HI, RANGE_DB = 30.0, 16000.0, 80.0
# a perceptually ordered dark-to-bright colour ramp (black, purple, red, orange, pale yellow)
_RAMP = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    np.float64,
)


def log_spectrogram(x: np.ndarray) -> np.ndarray:
    """``(channels, samples)`` -> dB magnitude of the channel mean on a log-frequency axis,
    ``(rows=256, frames)``, bottom row = 30 Hz (row 0 is the top, as in an image)."""
    mono = x.mean(axis=0)
    win = np.hanning(N_FFT)
    frames = max(1, 1 + (len(mono) - N_FFT) // HOP)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    padded = np.pad(mono, (0, max(0, idx.max() + 1 - len(mono))))
    mag = np.abs(np.fft.rfft(padded[idx] * win, axis=1)).T  # (bins, frames)
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    edges = np.geomspace(F_LO, F_HI, ROWS + 1)
    rows = np.empty((ROWS, frames))
    for r in range(ROWS):
        sel = (freqs >= edges[r]) & (freqs < edges[r + 1])
        if not sel.any():  # narrower than a bin: take the nearest bin
            sel = np.argmin(np.abs(freqs - np.sqrt(edges[r] * edges[r + 1])))
            rows[r] = mag[sel]
        else:
            rows[r] = mag[sel].max(axis=0)
    return 20 * np.log10(rows[::-1] + 1e-9)


def to_image(db: np.ndarray, label: str, top_db: float) -> Image.Image:
    """Colour image of a dB spectrogram, 0 dB = ``top_db``, ``RANGE_DB`` of dynamic range."""
    v = np.clip((db - (top_db - RANGE_DB)) / RANGE_DB, 0, 1) * (len(_RAMP) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_RAMP) - 2)
    frac = (v - lo)[..., None]
    rgb = (_RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(img)
    draw.text((4, 2), label, fill=(255, 255, 255))
    for f in (100, 1000, 10000):  # frequency ticks
        y = int(ROWS - ROWS * np.log(f / F_LO) / np.log(F_HI / F_LO))
        draw.line([(0, y), (6, y)], fill=(255, 255, 255))
        draw.text((8, y - 6), f"{f // 1000}k" if f >= 1000 else str(f), fill=(200, 200, 200))
    return img


def best_window(track: Multitrack, samples: int) -> int:
    """Start sample of the window with the most vocal energy (on a 1 s grid)."""
    if track.samples <= samples:
        return 0
    vocals = track.read(["vocals"])[0]
    power = np.concatenate([[0.0], np.cumsum(np.sum(vocals.astype(np.float64) ** 2, axis=0))])
    starts = np.arange(0, len(power) - samples, SAMPLE_RATE)
    return int(starts[np.argmax(power[starts + samples] - power[starts])])


def preview_song(track: Multitrack, out: Path, seconds: float) -> list[Path]:
    samples = int(seconds * SAMPLE_RATE)
    start = best_window(track, samples)
    stems = track.read(DEFAULT_STEMS, start, samples)
    audio = {"mixture": stems.sum(axis=0), **dict(zip(DEFAULT_STEMS, stems, strict=True))}
    folder = out / track.name
    folder.mkdir(parents=True, exist_ok=True)
    specs = {k: log_spectrogram(v) for k, v in audio.items()}
    top = max(float(s.max()) for s in specs.values())
    written = []
    images = []
    for name, x in audio.items():
        sf.write(folder / f"{name}.wav", x.T, SAMPLE_RATE, subtype="PCM_16")
        img = to_image(
            specs[name], f"{track.name} {name} ({start / SAMPLE_RATE:.0f} s +{seconds:.0f} s)", top
        )
        img.save(folder / f"{name}.png")
        images.append(img)
        written += [folder / f"{name}.wav", folder / f"{name}.png"]
    sheet = Image.new("RGB", (images[0].width, sum(i.height + 2 for i in images)))
    y = 0
    for img in images:
        sheet.paste(img, (0, y))
        y += img.height + 2
    sheet.save(folder / "overview.png")
    written.append(folder / "overview.png")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training preview",
        description="Short previews and spectrogram PNGs of a dataset.",
    )
    p.add_argument("dataset", type=Path, help="MUSDB-style folder (generated or real)")
    p.add_argument("-o", "--out", type=Path, default=Path("preview"), help="output folder")
    p.add_argument("--songs", type=int, default=5)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--split", default=None, help="sub-folder such as train or test")
    args = p.parse_args(argv)
    try:
        tracks = find_tracks(args.dataset, args.split)[: args.songs]
        if not tracks:
            raise StemplayError(f"no song with {', '.join(DEFAULT_STEMS)} under {args.dataset}")
        for track in tracks:
            preview_song(track, args.out, args.seconds)
            print(f"{track.name}: {args.out / track.name}/overview.png")
    except StemplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
