"""Separation of a mixture into stems through an ONNX model, streaming and offline.

The spectrogram (``engine.dsp.stft``) is cut into segments of ``T`` frames (the model's
``frames``; 192 for a "dynamic" model) on a grid anchored at frame 0: segment ``j`` covers
frames ``[j*step, j*step + T)`` with ``step = T - overlap``. Overlapping segments are
cross-faded with linear weights that sum to one on every frame (asserted). Then, per frame:

* high band (bins >= F, above what the model sees): each stem gets the mixture's high band
  scaled by its share of the magnitude averaged over the top ``HIGH_BAND_TOP_BINS`` modelled
  bins, per frame and channel (shares sum to one; equal shares where the stems are silent);
* mixture consistency: the residual ``mixture - sum(stems)`` goes to ``other`` if the model
  has it — computed as the input mixture minus the other stems in the time domain, the same
  sum exact in time, with one stem fewer through the iSTFT —, else it is spread over the stems
  in proportion to their energy per bin, so all stems at unity gain sum to the input (exactly
  in the spectrum, within the STFT round trip in time).

:class:`StreamSeparator` does this block by block in absolute frame indices, so the output
after ``reset(p)`` is what the whole-file separation gives from ``p`` on (exactly for any
model: the pre-roll covers every segment that touches sample ``p``). :func:`separate` is
``reset(0)`` + ``feed`` + ``finish``: what is exported is what is played.

Shapes: audio ``(channels=2, samples)``; stems ``(stems, channels, samples)``; spectra are kept
frame-major, ``(channels, frames, nb_bins)`` and ``(stems, channels, frames, nb_bins)``, in
preallocated buffers (so the FFTs read and write contiguous rows); model tensors
``(batch, 4, F, T)`` → ``(batch, S, 4, F, T)``.

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
    n_frames,
)
from engine.model import SeparationModel

log = logging.getLogger(__name__)

HIGH_BAND_TOP_BINS = 64  # modelled bins whose stem magnitudes share out the high band
MAX_BATCH = 4  # segments per model call when several are ready (dynamic batch only)
OFFLINE_BLOCK = 262144  # samples fed at a time by separate() (bounded memory)
FINAL_CHUNK = 8  # frames turned into stem samples at a time (they stay in cache)
INITIAL_SPARE_FRAMES = 64  # frame buffers: one segment + one step + this (grown on demand)
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


def make_consistent(mix: np.ndarray, stems: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Make ``stems`` sum to ``mix`` (in place; returned).

    mix: ``(channels, ...)`` complex; stems: ``(stems, channels, ...)`` in the same layout
    (bins and frames in either order). The residual goes to ``other`` if present, else is spread by each stem's energy per bin
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


def complete_stems(mix_t: np.ndarray, stems_t: np.ndarray, bins: int, names: tuple[str, ...],
                   residual_in_time: bool = False) -> np.ndarray:
    """Full-band stems that sum to the mixture, in place, frame-major: the engine's hot path.

    mix_t: ``(channels, frames, nb_bins)`` complex64; stems_t: ``(stems, channels, frames,
    nb_bins)`` complex64 whose bins ``< bins`` hold the model's estimate; its bins ``>= bins``
    are filled with the high band, then the stems are made to sum to the mixture.

    ``residual_in_time``: the last stem is ``other`` and is left untouched (no high band, no
    consistency): the caller makes it the mixture minus the other stems in the time domain,
    which is the same sum with one stem fewer to synthesise.
    """
    n_stems, nb = stems_t.shape[0], stems_t.shape[3]
    n_fill = n_stems - 1 if residual_in_time else n_stems
    if bins < nb:
        top = np.abs(stems_t[..., max(0, bins - HIGH_BAND_TOP_BINS) : bins]).mean(axis=3)
        total = top.sum(axis=0, keepdims=True)  # (1, channels, frames)
        share = np.where(total > _EPS, top / np.maximum(total, _EPS), np.float32(1.0 / n_stems))
        np.multiply(share[:n_fill, ..., None].astype(np.float32, copy=False),
                    mix_t[None, :, :, bins:], out=stems_t[:n_fill, ..., bins:])
    if residual_in_time:
        return stems_t
    if "other" in names:  # other + (mix - sum of stems) = mix - the other stems
        o = names.index("other")
        rest = [i for i in range(n_stems) if i != o]
        if rest:
            np.subtract(mix_t, stems_t[rest[0]], out=stems_t[o])
            for i in rest[1:]:
                stems_t[o] -= stems_t[i]
        else:
            stems_t[o] = mix_t
    else:
        make_consistent(mix_t, stems_t, names)
    return stems_t


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
        n_stems = len(self.stems)
        # `other` (if there are other stems) is made in the time domain as the mixture minus the
        # other stems: internally the stems are ordered with it last; _order[j] is the model's
        # index of internal stem j
        names = self.stems
        self._resid = names.index("other") if "other" in names and n_stems > 1 else None
        rest = [i for i in range(n_stems) if i != self._resid]
        self._order = rest + ([self._resid] if self._resid is not None else [])
        self._reordered = self._order != list(range(n_stems))
        self._internal_names = tuple(names[i] for i in self._order)
        self._n_synth = n_stems - 1 if self._resid is not None else n_stems
        self._x = np.zeros((2, 0), dtype=np.float32)  # mixture samples from _x_start (other)
        self._x_start = self._x_n = self._out_pos = 0
        self._n = 0  # frames live in the buffers below (see _alloc)
        self._mix: np.ndarray
        self._stems: np.ndarray
        self._wsum: np.ndarray
        self._alloc(self.frames + self.step + INITIAL_SPARE_FRAMES)
        self._batch = np.empty((1, 4, self.bins, self.frames), dtype=np.float32)  # model input
        # scratch of _run_segments: one (bins, frames) complex plane of the model output, and
        # the weighted overlap frames added to the previous segment's fade-out
        self._plane = np.empty(self.bins * self.frames, dtype=np.complex64)
        self._fade = np.empty(self.frames * self.bins, dtype=np.complex64)
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
        self._ola = OverlapAdd(2 * self._n_synth, self._t_first, position)
        self._x_start, self._x_n = self._ana.first_sample, 0
        self._out_pos = position  # absolute sample of the next output sample
        self._mix_start = start  # absolute frame index of frame 0 of the buffers below
        self._n = 0
        self._finished = False
        return self._ana.first_sample

    def _alloc(self, cap: int) -> None:
        """(Re)allocate the frame buffers for ``cap`` frames, keeping the live ones.

        ``_mix`` ``(channels=2, cap, nb_bins)`` complex64: the mixture spectrum, frame-major;
        ``_stems`` ``(stems, channels=2, cap, nb_bins)`` complex64: the stems, frame-major, in
        the internal order (``_order``);
        bins ``< F`` accumulate the cross-faded model output, the rest is filled when final;
        ``_wsum`` ``(cap,)`` float64: the summed cross-fade weights (asserted to be one).
        """
        n_stems, n = len(self.stems), self._n
        mix = np.empty((2, cap, NB_BINS), dtype=np.complex64)
        stems = np.empty((n_stems, 2, cap, NB_BINS), dtype=np.complex64)
        wsum = np.empty(cap, dtype=np.float64)
        if n:  # growing: keep the live frames
            mix[:, :n] = self._mix[:, :n]
            stems[:, :, :n] = self._stems[:, :, :n]
            wsum[:n] = self._wsum[:n]
        self._mix, self._stems, self._wsum = mix, stems, wsum

    @property
    def feed_from(self) -> int:
        return self._ana.first_sample

    def feed(self, block: np.ndarray) -> np.ndarray:
        """block ``(2, n)`` float32 → the next separated samples ``(S, 2, m)`` (m may be 0)."""
        if self._finished:
            raise RuntimeError("feed() after finish(): call reset() first")
        self._ana.feed(block)
        if self._resid is not None:
            self._keep_mixture(block)
        return self._process(final=False)

    def _keep_mixture(self, block: np.ndarray) -> None:
        """Append ``block`` ``(2, n)`` to the time-domain mixture kept for ``other``."""
        n = block.shape[1]
        if self._x_n + n > self._x.shape[1]:
            x = np.empty((2, max(self._x_n + n, 2 * self._x.shape[1])), dtype=np.float32)
            x[:, : self._x_n] = self._x[:, : self._x_n]
            self._x = x
        self._x[:, self._x_n : self._x_n + n] = block
        self._x_n += n

    def _assemble(self, synth: np.ndarray) -> np.ndarray:
        """Synthesised stems ``(2 * n_synth, m)`` → output ``(stems, 2, m)`` in model order."""
        m = synth.shape[1]
        parts = synth.reshape(self._n_synth, 2, m)
        if self._resid is None:
            return parts
        if m == 0:  # nothing (e.g. a reset at or past the end of the mixture)
            return np.zeros((len(self.stems), 2, 0), dtype=np.float32)
        out = np.empty((len(self.stems), 2, m), dtype=np.float32)
        if self._reordered:
            out[self._order[:-1]] = parts
        else:
            out[:-1] = parts
        lo = self._out_pos - self._x_start
        assert 0 <= lo and lo + m <= self._x_n, "mixture samples for `other` are missing"
        resid = out[self._resid]
        np.subtract(self._x[:, lo : lo + m], parts[0], out=resid)
        for part in parts[1:]:
            resid -= part
        self._out_pos += m
        drop = lo + m  # samples before the next output are no longer needed
        if drop:
            live = self._x_n - drop
            self._x[:, :live] = self._x[:, drop : self._x_n]
            self._x_n = live
            self._x_start += drop
        return out

    def finish(self) -> np.ndarray:
        """End of the mixture: the remaining separated samples ``(S, 2, m)``."""
        if self._finished:
            return np.zeros((len(self.stems), 2, 0), dtype=np.float32)
        self._ana.finish()
        self._finished = True
        return self._process(final=True)

    # -- internals -------------------------------------------------------------------------

    def _process(self, final: bool) -> np.ndarray:
        new = self._ana.pull_rows()  # (2, k, nb_bins)
        k = new.shape[1]
        if k:
            if self._n + k > self._mix.shape[1]:
                self._alloc(max(self._n + k, 2 * self._mix.shape[1]))
            self._mix[:, self._n : self._n + k] = new
            self._wsum[self._n : self._n + k] = 0.0  # marks frames no segment has touched
            self._n += k
        end = self._mix_start + self._n  # frames analysed so far (absolute)
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
            tail = self._assemble(self._ola.finish(self._ana.received))
            out = np.concatenate([out, tail], axis=2)
        return out

    def _run_segments(self, segs: list[int]) -> None:
        f = self.bins
        if self._batch.shape[0] < len(segs):
            self._batch = np.empty((len(segs), 4, f, self.frames), dtype=np.float32)
        batch = self._batch[: len(segs)]  # reused: a fresh 3 MB array costs page faults
        spans = []
        for b, j in enumerate(segs):
            lo = j * self.step - self._mix_start
            hi = min(lo + self.frames, self._n)
            # (2, k, F) frame-major complex → (L re, L im, R re, R im) of (F, k): spec_to_model
            low = self._mix[:, lo:hi, :f].transpose(0, 2, 1)
            batch[b, 0::2, :, : hi - lo] = low.real
            batch[b, 1::2, :, : hi - lo] = low.imag
            batch[b, :, :, hi - lo :] = 0.0
            spans.append((j, lo, hi))
        y = self.model.run(batch)  # (batch, stems, 4, F, T)
        # bins needed: all modelled ones of the synthesised stems; of `other` (made in time) only
        # the top ones that share out the high band
        groups = [(range(self._n_synth), 0)]
        if self._resid is not None and f < NB_BINS:
            groups.append((range(self._n_synth, len(self.stems)), max(0, f - HIGH_BAND_TOP_BINS)))
        for b, (j, lo, hi) in enumerate(spans):
            w = segment_weights(self.frames, self.overlap, first=j == 0)[: hi - lo]
            # frames [lo, mid) already hold the previous segment's fade-out: add; the rest is new
            mid = lo + int(np.count_nonzero(self._wsum[lo:hi] > 0.0))
            self._wsum[lo:hi] += w
            w32 = w.astype(np.float32)[:, None]  # (frames, 1): broadcast over bins
            k, d = hi - lo, mid - lo
            # [d, k) is new: [d, e) a plain copy where the weight is one, [e, k) the fade-out
            ones = np.flatnonzero(w[d:] != 1.0)
            e = d + (int(ones[0]) if ones.size else k - d)
            for stems, f0 in groups:
                nf = f - f0
                # one (bins, frames) complex plane at a time through a scratch that stays in
                # cache: (re, im) of the model layout interleaved, then one transposing pass
                plane = self._plane[: nf * k].reshape(nf, k)
                pairs = plane.view(np.float32).reshape(nf, k, 2)
                rows = plane.T  # (frames, bins) view
                for i in stems:
                    src = y[b, self._order[i]]  # (4, F, T): no reordered copy of the output
                    for c in range(2):
                        pairs[..., 0] = src[2 * c, f0:f, :k]
                        pairs[..., 1] = src[2 * c + 1, f0:f, :k]
                        dst = self._stems[i, c, lo:hi, f0:f]  # (frames, bins)
                        if d > 0:
                            np.multiply(rows[:d], w32[:d], out=self._fade[: d * nf].reshape(d, nf))
                            dst[:d] += self._fade[: d * nf].reshape(d, nf)
                        dst[d:e] = rows[d:e]
                        np.multiply(rows[e:], w32[e:], out=dst[e:])

    def _finalize(self, until: int) -> np.ndarray:
        """Frames before absolute ``until`` are complete: stems → samples."""
        n = until - self._mix_start
        n_stems, n_synth = len(self.stems), self._n_synth
        if n <= 0:
            return np.zeros((n_stems, 2, 0), dtype=np.float32)
        skip = max(0, min(n, self._t_first - self._mix_start))  # pre-roll frames: not output
        wsum = self._wsum[skip:n]
        assert np.all(np.abs(wsum - 1.0) < 1e-6), f"cross-fade weights sum to {wsum.min()}"
        for i in range(skip, n, FINAL_CHUNK):
            k = min(FINAL_CHUNK, n - i)
            spec = self._stems[:, :, i : i + k]  # (stems, 2, k, nb_bins) view
            complete_stems(self._mix[:, i : i + k], spec, self.bins, self._internal_names,
                           residual_in_time=self._resid is not None)
            self._ola.add_rows(spec[:n_synth].reshape(n_synth * 2, k, NB_BINS))
        out = self._assemble(self._ola.ready())
        live = self._n - n  # frames kept for later segments: moved to the front
        if live:
            self._mix[:, :live] = self._mix[:, n : self._n]
            # only the modelled bins hold anything yet (the high band is made when final)
            f = self.bins
            self._stems[:, :, :live, :f] = self._stems[:, :, n : self._n, :f]
            self._wsum[:live] = self._wsum[n : self._n]
        self._n = live
        self._mix_start = until
        return out


def dual_mono(stems: np.ndarray) -> np.ndarray:
    """``stems`` ``(stems, channels, m)`` with every channel set to the channels' mean.

    For a mono song (played as dual mono): a model need not treat left and right alike, but a
    listener expects the stems of a mono song to be mono. The sum over stems is unchanged.
    """
    mean = stems.mean(axis=1, keepdims=True, dtype=np.float32)
    return np.repeat(mean, stems.shape[1], axis=1)


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
