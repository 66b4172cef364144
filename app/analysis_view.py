"""Runs :func:`engine.analysis.analyse_file` (beats, bars, tempo, key) off the GUI thread.

:class:`AnalysisJob` analyses one file at a time in a daemon thread (the engine caches the
result per file, so reopening a song is instant) and hands the result to the GUI thread
through a Qt signal (queued connection). ``token`` lets the receiver drop the result of a song
that is no longer open.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class AnalysisJob(QObject):
    done = Signal(int, object)  # token, engine.analysis.Analysis
    failed = Signal(int, str)  # token, one line

    def __init__(self, cache: Path | None = None) -> None:
        super().__init__()
        self.cache = cache  # None: engine.config.cache_dir() / "analysis"
        self._cancel = threading.Event()  # set by the GUI thread, read by the job's thread
        self._thread: threading.Thread | None = None
        self._token = 0

    def start(self, path: str | Path) -> int:
        """Cancel any running analysis and start one for ``path``; returns its token."""
        self.cancel()
        self._token += 1
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(Path(path), self._token, self._cancel),
            name="stemplay-analysis", daemon=True)
        self._thread.start()
        return self._token

    def cancel(self, wait: bool = False) -> None:
        self._cancel.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self, path: Path, token: int, cancel: threading.Event) -> None:
        from engine.analysis import AnalysisCancelled, analyse_file
        from engine.errors import StemplayError

        try:
            result = analyse_file(path, cache=self.cache, cancel=cancel)
        except AnalysisCancelled:
            return
        except StemplayError as err:
            self.failed.emit(token, str(err))
            return
        except Exception:  # a bug must not kill the app; the header just shows no tempo
            log.exception("beat/key analysis failed for %s", path)
            self.failed.emit(token, "beat analysis failed")
            return
        if not cancel.is_set():
            self.done.emit(token, result)
