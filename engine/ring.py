"""Preallocated per-stem ring buffers between the worker thread and the audio callback.

One :class:`StemRing` holds, for one source (the plain mix, model slot A, slot B or the
reference stems), the next few seconds of audio as ``(stems, capacity, channels)`` float32,
addressed by *absolute stream positions* (samples since the current generation started).

Threads: the worker is the only writer (``reset``, ``rebase``, ``write``, ``truncate``,
``mark_eof``); the audio callback is the only reader (``read_into``, ``publish_read``). There is
no lock: the writer publishes ``(generation, start, end, eof)`` as one tuple, swapped by
reference (atomic under the GIL), *after* the samples are in place; the reader takes one
snapshot, copies, then checks the generation again (a seqlock) and drops the block if it
changed meanwhile. The writer never overwrites samples at or after the reader's published
position of the same generation, so within a generation a copy is never torn.

A seek bumps the generation: ``reset(generation, position)`` empties the ring, or, for a seek
into audio the ring already holds, ``rebase`` keeps that audio as the start of the new
generation; blocks of an older generation are never handed to the callback.
"""

from __future__ import annotations

import numpy as np

from engine.config import CHANNELS

#: ``eof`` value meaning "the end of the track is not reached yet".
NO_EOF = -1


class StemRing:
    """Ring buffer of ``(stems, capacity, channels)`` float32 samples at absolute positions."""

    def __init__(self, stems: int, capacity: int, channels: int = CHANNELS) -> None:
        if stems < 1 or capacity < 1 or channels < 1:
            raise ValueError(f"bad ring shape stems={stems} capacity={capacity}")
        self.stems = stems
        self.channels = channels
        self.capacity = capacity
        # (stems, capacity, channels). Written by the worker in the free part only; read by the
        # callback in [start, end) of the published state.
        self.buf = np.zeros((stems, capacity, channels), dtype=np.float32)
        # Published state (generation, start, end, eof): written by the worker (one reference
        # swap), read by the callback. Samples of stream positions [start, end) are valid.
        self.state: tuple[int, int, int, int] = (0, 0, 0, NO_EOF)
        # Reader position (generation, position): written by the callback, read by the worker
        # to know which samples it may overwrite.
        self.read_pos: tuple[int, int] = (0, 0)

    # ------------------------------------------------------------------ worker side
    @property
    def generation(self) -> int:
        return self.state[0]

    @property
    def end(self) -> int:
        """Next stream position the writer will fill."""
        return self.state[2]

    @property
    def eof(self) -> int:
        """Stream position of the end of the track, or ``NO_EOF``."""
        return self.state[3]

    def reset(self, generation: int, position: int) -> None:
        """Empty the ring and start generation ``generation`` at stream ``position`` (worker)."""
        self.state = (generation, position, position, NO_EOF)

    def rebase(self, generation: int, at: int, new_generation: int,
               until: int | None = None) -> bool:
        """Keep the samples from stream ``at`` of ``generation`` on, as stream position 0 of
        ``new_generation`` (worker; a seek into audio already here).

        The end of the ring still follows the same track position, so its writer carries on
        unchanged. An end-of-track mark is kept only when it lies before ``until`` (a position
        of the new generation from which the caller will truncate; None: keep it). False, and
        the ring unchanged, when it holds nothing of ``generation`` at ``at``.
        """
        gen, start, end, eof = self.state
        if gen != generation or not start <= at < end:
            return False
        n = end - at
        keep = np.empty((self.stems, n, self.channels), dtype=np.float32)  # (stems, n, channels)
        if self.read_into(keep, gen, at) < n:
            return False
        self.reset(new_generation, 0)
        self.write(keep.transpose(0, 2, 1))
        if eof != NO_EOF and (until is None or until > n):
            self.mark_eof()
        return True

    def _low(self) -> int:
        """Oldest position the reader may still need (nothing before it is read again)."""
        gen, start, _end, _eof = self.state
        rgen, rpos = self.read_pos
        return max(start, rpos) if rgen == gen else start

    def free(self) -> int:
        """How many samples ``write`` accepts now (worker)."""
        _gen, _start, end, _eof = self.state
        return max(0, self.capacity - (end - self._low()))

    def ahead(self) -> int:
        """Samples written ahead of the reader's position (worker, for scheduling)."""
        gen, start, end, _eof = self.state
        rgen, rpos = self.read_pos
        return end - (max(start, rpos) if rgen == gen else start)

    def write(self, block: np.ndarray) -> int:
        """Append ``block`` ``(stems, channels, n)`` at ``end``; returns how many were taken.

        Takes at most ``free()`` samples; the caller keeps the rest for later.
        """
        if block.ndim != 3 or block.shape[0] != self.stems or block.shape[1] != self.channels:
            raise ValueError(
                f"block shape {block.shape} does not match ring ({self.stems}, {self.channels}, n)"
            )
        gen, start, end, eof = self.state
        n = min(block.shape[2], self.free())
        if n <= 0:
            return 0
        i0 = end % self.capacity
        first = min(n, self.capacity - i0)
        self.buf[:, i0 : i0 + first, :] = block[:, :, :first].transpose(0, 2, 1)
        if first < n:
            self.buf[:, : n - first, :] = block[:, :, first:n].transpose(0, 2, 1)
        new_end = end + n
        self.state = (gen, max(start, new_end - self.capacity), new_end, eof)
        return n

    def truncate(self, position: int) -> None:
        """Forget everything from stream ``position`` on (same generation; worker).

        Used when the timeline changes ahead of the playhead (loop set or cleared). The caller
        guarantees ``position`` is beyond what the callback may be reading.
        """
        gen, start, end, _eof = self.state
        if position <= start:
            self.state = (gen, position, position, NO_EOF)
        elif position < end:
            self.state = (gen, start, position, NO_EOF)

    def mark_eof(self) -> None:
        """The track ends at the current ``end`` (worker)."""
        gen, start, end, _eof = self.state
        self.state = (gen, start, end, end)

    # ------------------------------------------------------------------ callback side
    def read_into(self, out: np.ndarray, generation: int, position: int) -> int:
        """Copy samples from ``position`` into ``out`` ``(stems, n, channels)`` (callback).

        Returns how many leading samples of ``out`` are valid: ``n`` when the ring covers
        ``[position, position + n)`` in ``generation``, fewer at an underrun, 0 when the ring
        holds another generation or nothing there. Never allocates a buffer, never blocks.
        """
        gen, start, end, _eof = self.state
        if gen != generation or position < start or position >= end:
            return 0
        n = min(out.shape[1], end - position)
        i0 = position % self.capacity
        first = min(n, self.capacity - i0)
        out[:, :first, :] = self.buf[:, i0 : i0 + first, :]
        if first < n:
            out[:, first:n, :] = self.buf[:, : n - first, :]
        # Seqlock check: a reset (seek) during the copy may have reused these slots.
        if self.state[0] != generation:
            return 0
        return n

    def available(self, generation: int, position: int) -> int:
        """Samples readable from ``position`` in ``generation`` (callback or worker)."""
        gen, start, end, _eof = self.state
        if gen != generation or position < start:
            return 0
        return max(0, end - position)

    def at_eof(self, generation: int, position: int) -> bool:
        """True when ``position`` is at or past the end of the track (callback)."""
        gen, _start, _end, eof = self.state
        return gen == generation and eof != NO_EOF and position >= eof

    def publish_read(self, generation: int, position: int) -> None:
        """The callback has consumed everything before ``position`` (frees space)."""
        self.read_pos = (generation, position)
