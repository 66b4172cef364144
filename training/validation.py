"""Turning waveforms into model batches, and the validation score of a training run.

Owns ``to_batch`` (mix and stems waveforms -> model input, spectrogram and band-limited waveform
targets, with the ``engine.dsp.stft`` convention of ``training.spec``),
``load_valid_excerpts`` (fixed, evenly spaced excerpts of the validation songs: MUSDB-style
folders or the real validation split) and ``validate`` (global SDR per stem, mean over songs
where the stem plays). Runs in the training process's main thread (rank 0).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from training import spec
from training.losses import sdr
from training.trainconfig import ConfigError, TrainConfig, excerpt_samples

log = logging.getLogger(__name__)


def to_batch(
    mix: torch.Tensor, stems: torch.Tensor, frames: int, bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Waveforms -> model input and targets.

    mix ``(batch, 2, samples)``, stems ``(batch, stems, 2, samples)`` ->
    x ``(batch, 4, bins, frames)``, ref_spec ``(batch, stems, 4, bins, frames)``,
    ref_wave ``(batch, stems, 2, (frames - 1) * HOP)`` (the targets limited to the model band).
    """
    n = excerpt_samples(frames)
    if mix.shape[-1] < n:
        raise ConfigError(f"dataset excerpts hold {mix.shape[-1]} samples, need {n}")
    mix, stems = mix[..., :n].float(), stems[..., :n].float()
    x = spec.to_model(spec.stft(mix), bins)
    ref_spec = spec.to_model(spec.stft(stems), bins)
    ref_wave = spec.istft(spec.from_model(ref_spec), n)
    return x, ref_spec, ref_wave


def load_valid_excerpts(
    cfg: TrainConfig,
) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, list[bool]]]:
    """Fixed validation excerpts: per track ``(name, x (k, 4, bins, T), ref_spec (k, S, 4, bins,
    T), ref_wave (k, S, 2, samples), present per stem)``."""
    from training.data.multitrack import Multitrack, find_multitracks, load_multitrack

    tracks: list[Multitrack] = []
    for d in cfg.valid.dirs:
        if d == "real":
            from training.data.splits import real_tracks

            tracks += real_tracks("valid")
        else:
            tracks += find_multitracks([d], cfg.stems)
    out = []
    frames = cfg.valid.frames
    n = excerpt_samples(frames)
    for track in tracks:
        song = load_multitrack(track, cfg.stems)
        stems = torch.from_numpy(np.asarray(song.stems, dtype=np.float32))  # (S, 2, samples)
        if stems.shape[-1] < n:
            log.warning("validation track %s shorter than one excerpt, skipped", track.path)
            continue
        starts = np.linspace(0, stems.shape[-1] - n, cfg.valid.excerpts).astype(int)
        chunk = torch.stack([stems[..., s : s + n] for s in starts])  # (k, S, 2, n)
        x, ref_spec, ref_wave = to_batch(chunk.sum(1), chunk, frames, cfg.bins)
        present = [bool(song.has_stem(i)) for i in range(len(cfg.stems))]
        out.append((song.name, x, ref_spec, ref_wave, present))
    return out


@torch.no_grad()
def validate(model: nn.Module, excerpts: list, stems: tuple[str, ...]) -> dict[str, float]:
    """Global SDR (dB) per stem over each track's excerpts, averaged over tracks where the stem
    is present, and their mean (``"mean"``). Band-limited to the model's bins."""
    model.eval()
    per_stem: dict[str, list[float]] = {s: [] for s in stems}
    for _, x, _, ref_wave, present in excerpts:
        est = torch.cat([model(x[i : i + 1]) for i in range(x.shape[0])])
        est_wave = spec.istft(spec.from_model(est), ref_wave.shape[-1])
        # (S, excerpts * 2 * samples): one global SDR per stem over the whole track excerpt set
        e = est_wave.transpose(0, 1).reshape(len(stems), -1)
        r = ref_wave.transpose(0, 1).reshape(len(stems), -1)
        values = sdr(e, r)
        for i, s in enumerate(stems):
            if present[i]:
                per_stem[s].append(float(values[i]))
    model.train()
    scores = {s: float(np.mean(v)) for s, v in per_stem.items() if v}
    if scores:
        scores["mean"] = float(np.mean(list(scores.values())))
    return scores
