"""Separation of a mixture into stems through an ONNX model, streaming and offline.

The spectrogram (``engine.dsp.stft``) is cut into segments of ``T`` frames (the model's
``frames``; 192 for a "dynamic" model) on a grid anchored at frame 0: segment ``j`` covers
frames ``[j*step, j*step + T)`` with ``step = T - overlap``. Overlapping segments are
cross-faded with linear weights that sum to one on every frame (asserted). Then, per frame:

* high band (bins >= F, above what the model sees): each stem gets the mixture's high band
  scaled by its share of the magnitude averaged over the top ``HIGH_BAND_TOP_BINS`` modelled
  bins, per frame and channel (shares sum to one; equal shares where the stems are silent);
* mixture consistency: the residual ``mixture - sum(stems)`` goes to ``other`` if the model
  has it, else is spread over the stems in proportion to their energy per bin, so all stems at
  unity gain sum to the input (exactly in the spectrum, within the STFT round trip in time).

:class:`StreamSeparator` does this block by block in absolute frame indices, so the output
after ``reset(p)`` is what the whole-file separation gives from ``p`` on (exactly for any
model: the pre-roll covers every segment that touches sample ``p``). :func:`separate` is
``reset(0)`` + ``feed`` + ``finish``: what is exported is what is played.

Shapes: audio ``(channels=2, samples)``; stems ``(stems, channels, samples)``; spectra
``(channels, nb_bins, frames)``; model tensors ``(batch, 4, F, T)`` → ``(batch, S, 4, F, T)``.

Thread: the worker slot or export thread that owns the model (one StreamSeparator each).
"""

from __future__ import annotations

import logging

import numpy as np

from engine.dsp.stft import (
    HOP,
    NB_BINS,
    PAD,
    OverlapAdd,
    StftStream,
    model_to_spec,
    n_frames,
    spec_to_model,
)
from engine.model import SeparationModel

log = logging.getLogger(__name__)

HIGH_BAND_TOP_BINS = 64  # modelled bins whose stem magnitudes share out the high band
MAX_BATCH = 4  # segments per model call when several are ready (dynamic batch only)
OFFLINE_BLOCK = 262144  # samples fed at a time by separate() (bounded memory)
_EPS = 1e-20


# --------------------------------------------------------------------------------------------
# Pure maths


