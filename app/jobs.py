"""The GUI's background jobs: work that takes long runs on a daemon thread of its own and
reports back through Qt signals. The job object lives in the GUI thread, so its signals are
queued into the GUI thread's event loop; the receiver touches widgets, never the thread.
Cancel sets a ``threading.Event`` the work polls (the engine's ``cancel=`` arguments).

- :class:`ThreadJob`: one thread per job (``start``, ``cancel``, ``running``).
- :class:`FileJob`: one file at a time, restartable (the waveform's envelope, the beat
  analysis): ``start(path)`` cancels the one before and returns a token that the results
  carry, so the receiver drops those of a song no longer open (``is_current(token)``).
- :class:`WriteJob`: a job that writes files (export, batch export): ``progress`` 0..1, then
  exactly one of ``finished(list[Path])``, ``failed(one line)`` or ``cancelled()``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

#: How long ``cancel(wait=True)`` waits for the thread by default (seconds).
JOIN_TIMEOUT_S = 5.0


class ThreadJob(QObject):
    """``_run(*args)`` on a daemon thread called ``name``. A base class: each job defines
    ``_run`` (Qt's metaclass rules out ``abc``, so the base raises instead)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.cancel_event = threading.Event()  # set by the GUI thread, read by the job's thread
        self.thread: threading.Thread | None = None

    def _launch(self, *args: Any) -> None:
        self.thread = threading.Thread(target=self._run, args=args, name=self.name, daemon=True)
        self.thread.start()

    def cancel(self, wait: bool = False, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Ask the work to stop; ``wait``: until its thread has ended (at most ``timeout``)."""
        self.cancel_event.set()
        if wait and self.thread is not None:
            self.thread.join(timeout)

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _run(self, *args: Any) -> None:
        raise NotImplementedError("the job's work on its thread: each job class defines it")


class FileJob(ThreadJob):
    """Works on one file at a time: ``_run(path, token, cancel_event)``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.token = 0  # of the newest start (GUI thread only)

    def start(self, path: str | Path) -> int:
        """Cancel any running work and start on ``path``; returns its token."""
        self.cancel()
        self.token += 1
        self.cancel_event = threading.Event()  # the old thread keeps its own, set
        self._launch(Path(path), self.token, self.cancel_event)
        return self.token

    def is_current(self, token: int) -> bool:
        """Whether a result carrying ``token`` is of the newest start."""
        return token == self.token


class WriteJob(ThreadJob):
    """Writes files on its thread: ``work()`` returns the files written, or None when it was
    cancelled; it raises ``StemplayError`` for a reason a person can act on. ``undo()``
    (after a failure or a cancel) removes what the job wrote that the engine did not."""

    progress = Signal(float)  # 0..1
    finished = Signal(list)  # list[Path] written
    failed = Signal(str)  # one line; nothing half-written is left
    cancelled = Signal()

    #: Names the job in the message of an unexpected error ("export failed: …").
    what = "export"

    def start(self) -> None:
        self._launch()

    def work(self) -> list[Path] | None:
        raise NotImplementedError("each write job defines what it writes")

    def undo(self) -> None:
        """Nothing by default: ``engine.export.export_file`` removes what it wrote."""

    def report_progress(self, fraction: float) -> None:
        """For the engine's ``progress=`` callback (clamped to 0..1)."""
        self.progress.emit(min(max(fraction, 0.0), 1.0))

    def _run(self) -> None:
        from engine.errors import StemplayError

        try:
            written = self.work()
        except StemplayError as err:
            self.undo()
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(str(err))
            return
        except Exception as err:  # a bug must not take the app down; nothing is kept
            log.exception("%s failed", self.what)
            self.undo()
            self.failed.emit(f"{self.what} failed: {err}")
            return
        if written is None or self.cancel_event.is_set():
            self.undo()
            self.cancelled.emit()  # earlier files untouched
        else:
            self.finished.emit(list(written))
