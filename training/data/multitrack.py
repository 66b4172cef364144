"""The one model of a MUSDB-style song: finding, reading and holding multitrack folders.

A song is a folder ``<song>/{vocals,drums,bass,other}.{wav,flac}`` (``mixture`` optional;
MUSDB18-HQ, the real songs under ``../shared/data/real/multitrack``, the generated songs of
``python -m training synth``, the real validation folders) or a MUSDB18 ``*.stem.mp4`` (streams
mixture, drums, bass, other, vocals; decoded with an ``ffmpeg`` subprocess). Owns:

- ``Multitrack``: one song: its files and 44.1 kHz length, and, once loaded
  (``load_multitrack``), its stems ``(stems, channels=2, samples)`` float32 (and the mixture
  when asked for) with which stems are audible;
- ``find_multitracks(roots, stems)``: every song under some folders, sorted by path;
- ``Multitrack.read(stems, start, samples)``: one window ``(stems, 2, samples)`` straight from
  the files (the generated corpus is hours long: never held whole);
- ``MultitrackBank``: loaded songs drawn by length (the real training songs).

Every file is decoded by the engine's reader (``engine.decode.read_window``: any rate, mono
doubled), so a song sounds in training as it does in the player. Runs in the caller's thread
(the trainer's main process, a DataLoader worker, the evaluation); a small per-process cache
of decoded ``.stem.mp4`` files.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.decode import read_window
from engine.errors import DecodeError
from engine.levels import rms_db
from training.data.audiofiles import AudioCache

log = logging.getLogger(__name__)

#: Stream order of a MUSDB18 ``.stem.mp4``.
STEM_MP4_ORDER = ("mixture", "drums", "bass", "other", "vocals")
#: File types of the stems of a multitrack folder (MUSDB18-HQ is WAV; FLAC saves space).
MULTITRACK_EXTENSIONS = (".wav", ".flac")
#: A stem under this RMS (dBFS) over the whole song counts as absent (``Multitrack.present``).
PRESENT_DB = -50.0


@dataclass(frozen=True)
class Multitrack:
    """One MUSDB-style song.

    ``files``: stem -> file (``mixture`` too when the folder has one; ``{}`` for a
    ``.stem.mp4``); ``samples``: length at 44.1 kHz (the shortest stem). Loaded
    (``load_multitrack``): ``stems`` ``(stems, channels=2, samples)`` float32, ``present`` per
    stem (audible over the song), ``mix`` ``(2, samples)`` when the mixture was asked for.
    """

    name: str
    path: Path
    files: dict[str, Path] = field(default_factory=dict)
    samples: int = 0
    stems: np.ndarray | None = None
    present: tuple[bool, ...] = ()
    mix: np.ndarray | None = None

    @property
    def is_mp4(self) -> bool:
        return self.path.name.endswith(".stem.mp4")

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def has_stem(self, index: int) -> bool:
        """True when loaded stem ``index`` is not silent over the song (RMS above -50 dBFS)."""
        return self.present[index]

    def read(self, stems: Sequence[str], start: int = 0, samples: int | None = None) -> np.ndarray:
        """``(stems, 2, samples)`` float32 from the files, from 44.1 kHz sample ``start``;
        zero-padded past the end; ``samples=None``: to the end (each stem its own length)."""
        if self.is_mp4:
            data = read_stem_mp4(str(self.path))
            n = data.shape[-1] - start if samples is None else samples
            out = np.zeros((len(stems), 2, max(n, 0)), np.float32)
            for i, s in enumerate(stems):
                seg = data[STEM_MP4_ORDER.index(s), :, start : start + n]
                out[i, :, : seg.shape[1]] = seg
            return out
        parts = [read_window(self.files[s], start, samples) for s in stems]
        if samples is None:
            return _cut(parts, self.path)
        return np.stack(parts)


def _cut(parts: list[np.ndarray], where: Path) -> np.ndarray:
    """Arrays ``(2, n_i)`` stacked after cutting them to the shortest (logged when they differ)."""
    n = min(p.shape[-1] for p in parts)
    if any(p.shape[-1] != n for p in parts):
        log.warning("%s: stems differ in length, cut to %d samples", where, n)
    return np.stack([p[:, :n] for p in parts])


def stem_file(track_dir: str | Path, name: str) -> Path | None:
    """``track_dir/name.wav`` or ``track_dir/name.flac`` (WAV preferred), or None."""
    for ext in MULTITRACK_EXTENSIONS:
        candidate = Path(track_dir) / f"{name}{ext}"
        if candidate.is_file():
            return candidate
    return None


def is_multitrack(track_dir: str | Path, stems: Sequence[str] = DEFAULT_STEMS) -> bool:
    """True when the folder holds one WAV or FLAC file per stem (``mixture`` is not needed)."""
    return all(stem_file(track_dir, s) is not None for s in stems)


def _samples_44k(path: Path) -> int:
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DecodeError(f"cannot read {path}: {exc}") from None
    return int(info.frames * SAMPLE_RATE // info.samplerate)


def _mp4_streams(path: Path) -> tuple[int, float]:
    """(number of audio streams, duration in seconds) of a .stem.mp4 via ffprobe."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a",
           "-show_entries", "stream=index:format=duration", "-of", "csv=p=0", str(path)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise DecodeError(f"cannot read {path}: {proc.stderr.strip()[:200]}")
    lines = [x for x in proc.stdout.split() if x]
    return len(lines) - 1, float(lines[-1])


