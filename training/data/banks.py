"""Banks of isolated real recordings the training mix draws from (multitracks: ``multitrack.py``).

- ``VocalBank``: isolated real voices, mono ``(samples,)`` at 44.1 kHz, with a per-block
  voice-activity envelope so excerpts can be drawn where somebody sings;
  ``split_voice_files`` tells speech folders (``speech/``) from singing ones under ``vocals/``.
- ``StemBank``: isolated stereo recordings of one stem class (e.g. guitar tracks for
  ``other``), drawn where they play.
- ``RealMusicBank``: the screened instrumental tracks of the real-music bank built by
  ``training/data/realmusic.py`` (its ``manifest.json``; int16 ``(2, samples)`` arrays, memory-
  mapped, never read whole), optionally only those with / without drums.
- ``DrumBank``: real drums to lay over drum-free music: short loops tiled at a drawn tempo, and
  drum stems of generated songs read per excerpt.

Files are decoded by the engine's reader through ``training.data.audiofiles.AudioCache``
(memory-mapped ``.npy``, shared by DataLoader workers). Runs in the caller's thread (the
training main process or a DataLoader worker). No torch here: the dataset in
``training/data/mix.py`` turns arrays into tensors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from engine.config import CHANNELS, SAMPLE_RATE
from engine.decode import read_window
from engine.errors import DecodeError
from engine.levels import rms_db
from training.data.audiofiles import AudioCache, find_audio_files
from training.data.multitrack import stem_present
from training.data.realmusic import default_root as default_realmusic_root
from training.data.realmusic import kept_tracks

log = logging.getLogger(__name__)

#: Block length of the voice-activity envelope, in samples.
ACTIVITY_BLOCK = 1024
#: A block is "active" when its RMS is above this absolute level ...
ACTIVITY_FLOOR_DB = -55.0
#: ... and within this many dB of the loudest block of the clip.
ACTIVITY_RANGE_DB = 40.0


def activity(mono: np.ndarray, block: int = ACTIVITY_BLOCK) -> np.ndarray:
    """Voice activity per block of ``block`` samples: bool ``(blocks,)`` for mono ``(samples,)``.

    A block is active when its RMS is above ``ACTIVITY_FLOOR_DB`` dBFS and within
    ``ACTIVITY_RANGE_DB`` of the clip's loudest block.
    """
    n = len(mono) // block
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames = np.asarray(mono[: n * block], dtype=np.float32).reshape(n, block)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-10))
    return (db > ACTIVITY_FLOOR_DB) & (db > db.max() - ACTIVITY_RANGE_DB)


@dataclass(frozen=True)
class VocalClip:
    """One isolated voice recording. ``audio``: ``(samples,)`` float32 at 44.1 kHz."""

    name: str
    audio: np.ndarray
    active: np.ndarray  # (blocks,) bool, see activity()

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def active_fraction(self) -> float:
        return float(self.active.mean()) if len(self.active) else 0.0


class VocalBank:
    """Isolated real voices from folders of audio files of any format and sample rate.

    Clips shorter than ``min_seconds`` or without any voice activity are skipped (logged).
    """

    def __init__(
        self,
        roots: Iterable[str | Path],
        cache_dir: str | Path | None = None,
        min_seconds: float = 1.0,
    ) -> None:
        cache = AudioCache(cache_dir)
        self.clips: list[VocalClip] = []
        for path in find_audio_files(roots):
            mono = cache.load(path, channels=1)[0]  # (samples,)
            act = activity(mono)
            if len(mono) < min_seconds * SAMPLE_RATE or not act.any():
                log.info("skipping vocal clip %s (too short or silent)", path)
                continue
            self.clips.append(VocalClip(name=str(path), audio=mono, active=act))
        self._weights = np.array([c.seconds * max(c.active_fraction, 0.05) for c in self.clips])

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def seconds(self) -> float:
        return float(sum(c.seconds for c in self.clips))

    def draw(self, rng: np.random.Generator, exclude: VocalClip | None = None) -> VocalClip:
        """A clip drawn with probability proportional to its amount of singing."""
        if not self.clips:
            raise IndexError("the vocal bank is empty")
        w = self._weights.copy()
        if exclude is not None and len(self.clips) > 1:
            w[[i for i, c in enumerate(self.clips) if c is exclude]] = 0.0
        return self.clips[int(rng.choice(len(self.clips), p=w / w.sum()))]


@dataclass(frozen=True)
class StemClip:
    """One isolated stereo recording of a stem class (e.g. a guitar track for ``other``).
    ``audio``: ``(channels=2, samples)`` float32 at 44.1 kHz; ``active``: ``(blocks,)`` bool."""

    name: str
    audio: np.ndarray
    active: np.ndarray

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / SAMPLE_RATE


class StemBank:
    """Isolated real recordings of one stem class, from files of any format and rate.

    Used to widen a stem's variety beyond the multitrack songs, e.g. the isolated guitar
    tracks of Debian's ``fretsonfire-songs-*`` packages as extra ``other`` material.
    """

    def __init__(
        self,
        files: Iterable[str | Path],
        cache_dir: str | Path | None = None,
        min_seconds: float = 1.0,
    ) -> None:
        cache = AudioCache(cache_dir)
        self.clips: list[StemClip] = []
        for path in files:
            audio = cache.load(path, channels=CHANNELS)  # (2, samples)
            act = activity(np.asarray(audio).mean(axis=0))
            if audio.shape[-1] < min_seconds * SAMPLE_RATE or not act.any():
                log.info("skipping stem recording %s (too short or silent)", path)
                continue
            self.clips.append(StemClip(name=str(path), audio=audio, active=act))
        self._weights = np.array([c.seconds for c in self.clips], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def seconds(self) -> float:
        return float(self._weights.sum())

    def excerpt(self, rng: np.random.Generator, samples: int, tries: int = 6) -> np.ndarray:
        """``(2, samples)`` from a recording drawn by length, where it plays at least half
        of the time when such a window is found within ``tries`` draws."""
        clip = self.clips[int(rng.choice(len(self.clips), p=self._weights / self._weights.sum()))]
        n = clip.audio.shape[-1]
        best, best_frac = 0, -1.0
        for _ in range(tries):
            start = int(rng.integers(0, max(n - samples, 0) + 1))
            b0, b1 = start // ACTIVITY_BLOCK, min(start + samples, n) // ACTIVITY_BLOCK
            frac = float(clip.active[b0:b1].sum()) * ACTIVITY_BLOCK / samples
            if frac > best_frac:
                best, best_frac = start, frac
            if frac >= 0.5:
                break
        out = np.zeros((2, samples), dtype=np.float32)
        piece = np.asarray(clip.audio[:, best : best + samples], dtype=np.float32)
        out[:, : piece.shape[-1]] = piece
        return out


# --------------------------------------------------------------------------- voices by kind

#: Folders (anywhere under a vocals root) whose clips are speech, not singing: a rarer "voice"
#: source. Every other folder under ``vocals/`` counts as singing, so new singing folders are
#: picked up without code changes.
SPEECH_DIR_NAMES = ("speech", "spoken")


def split_voice_files(roots: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """``(singing, speech)`` audio files under the vocal roots: a file is speech when a folder
    between its root and itself is named like ``SPEECH_DIR_NAMES`` (case-insensitive)."""
    singing: list[Path] = []
    speech: list[Path] = []
    for root in roots:
        root = Path(root)
        for path in find_audio_files([root]):
            parts = path.relative_to(root).parts[:-1] if path != root else ()
            is_speech = any(p.lower() in SPEECH_DIR_NAMES for p in parts)
            (speech if is_speech else singing).append(path)
    return sorted(set(singing)), sorted(set(speech))


# --------------------------------------------------------------------------- real music bank


@dataclass(frozen=True)
class MusicTrack:
    """One screened instrumental track of the real-music bank. ``audio``: int16 ``(channels=2,
    samples)`` at 44.1 kHz, memory-mapped (scale 1/32768)."""

    name: str
    package: str
    licence: str
    audio: np.ndarray
    has_drums: bool | None

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / SAMPLE_RATE


class RealMusicBank:
    """Screened real instrumental tracks (``verdict == "keep"`` in the bank's manifest), each
    memory-mapped, never read whole: hours of music cost only page cache.

    ``drums``: keep only tracks whose ``has_drums`` is this value (None: all kept tracks).
    A listed file that is missing or not an int16 ``(2, samples)`` array is skipped with a
    one-line warning naming it.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        drums: bool | None = None,
        min_seconds: float = 1.0,
    ) -> None:
        self.root = Path(root) if root is not None else default_realmusic_root()
        self.tracks: list[MusicTrack] = []
        try:
            entries = kept_tracks(self.root, drums)
        except (OSError, ValueError, TypeError) as err:
            log.warning("cannot read the real-music manifest under %s: %s", self.root, err)
            entries = []
        for entry in entries:
            path = self.root / entry.path
            try:
                audio = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as err:
                log.warning("real-music track %s unreadable, skipped: %s", path, err)
                continue
            if audio.ndim != 2 or audio.shape[0] != 2 or audio.dtype != np.int16:
                log.warning("real-music track %s is %s %s, not int16 (2, samples): skipped",
                            path, audio.dtype, audio.shape)
                continue
            if audio.shape[-1] < min_seconds * SAMPLE_RATE:
                log.warning("real-music track %s shorter than %g s: skipped", path, min_seconds)
                continue
            self.tracks.append(MusicTrack(entry.file, entry.package, entry.licence, audio,
                                          entry.has_drums))
        self._weights = np.array([t.seconds for t in self.tracks], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def seconds(self) -> float:
        return float(self._weights.sum())

    def licences(self) -> dict[str, str]:
        """package -> licence(s) of the tracks held (for model cards)."""
        out: dict[str, set[str]] = {}
        for t in self.tracks:
            out.setdefault(t.package, set()).add(t.licence)
        return {p: " / ".join(sorted(v)) for p, v in sorted(out.items())}

    def excerpt(
        self, rng: np.random.Generator, samples: int, silent_db: float = -50.0, tries: int = 4
    ) -> np.ndarray:
        """``(2, samples)`` float32 from a track drawn by length, at a random offset; a window
        whose RMS is above ``silent_db`` is preferred (up to ``tries`` draws)."""
        if not self.tracks:
            raise IndexError("the real-music bank is empty")
        track = self.tracks[int(rng.choice(len(self.tracks), p=self._weights / self.seconds))]
        n = track.audio.shape[-1]
        out = np.zeros((2, samples), dtype=np.float32)
        for attempt in range(tries):
            start = int(rng.integers(0, max(n - samples, 0) + 1))
            piece = np.asarray(track.audio[:, start : start + samples], dtype=np.float32)
            out[:] = 0.0
            out[:, : piece.shape[-1]] = piece * np.float32(1.0 / 32768.0)
            if rms_db(out) > silent_db or attempt == tries - 1:
                break
        return out


# --------------------------------------------------------------------------- real drums


class DrumBank:
    """Real drum material to lay over drum-free music: short loops (e.g. ``sonic-pi-samples``'
    ``loop_amen``), tiled to any length at a drawn tempo, and/or long drum stems of generated
    songs (``drums.flac`` of the synthetic folders), read per excerpt from disk.

    ``songs``: ``(path, samples at 44.1 kHz)`` of drum stem files.
    """

    def __init__(
        self,
        loop_files: Iterable[str | Path],
        songs: Sequence[tuple[Path, int]] = (),
        cache_dir: str | Path | None = None,
        loop_prob: float = 0.5,
        speed_range: tuple[float, float] = (0.85, 1.15),
    ) -> None:
        cache = AudioCache(cache_dir)
        self.loops: list[StemClip] = []
        for path in loop_files:
            try:
                audio = cache.load(path, channels=CHANNELS)
            except DecodeError as err:
                log.warning("drum loop skipped: %s", err)
                continue
            if audio.shape[-1] < ACTIVITY_BLOCK or not stem_present(audio):
                log.warning("drum loop %s is too short or silent: skipped", path)
                continue
            self.loops.append(StemClip(str(path), audio, activity(np.asarray(audio).mean(0))))
        self.songs = [(Path(p), int(n)) for p, n in songs if int(n) > 0]
        self.loop_prob = loop_prob
        self.speed_range = speed_range

    def __len__(self) -> int:
        return len(self.loops) + len(self.songs)

    @property
    def seconds(self) -> float:
        return (sum(c.seconds for c in self.loops) + sum(n for _, n in self.songs) / SAMPLE_RATE)

    def excerpt(self, rng: np.random.Generator, samples: int) -> np.ndarray:
        """``(2, samples)`` float32 of real drums: a loop (with probability ``loop_prob`` when
        both kinds exist) or a window of a drum stem where it plays."""
        if not len(self):
            raise IndexError("the drum bank is empty")
        use_loop = bool(self.loops) and (not self.songs or rng.random() < self.loop_prob)
        if use_loop:
            return self._loop(rng, samples)
        path, n = self.songs[int(rng.integers(len(self.songs)))]
        out = np.zeros((2, samples), dtype=np.float32)
        for attempt in range(4):
            start = int(rng.integers(0, max(n - samples, 0) + 1))
            out = read_window(path, start, samples)
            if stem_present(out) or attempt == 3:
                break
        return np.ascontiguousarray(out, dtype=np.float32)

    def _loop(self, rng: np.random.Generator, samples: int) -> np.ndarray:
        """A loop at a drawn tape speed (tempo and pitch together), repeated from a random
        phase to ``samples``."""
        clip = self.loops[int(rng.integers(len(self.loops)))]
        x = np.asarray(clip.audio, dtype=np.float32)  # (2, n)
        speed = float(rng.uniform(*self.speed_range))
        if abs(speed - 1.0) > 1e-3:
            x = soxr.resample(x.T, SAMPLE_RATE * speed, SAMPLE_RATE, quality="LQ").T
        n = x.shape[-1]
        reps = -(-(samples + n) // n)
        tiled = np.tile(x, (1, reps))
        start = int(rng.integers(0, n))
        return np.ascontiguousarray(tiled[:, start : start + samples], dtype=np.float32)