def default_overlap(frames: int) -> int:
    """Overlap of consecutive segments in frames: a quarter of a segment (at least one)."""
    return max(1, frames // 4)


def segment_weights(frames: int, overlap: int, first: bool) -> np.ndarray:
    """Cross-fade weights ``(frames,)`` of one segment.

    Linear ramps of ``overlap`` frames at both ends: where segment ``j`` fades out, segment
    ``j+1`` fades in with complementary weights, so weights sum to one on every frame. The
    first segment of a signal has nothing to fade from: its leading ramp is flat.
    """
    w = np.ones(frames, dtype=np.float64)
    ramp = np.arange(1, overlap + 1, dtype=np.float64) / (overlap + 1)
    if not first:
        w[:overlap] = ramp
    w[frames - overlap :] = ramp[::-1]
    return w


def high_band(mix: np.ndarray, low: np.ndarray, top: int = HIGH_BAND_TOP_BINS) -> np.ndarray:
    """Stems above the modelled band.

    mix: ``(channels, nb_bins, frames)`` complex; low: ``(stems, channels, F, frames)`` complex
    → ``(stems, channels, nb_bins - F, frames)`` complex64.
    """
    n_stems, _, f, _ = low.shape
    mag = np.abs(low[:, :, max(0, f - top) : f, :]).mean(axis=2)  # (stems, channels, frames)
    total = mag.sum(axis=0, keepdims=True)
    share = np.where(total > _EPS, mag / np.maximum(total, _EPS), 1.0 / n_stems)
    return (share[:, :, None, :] * mix[None, :, f:, :]).astype(np.complex64)


def make_consistent(mix: np.ndarray, stems: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Make ``stems`` sum to ``mix`` (in place; returned).

    mix: ``(channels, nb_bins, frames)`` complex; stems: ``(stems, channels, nb_bins, frames)``.
    The residual goes to ``other`` if present, else is spread by each stem's energy per bin
    (equally where all stems are silent).
    """
    residual = mix - stems.sum(axis=0)
    if "other" in names:
        stems[names.index("other")] += residual
    else:
        energy = np.abs(stems) ** 2
        e_sum = energy.sum(axis=0, keepdims=True)
        weight = np.where(e_sum > _EPS, energy / np.maximum(e_sum, _EPS), 1.0 / len(names))
        stems += (weight * residual[None]).astype(stems.dtype)
    return stems


def full_stems(mix: np.ndarray, low: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Full-band consistent stems ``(stems, channels, nb_bins, frames)`` complex64 from the
    model's band ``low`` ``(stems, channels, F, frames)`` and the mixture spectrum."""
    f = low.shape[2]
    out = np.empty((low.shape[0],) + mix.shape, dtype=np.complex64)
    out[:, :, :f] = low
    if f < mix.shape[1]:
        out[:, :, f:] = high_band(mix, low)
    return make_consistent(mix, out, names)


# --------------------------------------------------------------------------------------------
# Streaming


class StreamSeparator:
    """Streaming separation of one mixture with one model (see module docstring).

    ``reset(position)`` → sample to feed from; ``feed(block (2, n))`` → ``(S, 2, m)``;
    ``finish()`` → the rest, so outputs total ``N - position`` samples.
    """

    def __init__(self, model: SeparationModel, overlap: int | None = None,
                 max_batch: int = MAX_BATCH) -> None:
        self.model = model
        self.stems: tuple[str, ...] = model.info.stems
        self.bins = model.info.bins
        self.frames = model.info.segment_frames
        self.overlap = default_overlap(self.frames) if overlap is None else overlap
        self.step = self.frames - self.overlap
        if not (1 <= self.overlap and self.step >= PAD // HOP):
            raise ValueError(f"overlap {self.overlap} does not fit segments of {self.frames}")
        self.max_batch = max_batch if model.batch_dynamic else 1
        self.reset(0)

    def reset(self, position: int) -> int:
        """Restart at sample ``position``; returns the sample the caller must feed from."""
        position = max(0, int(position))
        self.position = position
        # first frame touching sample `position`, and the first segment covering that frame
        self._t_first = max(0, (position - PAD) // HOP + 1)
        seg = max(0, -(-(self._t_first - self.frames + 1) // self.step))
        self._next_seg = seg
        start = seg * self.step
        self._ana = StftStream(2, start)
        self._ola = OverlapAdd(2 * len(self.stems), self._t_first, position)
        self._mix_start = start  # absolute frame index of _mix[:, :, 0]
        self._mix = np.zeros((2, NB_BINS, 0), dtype=np.complex64)
        self._acc = np.zeros((len(self.stems), 4, self.bins, 0), dtype=np.float32)
        self._wsum = np.zeros(0, dtype=np.float64)
        self._finished = False
        return self._ana.first_sample

    @property
    def feed_from(self) -> int:
        return self._ana.first_sample

    def feed(self, block: np.ndarray) -> np.ndarray:
        """block ``(2, n)`` float32 → the next separated samples ``(S, 2, m)`` (m may be 0)."""
        if self._finished:
            raise RuntimeError("feed() after finish(): call reset() first")
        self._ana.feed(block)
        return self._process(final=False)

    def finish(self) -> np.ndarray:
        """End of the mixture: the remaining separated samples ``(S, 2, m)``."""
        if self._finished:
            return np.zeros((len(self.stems), 2, 0), dtype=np.float32)
        self._ana.finish()
        self._finished = True
        return self._process(final=True)

    # -- internals -------------------------------------------------------------------------

    def _process(self, final: bool) -> np.ndarray:
        new = self._ana.pull()
        if new.shape[2]:
            k = new.shape[2]
            self._mix = np.concatenate([self._mix, new], axis=2)
            self._acc = np.concatenate(
                [self._acc, np.zeros(self._acc.shape[:3] + (k,), np.float32)], axis=3)
            self._wsum = np.concatenate([self._wsum, np.zeros(k)])
        end = self._mix_start + self._mix.shape[2]  # frames analysed so far (absolute)
        total = n_frames(self._ana.received) if final else None
        ready: list[int] = []
        while True:
            s = self._next_seg * self.step
            if total is not None:
                if s >= total:
                    break
            elif s + self.frames > end:
                break
            ready.append(self._next_seg)
            self._next_seg += 1
        for i in range(0, len(ready), self.max_batch):
            self._run_segments(ready[i : i + self.max_batch])
        if total is not None:
            final_end = total
        else:
            final_end = self._next_seg * self.step  # no later segment touches earlier frames
        out = self._finalize(min(final_end, end))
        if final:
            tail = self._ola.finish(self._ana.received)
            tail = tail.reshape(len(self.stems), 2, -1)
            out = np.concatenate([out, tail], axis=2)
        return out

    def _run_segments(self, segs: list[int]) -> None:
        batch = np.zeros((len(segs), 4, self.bins, self.frames), dtype=np.float32)
        spans = []
        for b, j in enumerate(segs):
            lo = j * self.step - self._mix_start
            hi = min(lo + self.frames, self._mix.shape[2])
            batch[b, :, :, : hi - lo] = spec_to_model(self._mix[:, :, lo:hi], self.bins)
            spans.append((j, lo, hi))
        y = self.model.run(batch)  # (batch, stems, 4, F, T)
        for b, (j, lo, hi) in enumerate(spans):
            w = segment_weights(self.frames, self.overlap, first=j == 0)[: hi - lo]
            self._acc[..., lo:hi] += y[b, ..., : hi - lo] * w.astype(np.float32)
            self._wsum[lo:hi] += w

    def _finalize(self, until: int) -> np.ndarray:
        """Frames before absolute ``until`` are complete: stems → samples."""
        n = until - self._mix_start
        empty = np.zeros((len(self.stems), 2, 0), dtype=np.float32)
        if n <= 0:
            return empty
        skip = max(0, min(n, self._t_first - self._mix_start))  # pre-roll frames: not output
        wsum = self._wsum[skip:n]
        assert np.all(np.abs(wsum - 1.0) < 1e-6), f"cross-fade weights sum to {wsum.min()}"
        out = empty
        if n > skip:
            low = model_to_spec(self._acc[..., skip:n])  # (stems, 2, F, k)
            spec = full_stems(self._mix[:, :, skip:n], low, self.stems)
            flat = spec.reshape(len(self.stems) * 2, NB_BINS, n - skip)
            out = self._ola.push(flat).reshape(len(self.stems), 2, -1)
        self._mix = self._mix[:, :, n:]
        self._acc = self._acc[..., n:]
        self._wsum = self._wsum[n:]
        self._mix_start = until
        return out


def separate(model: SeparationModel, audio: np.ndarray) -> np.ndarray:
    """Offline separation: audio ``(2, N)`` → stems ``(S, 2, N)`` float32.

    Same arithmetic as playback: :class:`StreamSeparator` from sample 0, fed block by block.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"audio must be (2, samples), got {audio.shape}")
    sep = StreamSeparator(model)
    sep.reset(0)
    parts = [sep.feed(audio[:, i : i + OFFLINE_BLOCK])
             for i in range(0, audio.shape[1], OFFLINE_BLOCK)]
    parts.append(sep.finish())
    out = np.concatenate(parts, axis=2)
    assert out.shape[2] == audio.shape[1], (out.shape, audio.shape)
    return out