def _folder_track(folder: Path, stems: Sequence[str]) -> Multitrack:
    files = {s: stem_file(folder, s) for s in stems}
    mixture = stem_file(folder, "mixture")
    samples = min(_samples_44k(f) for f in files.values() if f is not None)
    if mixture is not None:
        files["mixture"] = mixture
    return Multitrack(folder.name, folder, files, samples)  # type: ignore[arg-type]


def _mp4_track(path: Path) -> Multitrack | None:
    count, duration = _mp4_streams(path)
    if count < len(STEM_MP4_ORDER):
        log.warning("%s has %d audio streams, need 5: skipped", path, count)
        return None
    return Multitrack(path.name[: -len(".stem.mp4")], path, {}, int(duration * SAMPLE_RATE))


def find_multitracks(
    roots: str | Path | Iterable[str | Path], stems: Sequence[str] = DEFAULT_STEMS
) -> list[Multitrack]:
    """MUSDB-style songs under the given folders (recursively, a root itself may be one song),
    sorted by path: folders holding every stem in ``stems`` as WAV or FLAC (``.part`` folders
    of an interrupted generator skipped) and ``*.stem.mp4`` files. Missing roots give none."""
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    found: dict[Path, Multitrack | None] = {}
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not d.endswith(".part")]
            if here not in found and is_multitrack(here, stems):
                found[here] = _folder_track(here, stems)
            for name in filenames:
                if name.endswith(".stem.mp4") and here / name not in found:
                    found[here / name] = _mp4_track(here / name)
    return [found[p] for p in sorted(found) if found[p] is not None]  # type: ignore[misc]


@functools.lru_cache(maxsize=4)
def read_stem_mp4(path: str) -> np.ndarray:
    """All five streams of a ``.stem.mp4``: ``(5, 2, samples)`` float32 at 44.1 kHz in
    ``STEM_MP4_ORDER``, decoded by ffmpeg (cached for the last few files)."""
    streams = []
    for k in range(len(STEM_MP4_ORDER)):
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", f"0:a:{k}", "-f", "f32le",
               "-acodec", "pcm_f32le", "-ac", "2", "-ar", str(SAMPLE_RATE), "-"]
        proc = subprocess.run(cmd, check=False, capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise DecodeError(
                f"cannot decode stream {k} of {path}: "
                f"{proc.stderr.decode(errors='replace').strip()[:200]}"
            )
        streams.append(np.frombuffer(proc.stdout, np.float32).reshape(-1, 2).T)
    n = min(s.shape[1] for s in streams)
    return np.stack([s[:, :n] for s in streams])


def stem_present(stem: np.ndarray, threshold_db: float = PRESENT_DB) -> bool:
    """True when a stem ``(channels, samples)`` is not silent (RMS above ``threshold_db``)."""
    x = np.asarray(stem)
    return bool(x.size) and rms_db(x) > threshold_db


def load_multitrack(
    track: Multitrack | str | Path,
    stems: Sequence[str] = DEFAULT_STEMS,
    cache: AudioCache | None = None,
    mixture: bool = False,
) -> Multitrack:
    """The song (a ``Multitrack`` or a folder) with its stems decoded: ``stems`` ``(stems, 2,
    samples)`` cut to the shortest one (through ``cache`` when given); ``mixture``: also the
    mixture file as ``mix`` (the stems' sum when the folder has none), all cut alike."""
    if not isinstance(track, Multitrack):
        folder = Path(track)
        for name in stems:
            if stem_file(folder, name) is None:
                raise DecodeError(f"{folder} has no {name}.wav or {name}.flac")
        track = _folder_track(folder, stems)
    cache = cache or AudioCache(None)
    paths = [track.path] if track.is_mp4 else [track.files[s] for s in stems]
    audio = cache.cached(paths, "multitrack-" + ",".join(stems), track.name,
                         lambda: track.read(stems))
    mix = None
    if mixture:
        has_mix = track.is_mp4 or "mixture" in track.files
        mix_full = track.read(["mixture"])[0] if has_mix else None
        n = min(audio.shape[-1], mix_full.shape[-1]) if mix_full is not None else audio.shape[-1]
        audio = np.asarray(audio[..., :n], dtype=np.float32)
        mix = np.asarray(audio.sum(0) if mix_full is None else mix_full[:, :n], np.float32)
    present = tuple(stem_present(p) for p in audio)
    return replace(track, samples=int(audio.shape[-1]), stems=audio, present=present, mix=mix)


class MultitrackBank:
    """Real multitrack songs held in memory (or memory-mapped from the cache)."""

    def __init__(
        self,
        tracks: Iterable[Multitrack | str | Path],
        stems: Sequence[str] = DEFAULT_STEMS,
        cache_dir: str | Path | None = None,
    ) -> None:
        cache = AudioCache(cache_dir)
        self.stems = tuple(stems)
        self.songs = [load_multitrack(t, self.stems, cache) for t in tracks]
        self._weights = np.array([s.seconds for s in self.songs], dtype=np.float64)
        # (songs, stems) bool: which stems are audible in which song
        self._has = np.array([s.present for s in self.songs], dtype=bool).reshape(
            len(self.songs), len(self.stems)
        )

    def __len__(self) -> int:
        return len(self.songs)

    @property
    def seconds(self) -> float:
        return float(self._weights.sum())

    def draw(self, rng: np.random.Generator, with_stem: int | None = None) -> Multitrack:
        """A song drawn with probability proportional to its length; optionally one in which
        stem ``with_stem`` is not silent (any song when none has it)."""
        if not self.songs:
            raise IndexError("the multitrack bank is empty")
        w = self._weights.copy()
        if with_stem is not None:
            has = self._has[:, with_stem]
            if has.any():
                w = w * has
        return self.songs[int(rng.choice(len(self.songs), p=w / w.sum()))]
