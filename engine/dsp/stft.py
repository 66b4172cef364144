"""The one STFT of stemplay: analysis, synthesis, streaming forms and the model layout.

Convention (DESIGN.md): 44.1 kHz, ``n_fft`` 4096, ``hop`` 1024, periodic Hann window, centred
frames (the whole signal is reflect-padded by ``n_fft // 2`` at both ends, so frame ``t`` is
centred on sample ``t * hop`` and a signal of N samples has ``1 + N // hop`` frames). The
inverse is a weighted overlap-add normalised by the summed squared window, so
``istft(stft(x), N) == x`` within 1e-6.

FFTs run in single precision through pyFFTW with plans of a fixed shape (``CHUNK`` rows of
``n_fft``), built once per thread (``threading.local``) and executed repeatedly; FFTW wisdom
is loaded from ``config.cache_dir()`` at import and saved after a new plan was made (silently
skipped when the cache is not writable).

Streaming: :class:`StftStream` turns a stream of samples into frames, :class:`OverlapAdd`
turns a stream of frames back into samples; both work in absolute sample / frame indices so
that a stream restarted at frame ``t0`` yields exactly the frames (and samples) of the whole
signal. The batch :func:`stft` / :func:`istft` are these streams run once over a whole
signal, so offline and streaming results are the same arithmetic.

Shapes: audio ``(channels, samples)``; spectrum ``(channels, nb_bins, frames)`` complex64 with
``nb_bins = n_fft // 2 + 1``; model layout ``(4, F, frames)`` float32 = (L re, L im, R re, R im)
of bins ``0..F-1``.

Thread: the caller's (each thread gets its own FFTW plans).
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import threading
from pathlib import Path

import numpy as np
import pyfftw

from engine import config

log = logging.getLogger(__name__)

N_FFT = config.N_FFT
HOP = config.HOP
PAD = N_FFT // 2  # centred frames: reflect padding at both ends of a whole signal
NB_BINS = N_FFT // 2 + 1
CHUNK = 8  # rows per FFTW execution (fixed plan shape, small enough to stay in cache)
_WISDOM_FILE = "fftw-wisdom.pickle"

assert N_FFT % HOP == 0, "overlap-add by blocks needs n_fft to be a multiple of hop"
_BLOCKS = N_FFT // HOP  # hops per window


def hann_window(n_fft: int = N_FFT) -> np.ndarray:
    """Periodic Hann window ``(n_fft,)`` float32 (``0.5 - 0.5 cos(2 pi n / n_fft)``)."""
    n = np.arange(n_fft, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)


WINDOW = hann_window()
_WINDOW_SQ = WINDOW.astype(np.float64) ** 2
# The overlap-add's normaliser where every frame touching a sample exists (everywhere but the
# first and last n_fft - hop samples of a signal): the summed squared window, periodic in the
# hop, ``(hop,)`` float32 (summed in float64).
_WSS_FULL = _WINDOW_SQ.reshape(-1, HOP).sum(axis=0).astype(np.float32)


def n_frames(samples: int) -> int:
    """Number of centred frames of a signal of ``samples`` samples (0 for an empty signal)."""
    return 0 if samples <= 0 else 1 + samples // HOP


# --------------------------------------------------------------------------------------------
# FFTW wisdom and per-thread plans


def _wisdom_path() -> Path | None:
    try:
        return config.cache_dir() / _WISDOM_FILE
    except OSError:
        return None


def _load_wisdom() -> None:
    path = _wisdom_path()
    if path is None or not path.is_file():
        return
    try:
        with open(path, "rb") as fh:
            wisdom = pickle.load(fh)
        pyfftw.import_wisdom(wisdom)
    except (OSError, EOFError, pickle.UnpicklingError, TypeError, ValueError) as err:
        # a stale or foreign file only costs planning time
        log.info("ignoring FFTW wisdom %s: %s", path, err)


_wisdom_lock = threading.Lock()


def _save_wisdom() -> None:
    path = _wisdom_path()
    if path is None:
        return
    with _wisdom_lock:
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".wisdom-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(pyfftw.export_wisdom(), fh)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as err:  # read-only cache: planning is simply redone next time
            log.debug("cannot save FFTW wisdom to %s: %s", path, err)


_load_wisdom()


class Stft:
    """FFTW plans of one thread: real FFTs of ``CHUNK`` rows of ``n_fft`` samples.

    Get the calling thread's instance with :meth:`for_thread`; never share one across threads.
    """

    _local = threading.local()

    def __init__(self, n_fft: int = N_FFT, chunk: int = CHUNK) -> None:
        self.n_fft = n_fft
        self.chunk = chunk
        bins = n_fft // 2 + 1
        self._t_in = pyfftw.empty_aligned((chunk, n_fft), dtype="float32")
        self._f_out = pyfftw.empty_aligned((chunk, bins), dtype="complex64")
        self._f_in = pyfftw.empty_aligned((chunk, bins), dtype="complex64")
        self._t_out = pyfftw.empty_aligned((chunk, n_fft), dtype="float32")
        flags = ("FFTW_MEASURE",)
        self._fwd = pyfftw.FFTW(self._t_in, self._f_out, axes=(-1,), flags=flags, threads=1)
        self._inv = pyfftw.FFTW(
            self._f_in, self._t_out, axes=(-1,), direction="FFTW_BACKWARD", flags=flags,
            threads=1,
        )
        self._batches: dict[int, InverseBatch] = {}
        _save_wisdom()

    def inverse_batch(self, rows: int) -> InverseBatch:
        """This thread's inverse plan of ``rows`` rows at once (made on first use)."""
        plan = self._batches.get(rows)
        if plan is None:
            plan = InverseBatch(rows, self.n_fft)
            self._batches[rows] = plan
            _save_wisdom()
        return plan

    @classmethod
    def for_thread(cls) -> Stft:
        """The calling thread's plans (created on first use)."""
        inst = getattr(cls._local, "stft", None)
        if inst is None:
            inst = cls()
            cls._local.stft = inst
        return inst

    def rfft_into(self, rows: np.ndarray, out: np.ndarray, window: np.ndarray | None) -> None:
        """rows ``(n, n_fft)`` (any strides, e.g. a sliding-window view) × ``window`` →
        ``out`` ``(n, nb_bins)`` complex64. The windowing is done while filling FFTW's input."""
        n, chunk, t_in = rows.shape[0], self.chunk, self._t_in
        for start in range(0, n, chunk):
            r = min(chunk, n - start)
            if window is None:
                t_in[:r] = rows[start : start + r]
            else:
                np.multiply(rows[start : start + r], window, out=t_in[:r])
            self._fwd.execute()
            out[start : start + r] = self._f_out[:r]

    def irfft_into(self, rows: np.ndarray, out: np.ndarray, window: np.ndarray | None) -> None:
        """rows ``(n, nb_bins)`` complex → ``out`` ``(n, n_fft)`` float32 = inverse DFT (1/n_fft)
        × ``window`` (one pass over FFTW's output; 1/n_fft is a power of two, so exact)."""
        n, chunk, f_in, t_out = rows.shape[0], self.chunk, self._f_in, self._t_out
        scale = np.float32(1.0 / self.n_fft)
        factor = scale if window is None else (window * scale).astype(np.float32)
        for start in range(0, n, chunk):
            r = min(chunk, n - start)
            f_in[:r] = rows[start : start + r]
            self._inv.execute()  # c2r may overwrite its input: it is refilled every time
            np.multiply(t_out[:r], factor, out=out[start : start + r])


