"""MUSDB18-HQ-style datasets: track discovery, audio reading, random excerpts, a torch Dataset.

Owns:

- ``find_tracks(root, split)``: folders ``<root>[/<split>]/<track>/{mixture,vocals,drums,bass,
  other}.{wav,flac}`` (MUSDB18-HQ, our generated songs) and ``*.stem.mp4`` files (MUSDB18:
  streams mixture, drums, bass, other, vocals; decoded with an ``ffmpeg`` subprocess);
- ``read_audio`` / ``read_excerpt``: any rate and channel count -> ``(channels=2, samples)``
  float32 at 44.1 kHz (mono doubled, extra channels dropped, soxr resampling);
- ``draw_excerpt(track, stems, samples, rng, ...)``: one excerpt's stems ``(stems, 2, samples)``
  float32 numpy - the composable building block (``training/data/mix.py`` reuses it);
- ``MusdbDataset``: random excerpts with the augmentations of ``training.data.augment``;
  item ``(mix (2, samples), stems (S, 2, samples))`` float32 torch tensors in the time domain
  (the trainer computes the STFT with the ``engine.dsp.stft`` convention); mix = sum of stems.

Runs in the trainer's main process and its DataLoader workers (no shared state but a small
per-process cache of decoded ``.stem.mp4`` files).
"""

from __future__ import annotations

import functools
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from torch.utils.data import Dataset

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import DecodeError, StemplayError
from training.data.augment import AugmentConfig, augment_stem, change_speed, is_silent

log = logging.getLogger(__name__)

STEM_MP4_ORDER = ("mixture", "drums", "bass", "other", "vocals")
AUDIO_EXTS = (".wav", ".flac")


@dataclass(frozen=True)
class Track:
    """One song: a folder of stem files (``files`` maps stem -> path) or a ``.stem.mp4``."""

    name: str
    path: Path
    files: dict[str, Path]
    samples: int  # length at 44.1 kHz (shortest stem)
    rate: int  # source sample rate

    @property
    def is_mp4(self) -> bool:
        return self.path.name.endswith(".stem.mp4")


def _stem_file(folder: Path, stem: str) -> Path | None:
    for ext in AUDIO_EXTS:
        p = folder / f"{stem}{ext}"
        if p.exists():
            return p
    return None


def _info(path: Path) -> tuple[int, int]:
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DecodeError(f"cannot read {path}: {exc}") from None
    return info.frames, info.samplerate


def _mp4_streams(path: Path) -> tuple[int, float]:
    """(number of audio streams, duration in seconds) of a .stem.mp4 via ffprobe."""
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "a",
        "-show_entries",
        "stream=index:format=duration",
        "-of",
        "csv=p=0",
        str(path),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise DecodeError(f"cannot read {path}: {proc.stderr.strip()[:200]}")
    lines = [x for x in proc.stdout.split() if x]
    return len(lines) - 1, float(lines[-1])


