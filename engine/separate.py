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
model: the pre-roll covers every segment that touches sample ``p``); ``reset(p, quick=True)``
(a seek, a listener waiting) trades that for one model run before the first sound, wherever
``p`` falls against the segment grid: exact again at most one overlap plus ``FIRST_FRAMES``
(80 frames, 1.9 s) after ``p``. :func:`separate` is
``reset(0)`` + ``feed`` + ``finish``: what is exported is what is played.

Shapes: audio ``(channels=2, samples)``; stems ``(stems, channels, samples)``; the mixture
spectrum is kept frame-major, ``(channels, frames, nb_bins)``, in a preallocated buffer (so the
FFTs read and write contiguous rows); model tensors ``(batch, 4, F, T)`` → ``(batch, S, 4, F,
T)``, kept in that layout until their frames are final (the cross-fades written into the later
segment), then read straight into the rows of one batched inverse FFT ``(synthesised stems ×
channels × frames, nb_bins)``.

Thread: the worker slot or export thread that owns the model (one StreamSeparator each).
"""

from __future__ import annotations

import logging

import numpy as np

from engine.dsp.stft import (
    HOP,
    N_FFT,
    NB_BINS,
    PAD,
    OverlapAdd,
    Stft,
    StftStream,
    n_frames,
    spec_to_model,
)
from engine.model import RunCancel, SeparationModel

log = logging.getLogger(__name__)

HIGH_BAND_TOP_BINS = 64  # modelled bins whose stem magnitudes share out the high band
MAX_BATCH = 4  # segments per model call when several are ready (dynamic batch only)
OFFLINE_BLOCK = 262144  # samples fed at a time by separate() (bounded memory)
FINAL_CHUNK = 8  # frames turned into stem samples at a time: stems × channels × these rows
#                  in one FFTW call (they stay in cache)
# frames made final by the first feed with output after a reset (0.74 s): a few ms of
# synthesis on top of the one or two model runs a seek needs, and long enough that the step
# after it (the rest of the segment) comes well before these run out. (With 16 frames, 0.37 s,
# an idle machine's far seek took more than half of that, and the worker then made the whole
# rest of the segment before the first separated sound: about 40 ms later.)
FIRST_FRAMES = 4 * FINAL_CHUNK
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


def high_band_shares(top: np.ndarray) -> np.ndarray:
    """Each stem's share of the high band: ``top`` ``(stems, channels, frames)`` mean magnitudes
    of the top modelled bins → ``(stems, channels, frames)`` float32 shares summing to one over
    the stems (equal shares where every stem is silent)."""
    total = top.sum(axis=0, keepdims=True)  # (1, channels, frames)
    share = np.where(total > _EPS, top / np.maximum(total, _EPS), np.float32(1.0 / len(top)))
    return share.astype(np.float32, copy=False)


def complete_stems(mix_t: np.ndarray, stems_t: np.ndarray, bins: int, names: tuple[str, ...],
                   residual_in_time: bool = False) -> np.ndarray:
    """Full-band stems that sum to the mixture, in place, frame-major.

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
        share = high_band_shares(top)
        np.multiply(share[:n_fill, ..., None], mix_t[None, :, :, bins:],
                    out=stems_t[:n_fill, ..., bins:])
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

    Hot path: when a segment's output arrives, NaN/Inf in it become 0 (one pass) and the
    previous segment's fading-out frames are cross-faded into its fading-in ones (_blend), so
    every frame is then read from one segment. Per ``FINAL_CHUNK`` frames that became final,
    that output goes straight from the model's layout into the rows of one batched inverse FFT
    (synthesised stems × channels × frames), the high band is written next to it, one FFTW
    call and one windowing pass make every row, and the rows are overlap-added. No full-band
    stem spectrum is kept: the model outputs stay in the model's layout until their last
    frame is final.
    """

    def __init__(self, model: SeparationModel, overlap: int | None = None,
                 max_batch: int = MAX_BATCH) -> None:
        self.model = model
        self.stems: tuple[str, ...] = model.info.stems
        self.bins = model.info.bins
        self.frames = model.info.segment_frames
        self.overlap = default_overlap(self.frames) if overlap is None else overlap
        self.step = self.frames - self.overlap
        if not (1 <= self.overlap and self.step >= PAD // HOP and self.step >= self.overlap):
            raise ValueError(f"overlap {self.overlap} does not fit segments of {self.frames}")
        self.max_batch = max_batch if model.batch_dynamic else 1
        # model runs stop early when this is cancelled (RunCancelled: reset() before the next
        # feed); set by the thread that feeds
        self.cancel: RunCancel | None = None
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
        self._n = 0  # frames live in _mix (see _alloc)
        self._mix: np.ndarray
        self._alloc(self.frames + self.step + INITIAL_SPARE_FRAMES)
        self._batch = np.empty((1, 4, self.bins, self.frames), dtype=np.float32)  # model input
        # model outputs (stems, 4, F, T) of the segments whose frames are not all final: views
        # of batch buffers (batch, stems, 4, F, T) that the model writes into; a buffer goes back
        # to _free once none of its segments is live (the same few buffers serve every run)
        self._y: dict[int, np.ndarray] = {}
        self._y_buf: dict[int, np.ndarray] = {}  # segment → the buffer its output is in
        self._buf_live: dict[int, int] = {}  # id(buffer) → its live segments
        self._free: dict[int, list[np.ndarray]] = {}  # batch size → unused buffers
        # cross-fade weights (float32, as they multiply the model output) of the first and of
        # any later segment; where segment j fades out, j + 1 fades in: they sum to one
        w_first = segment_weights(self.frames, self.overlap, first=True)
        w_next = segment_weights(self.frames, self.overlap, first=False)
        wsum = w_first[self.step :] + w_next[: self.overlap]
        assert np.all(np.abs(wsum - 1.0) < 1e-6), f"cross-fade weights sum to {wsum.min()}"
        self._w = (w_first.astype(np.float32), w_next.astype(np.float32))
        # scratch: the fading-out term of a cross-fade (_blend); `other`'s top bins and the
        # stems' mean top-bin magnitudes (_synthesise)
        self._top_bins = min(HIGH_BAND_TOP_BINS, self.bins)
        self._chunk = k = FINAL_CHUNK
        self._fade = np.empty((4, self.bins, self.overlap), dtype=np.float32)
        self._otop = np.empty((2, k, self._top_bins, 2), dtype=np.float32)
        self._top = np.empty((n_stems, 2, k), dtype=np.float32)
        self.reset(0)

    def reset(self, position: int, quick: bool = False) -> int:
        """Restart at sample ``position``; returns the sample the caller must feed from.

        ``quick`` (a listener is waiting: a seek): one model run before the first separated
        sound, never two. When the first frame falls where two segments overlap, start from
        the later one alone, as a song starts with segment 0. When it falls less than
        ``FIRST_FRAMES`` before the next segment starts (whose frames the first samples or the
        first output need), the segment covering it makes those first frames alone, into the
        overlap, and the next segment fades in over the rest of the overlap. The output then
        differs from the whole-file separation only until that fade-in ends (frame
        ``exact_from``, less than ``overlap + FIRST_FRAMES`` frames, 1.9 s, after
        ``position``); from there on it is exact. Without ``quick`` it is exact from
        ``position`` on."""
        position = max(0, int(position))
        self.position = position
        # first frame touching sample `position`, and the first segment covering that frame
        # (quick: the last one, whose start is at or before that frame)
        self._t_first = max(0, (position - PAD) // HOP + 1)
        seg = max(0, -(-(self._t_first - self.frames + 1) // self.step))
        # the first frame from which the output is the whole-file separation's
        self.exact_from = self._t_first
        self._solo_seg, self._solo_end = -1, 0
        if quick and self._t_first // self.step > seg:
            seg = self._t_first // self.step
            self.exact_from = seg * self.step + self.overlap
        elif quick and (seg + 1) * self.step < self._t_first + FIRST_FRAMES:
            # the next segment starts less than the first output's frames after the first
            # frame: segment `seg` alone makes them (up to its end), into the overlap where
            # the next one fades in, which then fades in over the rest of that overlap
            end = min(self._t_first + FIRST_FRAMES, seg * self.step + self.frames)
            if end > (seg + 1) * self.step:
                self._solo_seg, self._solo_end = seg, end
                self.exact_from = (seg + 1) * self.step + self.overlap
                ov, e = self.overlap, end - (seg + 1) * self.step
                w = np.zeros(ov, dtype=np.float64)
                w[e:] = np.arange(1, ov - e + 1, dtype=np.float64) / (ov - e + 1)
                self._w_solo = (w.astype(np.float32), (1.0 - w).astype(np.float32))
        self._next_seg = seg
        start = seg * self.step
        self._ana = StftStream(2, start)
        self._ola = OverlapAdd(2 * self._n_synth, self._t_first, position)
        self._x_start, self._x_n = self._ana.first_sample, 0
        self._out_pos = position  # absolute sample of the next output sample
        self._mix_start = start  # absolute frame index of frame 0 of _mix
        self._done = start  # absolute frame: the frames before it are made (or pre-roll)
        self._n = 0
        for j in list(self._y):
            self._drop(j)
        self._finished = False
        self._started = False  # some output since the reset
        return self._ana.first_sample

    def _alloc(self, cap: int) -> None:
        """(Re)allocate ``_mix`` ``(channels=2, cap, nb_bins)`` complex64, the mixture spectrum
        frame-major from absolute frame ``_mix_start``, keeping the live frames."""
        mix = np.empty((2, cap, NB_BINS), dtype=np.complex64)
        if self._n:  # growing: keep the live frames
            mix[:, : self._n] = self._mix[:, : self._n]
        self._mix = mix

    @property
    def feed_from(self) -> int:
        return self._ana.first_sample

    def samples_to_next_segment(self) -> int:
        """Mixture samples still to feed before the next segment has all its frames (0 when
        it has): after a reset, what the first output waits for, to be read in one go."""
        last = (self._next_seg * self.step + self.frames - 1) * HOP + PAD  # its last frame's end
        return max(0, last - self._ana.received)

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

    def _assemble(self, length: int | None = None) -> np.ndarray:
        """The samples the overlap-add has ready (``length``: all up to the end of a mixture
        of that many) → output ``(stems, 2, m)`` in model order: the synthesised stems are
        emitted straight into their rows, `other` is the mixture minus them."""
        ns, m = self._n_synth, self._ola.pending(length)
        out = np.empty((len(self.stems), 2, m), dtype=np.float32)
        direct = not self._reordered  # the synthesised stems' rows come first in `out`
        rows = out[:ns].reshape(2 * ns, m) if direct else np.empty((2 * ns, m), np.float32)
        if length is None:
            self._ola.ready(rows)
        else:
            self._ola.finish(length, rows)
        parts = rows.reshape(ns, 2, m)
        if self._resid is None or m == 0:  # (m == 0: e.g. a reset past the end)
            return out if direct else parts
        if not direct:
            out[self._order[:-1]] = parts
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
        room = self._ana.pending_frames()
        if self._n + room > self._mix.shape[1]:
            self._alloc(max(self._n + room, 2 * self._mix.shape[1]))
        # the new frames are analysed straight into _mix
        self._n += self._ana.pull_rows(self._mix[:, self._n :]).shape[1]
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
            if self._next_seg == self._solo_seg + 1:  # (reset) the first segment alone so far
                final_end = max(final_end, self._solo_end)
        until = min(final_end, end)
        if not final and not self._started:
            # nothing out since the reset (a seek): the first frames alone, so the first
            # separated sound does not wait for the synthesis of the whole first segment; the
            # next feed makes the rest
            until = min(until, self._t_first + FIRST_FRAMES)
        out = self._finalize(until)
        self._started = self._started or out.shape[2] > 0
        if final:
            tail = self._assemble(self._ana.received)
            out = np.concatenate([out, tail], axis=2)
        return out

    def _run_segments(self, segs: list[int]) -> None:
        f = self.bins
        if self._batch.shape[0] < len(segs):
            self._batch = np.empty((len(segs), 4, f, self.frames), dtype=np.float32)
        batch = self._batch[: len(segs)]  # reused: a fresh 3 MB array costs page faults
        for b, j in enumerate(segs):
            lo = j * self.step - self._mix_start
            hi = min(lo + self.frames, self._n)
            # (2, k, F) frame-major complex → (L re, L im, R re, R im) of (F, k)
            spec_to_model(self._mix[:, lo:hi].transpose(0, 2, 1), f, out=batch[b, :, :, : hi - lo])
            batch[b, :, :, hi - lo :] = 0.0
        free = self._free.setdefault(len(segs), [])
        buf = free.pop() if free else np.empty(
            (len(segs), len(self.stems), 4, f, self.frames), dtype=np.float32)
        try:
            # NaN/Inf output values become 0 (one pass over the output, only where they are)
            y = self.model.run(batch, check=True, cancel=self.cancel, out=buf)
        except BaseException:
            free.append(buf)
            raise
        if y is not buf:  # silenced NaN/Inf, or a model (wrapper) with an array of its own
            free.append(buf)
            if not y.flags.writeable:
                y = y.copy()
        else:
            self._buf_live[id(buf)] = len(segs)
        for b, j in enumerate(segs):
            self._y[j] = y[b]
            if y is buf:
                self._y_buf[j] = buf
            self._blend(j)

    def _blend(self, j: int) -> None:
        """Cross-fade segment ``j - 1``'s last ``overlap`` frames into segment ``j``'s first
        ones, in ``j``'s output (model layout, frames contiguous): from then on each frame is
        read from one segment, the latest that covers it. Only what is synthesised: every
        stem but a time-domain `other`, whose top bins alone (they share out the high band).

        Without segment ``j - 1`` (``j`` is the first after a reset) those frames come before
        the first frame output, or ``j`` is 0, whose leading weights are flat."""
        prev = self._y.get(j - 1)
        if prev is None:
            return
        y, ov, step = self._y[j], self.overlap, self.step
        if j == self._solo_seg + 1:  # j - 1 alone made the frames before _solo_end (reset)
            w_this, w_prev = self._w_solo
        else:
            w_prev = self._w[0 if j == 1 else 1][step:]  # where j - 1 fades out
            w_this = self._w[1][:ov]  # where j fades in: they sum to one
        for s in range(len(self.stems)):
            f0 = self.bins - self._top_bins if s == self._resid else 0
            head, fade = y[s, :, f0:, :ov], self._fade[:, f0:]
            np.multiply(prev[s, :, f0:, step:], w_prev, out=fade)
            np.multiply(head, w_this, out=head)
            head += fade

    def _drop(self, j: int) -> None:
        """Segment ``j``'s output is no longer needed: its buffer is free once all are."""
        del self._y[j]
        buf = self._y_buf.pop(j, None)
        if buf is not None:
            self._buf_live[id(buf)] -= 1
            if not self._buf_live[id(buf)]:
                del self._buf_live[id(buf)]
                self._free[buf.shape[0]].append(buf)

    def _finalize(self, until: int) -> np.ndarray:
        """Frames before absolute ``until`` are complete: stems → samples."""
        n = until - self._mix_start
        if until <= self._done:
            return np.zeros((len(self.stems), 2, 0), dtype=np.float32)
        # pre-roll frames are not output, frames made already not again
        i = max(0, min(n, max(self._t_first, self._done) - self._mix_start))
        while i < n:
            # segment j, the latest that covers frame t, holds it (cross-faded: _blend)
            j, r = divmod(self._mix_start + i, self.step)
            if j == self._solo_seg + 1 and j not in self._y:  # (reset) made by j - 1 alone
                j, r = j - 1, r + self.step
            k = min(self._chunk, n - i, self.step - r if j != self._solo_seg else
                    self._solo_end - (self._mix_start + i))
            self._synthesise(i, k, j)
            i += k
        out = self._assemble()
        self._done = until
        # frames kept for later segments (the next one may start before `until` after a quick
        # reset: _solo_end) moved to the front
        keep = min(until, self._next_seg * self.step) - self._mix_start
        live = self._n - keep
        if live:
            self._mix[:, :live] = self._mix[:, keep : self._n]
        self._n = live
        self._mix_start += keep
        for j in [j for j in self._y if j * self.step + self.frames <= until]:
            self._drop(j)  # every frame of segment j is final
        return out

    def _rows(self, out: np.ndarray, j: int, a: int, stem: int | None, f0: int = 0) -> None:
        """``out`` ``(channels, re/im, k, bins)`` float32 (``(stems, ...)`` of the synthesised
        stems in internal order when ``stem`` is None: only when they are the model's first) =
        segment ``j``'s output for its frames ``[a, a + k)``, bins ``f0..F``.

        Real and imaginary parts are copied apart: one numpy loop over all of them would run
        its inner loop over (re, im), two values at a time."""
        k, f, y = out.shape[-2], self.bins, self._y[j]
        if stem is None:
            src = y[: self._n_synth].reshape(self._n_synth, 2, 2, f, self.frames)
        else:
            src = y[stem].reshape(2, 2, f, self.frames)
        src = src[..., f0:, a : a + k].swapaxes(-1, -2)
        for ri in (0, 1):
            np.copyto(out[..., ri, :, :], src[..., ri, :, :])

    def _synthesise(self, i: int, k: int, j: int) -> None:
        """Frames ``[i, i + k)`` of ``_mix`` (held by segment ``j``) → the synthesised stems'
        windowed frames, overlap-added."""
        f, ns, kk = self.bins, self._n_synth, self._chunk
        a = self._mix_start + i - j * self.step  # frame of segment j
        plan = Stft.for_thread().inverse_batch(ns * 2 * kk)
        spec_all = plan.spec.reshape(ns, 2, kk, NB_BINS)  # (stems, channels, frames, bins)
        spec = spec_all[:, :, :k]
        if k < kk:
            spec_all[:, :, k:] = 0.0  # rows not used this time: FFT'd, never read
        # (stems, channels, re/im, frames, bins) view of the modelled bins
        low = plan.spec.view(np.float32).reshape(ns, 2, kk, NB_BINS, 2)[:, :, :k, :f]
        low = low.transpose(0, 1, 4, 2, 3)
        if not self._reordered:
            self._rows(low, j, a, None)
        else:
            for s in range(ns):
                self._rows(low[s], j, a, self._order[s])
        mix = self._mix[:, i : i + k]
        if self._resid is None:
            complete_stems(mix, spec, f, self._internal_names)
        elif f < NB_BINS:
            # high band: the mixture's, shared by every stem's magnitude over the top bins
            f0 = f - self._top_bins
            top = self._top[:, :, :k]
            np.abs(spec[..., f0:f]).mean(axis=3, out=top[:ns])
            otop = self._otop[:, :k]  # `other`'s estimate there (it is made in time otherwise)
            self._rows(otop.transpose(0, 3, 1, 2), j, a, self._resid, f0)
            np.abs(otop.view(np.complex64)[..., 0]).mean(axis=2, out=top[ns])
            share = high_band_shares(top)
            # real share × complex bin in float32 (re and im alike): half the work of a complex
            # product, the same values; (bins, re/im) run as one contiguous inner loop
            spec_f = plan.spec.view(np.float32).reshape(ns, 2, kk, NB_BINS, 2)[:, :, :k]
            mix_f = self._mix.view(np.float32).reshape(2, -1, NB_BINS, 2)[:, i : i + k]
            np.multiply(mix_f[None, :, :, f:], share[:ns, :, :, None, None],
                        out=spec_f[:, :, :, f:])
        self._ola.add_frames(plan.execute().reshape(ns * 2, kk, N_FFT)[:, :k])


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
