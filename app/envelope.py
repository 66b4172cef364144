"""The waveform overview's data: a decimated peak/RMS envelope of the mix. Worker thread.

:class:`Envelope` accumulates blocks into a fixed number of buckets with numpy ``reduceat`` (no
Python loop per sample); :class:`EnvelopeJob` reads the file through the engine's streaming
decoder in a daemon thread and hands the result to the GUI through a Qt signal (queued
connection, because the receiver lives in the GUI thread; see :mod:`app.jobs`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal

from app.jobs import FileJob

log = logging.getLogger(__name__)

BUCKETS = 3000  # resolution of the overview (more than any screen is wide)
READ_BLOCK = 1 << 16  # samples per decoder read


class Envelope:
    """Peak and RMS of the mono mix in ``buckets`` equal slices of a ``total``-sample track.

    ``peak`` and ``rms`` have shape ``(buckets,)``, linear amplitude.
    """

    def __init__(self, total: int, buckets: int = BUCKETS) -> None:
        self.total = max(1, int(total))
        self.buckets = int(min(buckets, self.total))
        self.peak = np.zeros(self.buckets, np.float32)
        self._sq = np.zeros(self.buckets, np.float64)
        self._n = np.zeros(self.buckets, np.int64)
        self.position = 0  # samples consumed so far

    def add(self, block: np.ndarray) -> None:
        """Consume the next ``(channels, n)`` block."""
        n = block.shape[-1]
        if n == 0:
            return
        mono = np.abs(block.mean(axis=0)) if block.ndim == 2 else np.abs(block)
        idx = (np.arange(self.position, self.position + n, dtype=np.int64) * self.buckets) // (
            self.total
        )
        np.minimum(idx, self.buckets - 1, out=idx)
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        b = idx[starts]
        np.maximum.at(self.peak, b, np.maximum.reduceat(mono, starts))
        np.add.at(self._sq, b, np.add.reduceat(mono.astype(np.float64) ** 2, starts))
        np.add.at(self._n, b, np.diff(np.r_[starts, n]))
        self.position += n

    @property
    def rms(self) -> np.ndarray:
        return np.sqrt(self._sq / np.maximum(self._n, 1)).astype(np.float32)


class EnvelopeJob(FileJob):
    """Computes the envelope of one file off the GUI thread.

    ``progress`` carries partial envelopes (the overview fills in while the file is read);
    ``done`` carries the final one. ``token`` lets the receiver drop results of an older file.
    """

    progress = Signal(int, object, object)  # token, peak (buckets,), rms (buckets,)
    done = Signal(int, object, object)
    failed = Signal(int, str)

    def __init__(self) -> None:
        super().__init__("stemplay-envelope")

    def _run(self, path: Path, token: int, cancel: threading.Event) -> None:
        from engine.decode import open_audio
        from engine.errors import StemplayError

        try:
            reader = open_audio(path)
        except StemplayError as err:
            self.failed.emit(token, str(err))
            return
        try:
            env = Envelope(reader.info.samples)
            reads = 0
            while not cancel.is_set():
                block = reader.read(READ_BLOCK)
                if block.shape[-1] == 0:
                    break
                env.add(block)
                reads += 1
                if reads % 32 == 0:
                    self.progress.emit(token, env.peak.copy(), env.rms)
            if not cancel.is_set():
                self.done.emit(token, env.peak.copy(), env.rms)
        except StemplayError as err:
            self.failed.emit(token, str(err))
        except Exception:  # a bug must not kill the app; the overview just stays empty
            log.exception("waveform overview failed for %s", path)
            self.failed.emit(token, "could not draw the waveform")
        finally:
            reader.close()
