"""Audio files for training: finding them, and decoded audio kept as memory-mapped ``.npy``.

Owns the file discovery of the real-data readers (``find_audio_files``, ``expand_patterns``)
and ``AudioCache``: decoded audio as ``.npy`` files, memory-mapped so that DataLoader worker
processes share one copy through the page cache. Every file is decoded by the engine's reader
(``engine.decode.read_window`` / ``read_all``: any format soundfile reads, any rate → 44.1 kHz,
mono doubled, 3-8 channels downmixed), so training hears what the player plays.

Runs in the caller's thread (the training main process or a DataLoader worker). No torch.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from engine.config import SAMPLE_RATE
from engine.decode import read_all

log = logging.getLogger(__name__)

#: File types read as isolated recordings (voices, extra stems, drum loops).
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")
CACHE_VERSION = 1


def read_audio(path: str | Path, channels: int = 2) -> np.ndarray:
    """The whole file, ``(channels, samples)`` float32 at 44.1 kHz, by the engine's reader:
    ``channels=2`` as the player hears it, ``channels=1`` the mean of those two channels.
    ``DecodeError`` (one line) when the file is missing, unreadable or empty."""
    audio = read_all(path)
    return audio.mean(axis=0, keepdims=True) if channels == 1 else audio


def find_audio_files(roots: Iterable[str | Path]) -> list[Path]:
    """Every audio file under the given folders (recursively), sorted for reproducibility."""
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if root.is_file() and root.suffix.lower() in AUDIO_EXTENSIONS:
            found.append(root)
            continue
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                    found.append(Path(dirpath) / name)
    return sorted(set(found))


def expand_patterns(patterns: Iterable[str | Path]) -> list[Path]:
    """Audio files named by glob patterns (``**`` allowed) or folders (searched recursively)."""
    found: set[Path] = set()
    for pattern in patterns:
        text = os.path.expanduser(str(pattern))
        if Path(text).is_dir():
            found.update(find_audio_files([text]))
            continue
        found.update(
            Path(p)
            for p in glob.glob(text, recursive=True)
            if Path(p).is_file() and Path(p).suffix.lower() in AUDIO_EXTENSIONS
        )
    return sorted(found)


class AudioCache:
    """Decoded audio as ``.npy`` files keyed by source path, size, mtime and the decode settings.

    ``load`` and ``cached`` return a read-only memory map, so several processes share one copy
    in RAM. With ``root=None`` nothing is written and arrays stay in the process.
    """

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _key(paths: Sequence[Path], kind: str) -> str:
        parts = [kind, str(SAMPLE_RATE), str(CACHE_VERSION)]
        for path in paths:
            st = path.stat()
            parts.append(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
        return hashlib.sha1("|".join(parts).encode()).hexdigest()[:20]

    def cached(
        self, paths: Sequence[Path], kind: str, label: str, build: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """``build()``, or its cached result for these source files (a read-only memory map)."""
        if self.root is None:
            return build()
        target = self.root / f"{label[:40]}-{self._key(paths, kind)}.npy"
        if target.is_file():
            try:
                return np.load(target, mmap_mode="r")
            except (OSError, ValueError):
                log.warning("ignoring unreadable cache file %s", target)
        audio = build()
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, audio)
            os.replace(tmp, target)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise
        return np.load(target, mmap_mode="r")

    def load(self, path: str | Path, channels: int) -> np.ndarray:
        """``read_audio(path, channels)``, from the cache when present: ``(channels, samples)``."""
        path = Path(path)
        return self.cached([path], f"ch{channels}", path.stem, lambda: read_audio(path, channels))