def find_tracks(
    root: str | Path, split: str | None = None, stems: Sequence[str] = DEFAULT_STEMS
) -> list[Track]:
    """Tracks under ``root`` (or ``root/split`` when that folder exists), sorted by name.

    A folder counts when it holds every stem in ``stems`` as WAV or FLAC (``mixture`` is
    optional: it is rebuilt as the sum); ``.part`` folders of an interrupted generator are
    skipped. Raises ``StemplayError`` when ``root`` does not exist."""
    root = Path(root)
    if not root.is_dir():
        raise StemplayError(f"dataset folder {root} does not exist")
    base = root / split if split and (root / split).is_dir() else root
    tracks: list[Track] = []
    for path in [base, *sorted(base.rglob("*"))]:  # root itself may be one song
        if path.is_dir() and not path.name.endswith(".part"):
            files = {s: _stem_file(path, s) for s in stems}
            if any(f is None for f in files.values()):
                continue
            infos = [_info(f) for f in files.values()]
            rate = infos[0][1]
            samples = min(int(fr * SAMPLE_RATE // r) for fr, r in infos)
            tracks.append(Track(path.name, path, files, samples, rate))  # type: ignore[arg-type]
        elif path.name.endswith(".stem.mp4"):
            count, duration = _mp4_streams(path)
            if count < 5:
                log.warning("%s has %d audio streams, need 5: skipped", path, count)
                continue
            tracks.append(
                Track(
                    path.name[: -len(".stem.mp4")],
                    path,
                    {},
                    int(duration * SAMPLE_RATE),
                    SAMPLE_RATE,
                )
            )
    return tracks


def to_stereo(data: np.ndarray) -> np.ndarray:
    """``(samples, channels)`` -> ``(2, samples)``: mono doubled, channels beyond 2 dropped."""
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    return np.ascontiguousarray(data[:, :2].T, dtype=np.float32)


def read_audio(path: str | Path, start: int = 0, samples: int | None = None) -> np.ndarray:
    """``(2, samples)`` float32 at 44.1 kHz from ``start`` (in 44.1 kHz samples); WAV, FLAC,
    anything libsndfile reads, at any rate. Short reads are zero-padded."""
    _, rate = _info(Path(path))
    if rate == SAMPLE_RATE:
        n = -1 if samples is None else samples
        data, _ = sf.read(str(path), start=start, frames=n, dtype="float32", always_2d=True)
        out = to_stereo(data)
    else:
        pad = 64  # source samples of context on each side of the resampled window
        s0 = max(0, int(start * rate // SAMPLE_RATE) - pad)
        n_src = -1 if samples is None else int(samples * rate / SAMPLE_RATE) + 2 * pad + 1
        data, _ = sf.read(str(path), start=s0, frames=n_src, dtype="float32", always_2d=True)
        res = soxr.resample(data, rate, SAMPLE_RATE).astype(np.float32)
        offset = start - round(s0 * SAMPLE_RATE / rate)
        out = to_stereo(res[max(0, offset) :])
    if samples is not None and out.shape[1] < samples:
        out = np.pad(out, ((0, 0), (0, samples - out.shape[1])))
    return out


@functools.lru_cache(maxsize=4)
def read_stem_mp4(path: str) -> np.ndarray:
    """All five streams of a ``.stem.mp4``: ``(5, 2, samples)`` float32 at 44.1 kHz in
    ``STEM_MP4_ORDER``, decoded by ffmpeg (cached for the last few files)."""
    streams = []
    for k in range(len(STEM_MP4_ORDER)):
        cmd = [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-i",
            path,
            "-map",
            f"0:a:{k}",
            "-f",
            "f32le",
            "-acodec",
            "pcm_f32le",
            "-ac",
            "2",
            "-ar",
            str(SAMPLE_RATE),
            "-",
        ]
        proc = subprocess.run(cmd, check=False, capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise DecodeError(
                f"cannot decode stream {k} of {path}: "
                f"{proc.stderr.decode(errors='replace').strip()[:200]}"
            )
        streams.append(np.frombuffer(proc.stdout, np.float32).reshape(-1, 2).T)
    n = min(s.shape[1] for s in streams)
    return np.stack([s[:, :n] for s in streams])


def read_excerpt(track: Track, stems: Sequence[str], start: int, samples: int) -> np.ndarray:
    """``(stems, 2, samples)`` float32 of ``track`` from ``start`` (44.1 kHz samples)."""
    out = np.zeros((len(stems), 2, samples), np.float32)
    if track.is_mp4:
        data = read_stem_mp4(str(track.path))
        for i, s in enumerate(stems):
            seg = data[STEM_MP4_ORDER.index(s), :, start : start + samples]
            out[i, :, : seg.shape[1]] = seg
        return out
    for i, s in enumerate(stems):
        out[i] = read_audio(track.files[s], start, samples)[:, :samples]
    return out


def draw_excerpt(
    track: Track,
    stems: Sequence[str],
    samples: int,
    rng: np.random.Generator,
    need: int | None = None,
    silent_db: float = -50.0,
    redraws: int = 0,
) -> np.ndarray:
    """One random excerpt ``(stems, 2, samples)`` of ``track``; when ``need`` is a stem index,
    up to ``redraws`` other windows are tried while that stem is silent (``silent_db``)."""
    out = np.zeros((len(stems), 2, samples), np.float32)
    for attempt in range(redraws + 1):
        start = int(rng.integers(0, max(track.samples - samples, 0) + 1))
        out = read_excerpt(track, stems, start, samples)
        if need is None or not is_silent(out[need], silent_db):
            break
    return out


class MusdbDataset(Dataset):
    """Random excerpts of a MUSDB18-HQ-style dataset as a ``torch.utils.data.Dataset``.

    ``ds[i]`` -> ``(mix (2, samples), stems (S, 2, samples))`` float32 torch tensors, with
    ``mix`` the exact float32 sum of the augmented ``stems``. Items are deterministic in
    ``(seed, epoch, i)``; call ``set_epoch`` for fresh excerpts."""

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        stems: Sequence[str] = DEFAULT_STEMS,
        seconds: float = 6.0,
        samples_per_epoch: int = 1000,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.stems = tuple(stems)
        self.tracks = find_tracks(root, split, self.stems)
        if not self.tracks:
            raise StemplayError(
                f"no MUSDB-style track (folders with {', '.join(self.stems)}"
                f" or .stem.mp4 files) under {root}"
            )
        self.samples = round(seconds * SAMPLE_RATE)
        self.samples_per_epoch = samples_per_epoch
        self.augment = augment if augment is not None else AugmentConfig()
        self.seed = seed
        self.epoch = 0
        lengths = np.array([t.samples for t in self.tracks], np.float64)
        self.weights = lengths / lengths.sum()  # longer songs are drawn more often
        self.vocal_index = self.stems.index("vocals") if "vocals" in self.stems else None

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def example(self, index: int) -> np.ndarray:
        """The augmented stems of item ``index``: ``(stems, 2, samples)`` float32 numpy."""
        cfg = self.augment
        rng = np.random.default_rng([self.seed, self.epoch, index])
        speed = 1.0
        if rng.random() < cfg.speed_prob:
            speed = float(rng.uniform(*cfg.speed_range))
        need = int(np.ceil(self.samples * speed)) + 8
        redraws = cfg.vocal_redraws if rng.random() >= cfg.silent_vocals_keep_prob else 0
        track = self.tracks[int(rng.choice(len(self.tracks), p=self.weights))]
        out = draw_excerpt(
            track, self.stems, need, rng, self.vocal_index, cfg.silent_stem_db, redraws
        )
        if rng.random() < cfg.remix_prob:  # each stem from its own random track
            for k in range(len(self.stems)):
                other = self.tracks[int(rng.choice(len(self.tracks), p=self.weights))]
                out[k] = draw_excerpt(
                    other,
                    (self.stems[k],),
                    need,
                    rng,
                    0 if k == self.vocal_index else None,
                    cfg.silent_stem_db,
                    redraws,
                )[0]
        out = change_speed(out, speed, self.samples)
        return np.stack([augment_stem(x, rng, cfg) for x in out]).astype(np.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        stems = self.example(index)
        return torch.from_numpy(stems.sum(axis=0)), torch.from_numpy(stems)
