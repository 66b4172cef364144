"""The generated songs (``python -m training synth``: MUSDB-style folders) as training data.

Owns:

- ``find_tracks(root, split)``: the songs under ``<root>[/<split>]`` (``Multitrack`` of
  ``training/data/multitrack.py``: folders of WAV/FLAC stems, any rate, mono ok, and MUSDB18
  ``*.stem.mp4`` files, so a real MUSDB18 download works here too);
- ``draw_excerpt(track, stems, samples, rng, ...)``: one excerpt's stems ``(stems, 2, samples)``
  float32 numpy, read from the files - the composable building block;
- ``SyntheticDataset``: random excerpts with the augmentations of ``training.data.augment``;
  item ``(mix (2, samples), stems (S, 2, samples))`` float32 torch tensors in the time domain
  (the trainer computes the STFT with the ``engine.dsp.stft`` convention); mix = sum of stems;
- ``SyntheticSongs``: one ``SyntheticDataset`` per folder, drawn by length (the ``synthetic``
  sources of ``training/data/mix.py``).

Runs in the trainer's main process and its DataLoader workers (no shared state but a small
per-process cache of decoded ``.stem.mp4`` files).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import StemplayError
from training.data.augment import AugmentConfig, augment_stem, change_speed, is_silent
from training.data.multitrack import Multitrack, find_multitracks

log = logging.getLogger(__name__)


def find_tracks(
    root: str | Path, split: str | None = None, stems: Sequence[str] = DEFAULT_STEMS
) -> list[Multitrack]:
    """Songs under ``root`` (or ``root/split`` when that folder exists), sorted by path.

    A folder counts when it holds every stem in ``stems`` as WAV or FLAC (``mixture`` is
    optional: it is rebuilt as the sum); ``.part`` folders of an interrupted generator are
    skipped. Raises ``StemplayError`` when ``root`` does not exist."""
    root = Path(root)
    if not root.is_dir():
        raise StemplayError(f"dataset folder {root} does not exist")
    base = root / split if split and (root / split).is_dir() else root
    return find_multitracks([base], stems)


def draw_excerpt(
    track: Multitrack,
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
        out = track.read(stems, start, samples)
        if need is None or not is_silent(out[need], silent_db):
            break
    return out


class SyntheticDataset(Dataset):
    """Random excerpts of MUSDB-style songs (the generated ones; MUSDB18 works too) as a
    ``torch.utils.data.Dataset``.

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


class SyntheticSongs:
    """Generated MUSDB-style songs, one ``SyntheticDataset`` per folder (its reader, silence-aware
    drawing and augmentation), drawn with probability proportional to their total length."""

    def __init__(
        self,
        roots: Sequence[str | Path],
        stems: Sequence[str],
        seconds: float,
        augment: AugmentConfig,
        seed: int,
    ) -> None:
        self.sets: list[SyntheticDataset] = []
        for root in roots:
            try:
                self.sets.append(
                    SyntheticDataset(
                        root,
                        None,
                        stems,
                        seconds,
                        samples_per_epoch=2**31 - 1,
                        augment=augment,
                        seed=seed,
                    )
                )
            except StemplayError as err:  # missing folder or no track: no data from it
                log.info("synthetic songs: %s", err)
        self.lengths = np.array(
            [sum(t.samples for t in ds.tracks) for ds in self.sets], dtype=np.float64
        )

    def __len__(self) -> int:
        return sum(len(ds.tracks) for ds in self.sets)

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum()) / SAMPLE_RATE

    def excerpt(self, rng: np.random.Generator) -> np.ndarray:
        """``(stems, 2, samples)``: one augmented item of a folder's ``SyntheticDataset``."""
        ds = self.sets[int(rng.choice(len(self.sets), p=self.lengths / self.lengths.sum()))]
        return ds.example(int(rng.integers(0, 2**31 - 1)))
