"""The fixed train / validation split of the real multitrack songs, and where the real data lives.

The real material (see ``../shared/data/real/README.md``) sits outside the repository and is
never copied into it. Three songs with vocals, of genres the training songs do not cover, form
the real validation split: they are never trained on (``MixDataset`` only draws from
``real_tracks(split="train")``) and checkpoints are chosen by their SDR.

``write_valid_folder`` writes the validation songs as a MUSDB18-HQ-style WAV folder (outside the
repository, default ``/work/data/real_valid``) for ``python -m training evaluate --data DIR``::

    python -m training.data.splits --write-valid /work/data/real_valid

Runs in the caller's thread (main process).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.config import DEFAULT_STEMS, ROOT, SAMPLE_RATE
from engine.errors import StemplayError
from training.data.multitrack import Multitrack, find_multitracks, load_multitrack

log = logging.getLogger(__name__)

#: Real validation songs (folder names), never trained on. All have vocals; three genres:
#: country (acoustic, quiet drums), punk (distorted guitars, loud drums), reggae (off-beat
#: skank, prominent bass). Training keeps Beatles-style pop, rock, rockabilly, blues rock,
#: the three instrumentals and the SiSEC snippet.
REAL_VALID_SONGS = ("MusicDelta_Country1", "MusicDelta_Punk", "MusicDelta_Reggae")

#: Environment variable overriding the location of the real data.
REAL_DATA_ENV = "STEMPLAY_REAL_DATA"
DEFAULT_VALID_DIR = Path("/work/data/real_valid")
DEFAULT_CACHE_DIR = Path("/work/data/real_cache")


def default_real_root() -> Path:
    """``$STEMPLAY_REAL_DATA`` or ``../shared/data/real`` next to the repository."""
    env = os.environ.get(REAL_DATA_ENV)
    if env:
        return Path(env)
    return ROOT.resolve().parent / "shared" / "data" / "real"


def real_tracks(split: str, root: str | Path | None = None) -> list[Multitrack]:
    """Real multitrack songs (``Multitrack``, not loaded) of ``split`` ("train", "valid" or "all"), sorted.

    Returns an empty list when the real data folder does not exist (e.g. on CI).
    """
    if split not in ("train", "valid", "all"):
        raise ValueError(f"unknown split {split!r}: expected train, valid or all")
    root = Path(root) if root is not None else default_real_root()
    base = root / "multitrack" if (root / "multitrack").is_dir() else root
    tracks = find_multitracks([base])
    if split == "all":
        return tracks
    valid = [t for t in tracks if t.name in REAL_VALID_SONGS]
    return valid if split == "valid" else [t for t in tracks if t.name not in REAL_VALID_SONGS]


def real_vocal_dirs(root: str | Path | None = None) -> list[Path]:
    """Folders of isolated real voices under the real data root (empty when it is absent)."""
    root = Path(root) if root is not None else default_real_root()
    vocals = root / "vocals"
    return [vocals] if vocals.is_dir() else []


def write_valid_folder(
    out_dir: str | Path = DEFAULT_VALID_DIR,
    root: str | Path | None = None,
    subtype: str = "FLOAT",
) -> list[Path]:
    """Write each validation song as ``out_dir/<song>/{mixture,vocals,drums,bass,other}.wav``.

    44.1 kHz stereo; ``mixture`` is written as the exact sum of the stems (float WAV by
    default, so nothing is rounded). Returns the song folders. Files are written under a
    temporary name and renamed, so an interrupted run leaves no half-written WAV.
    """
    tracks = real_tracks("valid", root)
    if not tracks:
        raise StemplayError(
            f"no real validation songs ({', '.join(REAL_VALID_SONGS)}) under "
            f"{Path(root) if root is not None else default_real_root()}"
        )
    out_dir = Path(out_dir)
    written = []
    for track in tracks:
        song = load_multitrack(track, DEFAULT_STEMS)
        stems = np.asarray(song.stems, dtype=np.float32)  # (stems, 2, samples)
        audio = {"mixture": stems.sum(axis=0)} | dict(zip(DEFAULT_STEMS, stems, strict=True))
        folder = out_dir / track.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, x in audio.items():
            target = folder / f"{name}.wav"
            tmp = folder / f".{name}.wav.tmp"
            sf.write(str(tmp), x.T, SAMPLE_RATE, subtype=subtype, format="WAV")
            os.replace(tmp, target)
        written.append(folder)
        log.info("wrote %s (%.1f s)", folder, song.seconds)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data.splits",
        description="List the real train/valid songs, or write the validation songs as WAV.",
    )
    parser.add_argument("--root", type=Path, default=None, help="real data folder")
    parser.add_argument(
        "--write-valid",
        type=Path,
        nargs="?",
        const=DEFAULT_VALID_DIR,
        default=None,
        metavar="DIR",
        help=f"write the validation songs here (default {DEFAULT_VALID_DIR})",
    )
    args = parser.parse_args(argv)
    try:
        if args.write_valid is not None:
            for folder in write_valid_folder(args.write_valid, args.root):
                print(folder)
            return 0
        for split in ("train", "valid"):
            for track in real_tracks(split, args.root):
                print(f"{split}\t{track.path}")
    except StemplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