class InverseBatch:
    """One c2r FFTW plan over ``rows`` rows: fill :attr:`spec` ``(rows, nb_bins)`` complex64,
    :meth:`execute`, read :attr:`frames` ``(rows, n_fft)`` float32 (inverse DFT, 1/n_fft ×
    the window: ready for the overlap-add). Rows of several stems, channels and frames go
    through one call. Get it from ``Stft.for_thread().inverse_batch(rows)``: one per thread.
    """

    def __init__(self, rows: int, n_fft: int = N_FFT) -> None:
        self.rows = rows
        self.spec = pyfftw.zeros_aligned((rows, n_fft // 2 + 1), dtype="complex64")
        self.frames = pyfftw.empty_aligned((rows, n_fft), dtype="float32")
        self._plan = pyfftw.FFTW(self.spec, self.frames, axes=(-1,), direction="FFTW_BACKWARD",
                                 flags=("FFTW_MEASURE",), threads=1)
        self.spec[:] = 0.0  # planning with FFTW_MEASURE scribbles on the arrays
        self._factor = (hann_window(n_fft) / np.float32(n_fft)).astype(np.float32)

    def execute(self) -> np.ndarray:
        """Inverse FFT of every row (c2r may overwrite :attr:`spec`: refill it before the next
        call), × window / n_fft in place: :attr:`frames` ``(rows, n_fft)``."""
        self._plan.execute()
        out = self.frames
        np.multiply(out, self._factor, out=out)
        return out


def analyze_rows(frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Raw frames ``(channels, frames, n_fft)`` (any strides) → windowed spectrum in frame-major
    layout ``(channels, frames, nb_bins)`` complex64 (written into ``out`` if given)."""
    c, n, _ = frames.shape
    if out is None:
        out = np.empty((c, n, NB_BINS), dtype=np.complex64)
    plans = Stft.for_thread()
    for ch in range(c):
        plans.rfft_into(frames[ch], out[ch], WINDOW)
    return out


def synthesize_rows(spec_t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Frame-major spectrum ``(channels, frames, nb_bins)`` → windowed frames
    ``(channels, frames, n_fft)`` float32 (written into ``out`` if given)."""
    c, n, bins = spec_t.shape
    if bins != NB_BINS:
        raise ValueError(f"spectrum has {bins} bins, expected {NB_BINS}")
    if out is None:
        out = np.empty((c, n, N_FFT), dtype=np.float32)
    plans = Stft.for_thread()
    for ch in range(c):
        plans.irfft_into(spec_t[ch], out[ch], WINDOW)
    return out


# --------------------------------------------------------------------------------------------
# Streaming analysis and synthesis


class StftStream:
    """Samples in, centred STFT frames out, in absolute indices.

    ``start_frame`` 0 means the stream starts at sample 0 of the signal (the left edge is
    reflect-padded); ``start_frame >= 2`` means the caller feeds from sample
    ``start_frame * hop - n_fft // 2`` (see :meth:`first_sample`) and the frames equal those of
    the whole signal. Call :meth:`finish` at the end of the signal to get the last frames
    (reflect-padded right edge).
    """

    def __init__(self, channels: int = 2, start_frame: int = 0) -> None:
        if start_frame != 0 and start_frame * HOP < PAD:
            raise ValueError(f"start_frame must be 0 or >= {PAD // HOP}, got {start_frame}")
        self.channels = channels
        self.next_frame = start_frame  # the next frame pull() returns
        self._first = self.first_sample_of(start_frame)
        self._buf = np.zeros((channels, 0), dtype=np.float32)  # samples from _buf_start on
        self._buf_start = self._first  # absolute index of _buf[:, 0] (negative once padded)
        self._left_pending = start_frame == 0  # the left reflect pad is still to be made
        self._received = self._first  # absolute index after the last sample fed
        self._finished = False
        self._right_padded = False

    @staticmethod
    def first_sample_of(start_frame: int) -> int:
        """The first sample a stream starting at ``start_frame`` must be fed."""
        return 0 if start_frame == 0 else start_frame * HOP - PAD

    @property
    def first_sample(self) -> int:
        return self._first

    @property
    def received(self) -> int:
        """Absolute index after the last sample fed (the signal length once finished)."""
        return self._received

    def feed(self, block: np.ndarray) -> None:
        """Append ``block`` ``(channels, n)`` (any float dtype; copied as float32)."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be ({self.channels}, n), got {block.shape}")
        if block.shape[1]:
            self._buf = np.concatenate([self._buf, block], axis=1)
            self._received += block.shape[1]

    def finish(self) -> None:
        """Mark the end of the signal: :meth:`pull` then returns the remaining frames."""
        self._finished = True

    def pending_frames(self) -> int:
        """Upper bound of the frames :meth:`pull_rows` returns now (to size an ``out``)."""
        end = self._buf_start + self._buf.shape[1]  # the left pad keeps the end where it is
        end += PAD if self._finished and not self._right_padded else 0
        last = (end - PAD) // HOP if end >= PAD else -1
        return max(0, last - self.next_frame + 1)

    def pull(self) -> np.ndarray:
        """All frames computable now: ``(channels, nb_bins, frames)`` complex64."""
        return np.ascontiguousarray(self.pull_rows().transpose(0, 2, 1))

    def pull_rows(self, out: np.ndarray | None = None) -> np.ndarray:
        """All frames computable now, frame-major: ``(channels, frames, nb_bins)`` complex64.

        ``out``: a ``(channels, >= frames, nb_bins)`` buffer to write them into (the returned
        array is then a view of it); it must have room for every frame computable now.
        """
        self._pad_edges()
        end = self._buf_start + self._buf.shape[1]  # absolute end of what is buffered
        # frame t needs the samples before t * hop + PAD, so t <= (end - PAD) / hop
        last = (end - PAD) // HOP if end >= PAD else -1
        if self._finished:
            last = min(last, n_frames(self._received) - 1)
        count = last - self.next_frame + 1
        if count <= 0 or (self._left_pending and not self._finished):
            return np.zeros((self.channels, 0, NB_BINS), dtype=np.complex64)
        offset = self.next_frame * HOP - PAD - self._buf_start
        windows = np.lib.stride_tricks.sliding_window_view(self._buf, N_FFT, axis=1)
        if out is not None:
            if out.shape[1] < count:
                raise ValueError(f"out has room for {out.shape[1]} frames, {count} are ready")
            out = out[:, :count]
        spec = analyze_rows(windows[:, offset : offset + count * HOP : HOP], out)
        self.next_frame += count
        keep_from = self.next_frame * HOP - PAD - self._buf_start
        if keep_from > 0:
            self._buf = self._buf[:, keep_from:].copy()
            self._buf_start += keep_from
        return spec

    def _pad_edges(self) -> None:
        n = self._received
        if self._left_pending:
            if n >= PAD + 1 and not self._finished:
                left = self._buf[:, 1 : PAD + 1][:, ::-1]
                self._buf = np.concatenate([left, self._buf], axis=1)
                self._buf_start = -PAD
                self._left_pending = False
            elif self._finished:
                if n > 0:  # whole signal buffered: numpy's (repeated) reflection
                    self._buf = np.pad(self._buf, ((0, 0), (PAD, PAD)), mode="reflect")
                    self._buf_start = -PAD
                self._left_pending = False
                self._right_padded = True
                return
        if self._finished and not self._right_padded:
            avail = self._buf.shape[1]
            if avail >= PAD + 1:
                right = self._buf[:, avail - PAD - 1 : avail - 1][:, ::-1]
            elif avail:  # only reachable when nothing after the stream start is wanted
                right = np.pad(self._buf, ((0, 0), (0, PAD)), mode="edge")[:, avail:]
            else:  # a stream started past the end of the signal: nothing to reflect
                right = np.zeros((self.channels, PAD), dtype=np.float32)
            self._buf = np.concatenate([self._buf, right], axis=1)
            self._right_padded = True


class OverlapAdd:
    """STFT frames in, samples out: weighted overlap-add / summed squared window.

    Frames are pushed in order starting at absolute frame ``start_frame``; samples are emitted
    from absolute sample ``emit_from`` on, as soon as no later frame can change them. Frame
    ``t`` covers samples ``[t*hop - n_fft//2, t*hop + n_fft//2)``, so ``emit_from`` must not be
    touched by frames before ``start_frame``: ``emit_from >= (start_frame - 1)*hop + n_fft//2``
    (any value for ``start_frame == 0``). The summed squared window of a sample depends only
    on which frames of the signal touch it (all of them but at the signal's two ends): it is
    not accumulated, but read from a table or, at the ends, summed when emitted.
    """

    SUB_FRAMES = 8  # frames synthesised and added at a time (the scratch stays in cache)

    def __init__(self, channels: int, start_frame: int = 0, emit_from: int = 0) -> None:
        if start_frame > 0 and emit_from < (start_frame - 1) * HOP + PAD:
            raise ValueError("emit_from is touched by frames before start_frame")
        self.channels = channels
        self.next_frame = start_frame
        self._base = start_frame * HOP  # padded index of _acc[:, 0] (a multiple of hop)
        # preallocated accumulator (channels, capacity); only [:_len] is live. _norm[i]: the
        # full normaliser of _acc[:, i] (_base is a multiple of hop), as long as _acc
        self._acc = np.zeros((channels, 0), dtype=np.float32)
        self._norm = np.zeros(0, dtype=np.float32)
        self._len = 0
        self._scratch = np.empty((channels, self.SUB_FRAMES, N_FFT), dtype=np.float32)
        self._emitted = emit_from  # absolute index of the next sample to emit

    def push(self, spec: np.ndarray) -> np.ndarray:
        """spec ``(channels, nb_bins, frames)`` → newly completed samples ``(channels, m)``."""
        return self.push_rows(spec.transpose(0, 2, 1))

    def push_rows(self, spec_t: np.ndarray) -> np.ndarray:
        """Frame-major spec ``(channels, frames, nb_bins)`` → newly completed samples."""
        self.add_rows(spec_t)
        return self.ready()

    def add_rows(self, spec_t: np.ndarray) -> None:
        """Synthesise and add frame-major frames ``(channels, frames, nb_bins)`` without
        emitting (call :meth:`ready` after the last batch)."""
        n, sub = spec_t.shape[1], self.SUB_FRAMES
        for i in range(0, n, sub):
            k = min(sub, n - i)
            frames = synthesize_rows(spec_t[:, i : i + k], self._scratch[:, :k])
            self._add(frames)

    def ready(self, out: np.ndarray | None = None) -> np.ndarray:
        """The samples no later frame can change and not yet emitted ``(channels, m)``
        (written into ``out``, of that shape, if given; :meth:`pending` tells ``m``)."""
        return self._emit(self.next_frame * HOP - PAD, out)

    def pending(self, length: int | None = None) -> int:
        """How many samples :meth:`ready` (or ``finish(length)``) returns now."""
        until = self.next_frame * HOP - PAD if length is None else length
        return max(0, until - self._emitted)

    def add_frames(self, frames: np.ndarray) -> None:
        """Add windowed frames ``(channels, n, n_fft)`` (any strides along ``channels`` and
        ``n``) without emitting (e.g. the output of :class:`InverseBatch`)."""
        if frames.shape[1]:
            self._add(frames)

    def finish(self, length: int, out: np.ndarray | None = None) -> np.ndarray:
        """End of signal of ``length`` samples: the remaining samples up to ``length`` (into
        ``out`` as :meth:`ready`)."""
        return self._emit(length, out)

    def _reserve(self, need: int) -> None:
        """Make ``[:need]`` live: zero the newly used part, grow the buffers if needed."""
        if need > self._acc.shape[1]:
            cap = max(need, 2 * self._acc.shape[1])
            acc = np.empty((self.channels, cap), dtype=np.float32)
            acc[:, : self._len] = self._acc[:, : self._len]
            self._acc = acc
            self._norm = np.tile(_WSS_FULL, -(-cap // HOP))[:cap]
        if need > self._len:
            self._acc[:, self._len : need] = 0.0
            self._len = need

    def _add(self, frames: np.ndarray) -> None:
        c, n, _ = frames.shape
        first = self.next_frame * HOP - self._base  # padded offset of the first new frame
        self._reserve(first + (n - 1) * HOP + N_FFT)
        acc = self._acc[:, first : first + (n - 1 + _BLOCKS) * HOP].reshape(c, -1, HOP)
        blocks = frames.reshape(c, n, _BLOCKS, HOP)
        for q in range(_BLOCKS):  # frame i adds its q-th hop-sized block at block i + q
            acc[:, q : q + n] += blocks[:, :, q]
        self.next_frame += n

    def _edge_wss(self, lo: int, hi: int) -> np.ndarray:
        """Summed squared window ``(hi - lo,)`` float64 of ``_acc[:, lo:hi]`` over the frames
        that exist: none before frame 0, none after the last one pushed."""
        pos = np.arange(lo, hi) + self._base  # padded sample index
        wss = np.zeros(hi - lo, dtype=np.float64)
        for q in range(_BLOCKS):  # the frame whose q-th block holds the sample
            t = pos // HOP - q
            wss += np.where((t >= 0) & (t < self.next_frame), _WINDOW_SQ[pos % HOP + q * HOP], 0.0)
        return wss

    def _emit(self, until: int, out: np.ndarray | None = None) -> np.ndarray:
        start = self._emitted
        if until <= start:
            return np.zeros((self.channels, 0), dtype=np.float32)
        lo = start + PAD - self._base  # offsets into _acc (padded coordinates)
        hi = until + PAD - self._base
        avail = self._len
        a, b = max(lo, 0), min(hi, avail)
        if out is None:
            out = np.zeros((self.channels, hi - lo), dtype=np.float32)
        else:
            assert out.shape == (self.channels, hi - lo), (out.shape, hi - lo)
            out[:, : max(0, a - lo)] = 0.0  # where no frame has been added
            out[:, max(0, b - lo) :] = 0.0
        # where all four frames touching a sample exist: from padded sample 3 hops on, up to
        # the start of the next frame
        full_lo = max(a, _BLOCKS * HOP - HOP - self._base)
        full_hi = min(b, self.next_frame * HOP - self._base)
        if full_hi > full_lo:
            np.divide(self._acc[:, full_lo:full_hi], self._norm[full_lo:full_hi],
                      out=out[:, full_lo - lo : full_hi - lo])
            edges = [(a, full_lo), (full_hi, b)]
        else:
            edges = [(a, b)]
        for e_lo, e_hi in edges:  # the signal's ends
            if e_hi > e_lo:
                wss = self._edge_wss(e_lo, e_hi)
                out[:, e_lo - lo : e_hi - lo] = 0.0  # where the window sums to 0
                np.divide(self._acc[:, e_lo:e_hi], wss.astype(np.float32),
                          out=out[:, e_lo - lo : e_hi - lo], where=wss > 1e-10)
        self._emitted = until
        # samples before both `hi` and the next frame's start are final and emitted: drop them
        drop = min(hi, avail, self.next_frame * HOP - self._base) // HOP * HOP
        if drop > 0:
            keep = self._len - drop
            self._acc[:, :keep] = self._acc[:, drop : self._len]  # overlap-safe in numpy
            self._len = keep
            self._base += drop
        return out


# --------------------------------------------------------------------------------------------
# Batch forms and the model layout


def stft(audio: np.ndarray) -> np.ndarray:
    """audio ``(channels, samples)`` → spectrum ``(channels, nb_bins, frames)`` complex64."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got {audio.shape}")
    stream = StftStream(audio.shape[0], 0)
    stream.feed(audio)
    stream.finish()
    return stream.pull()


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    """spectrum ``(channels, nb_bins, frames)`` → audio ``(channels, length)`` float32."""
    if spec.ndim != 3:
        raise ValueError(f"spectrum must be (channels, bins, frames), got {spec.shape}")
    ola = OverlapAdd(spec.shape[0], 0, 0)
    head = ola.push(spec.astype(np.complex64, copy=False))[:, :length]
    tail = ola.finish(length) if head.shape[1] < length else head[:, :0]
    return np.concatenate([head, tail], axis=1)


def spec_to_model(spec: np.ndarray, bins: int, out: np.ndarray | None = None) -> np.ndarray:
    """Spectrum ``(..., 2, nb_bins, frames)`` (any strides, e.g. a transposed frame-major
    view) → model input ``(..., 4, bins, frames)`` float32 (written into ``out`` if given).

    Channels are (L re, L im, R re, R im) of bins ``0..bins-1``.
    """
    low = spec[..., :bins, :]
    if out is None:
        out = np.empty(low.shape[:-3] + (4,) + low.shape[-2:], dtype=np.float32)
    out[..., 0::2, :, :] = low.real
    out[..., 1::2, :, :] = low.imag
    return out


def model_to_spec(x: np.ndarray) -> np.ndarray:
    """Model layout ``(..., 4, bins, frames)`` → complex ``(..., 2, bins, frames)`` complex64."""
    out = np.empty(x.shape[:-3] + (2,) + x.shape[-2:], dtype=np.complex64)
    out.real = x[..., 0::2, :, :]
    out.imag = x[..., 1::2, :, :]
    return out
