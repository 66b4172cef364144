"""Runs :func:`engine.analysis.analyse_file` (beats, bars, tempo, key) off the GUI thread.

:class:`AnalysisJob` analyses one file at a time in a daemon thread (the engine caches the
result per file, so reopening a song is instant) and hands the result to the GUI thread
through a Qt signal (queued connection; see :mod:`app.jobs`). ``token`` lets the receiver drop
the result of a song that is no longer open.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import Signal

from app.jobs import FileJob

log = logging.getLogger(__name__)


class AnalysisJob(FileJob):
    done = Signal(int, object)  # token, engine.analysis.Analysis
    failed = Signal(int, str)  # token, one line

    def __init__(self, cache: Path | None = None) -> None:
        super().__init__("stemplay-analysis")
        self.cache = cache  # None: engine.config.cache_dir() / "analysis"

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
