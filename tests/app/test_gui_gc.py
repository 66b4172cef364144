"""Garbage that holds Qt objects is collected on the GUI thread, never on a worker thread.

A worker thread that triggered Python's automatic collection destroyed an export dialog's
objects there and the app froze (C++ destructor waiting for the GIL, GUI thread waiting for
Qt's lock). With a window open, automatic collection is off and the window's timer collects.
"""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from app.alerts import ErrorPresenter
from app.main_window import MainWindow
from tests.app.test_main_window import null_engine


class _Cyclic(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.me = self  # a reference cycle: only the cyclic collector frees it
        self.destroyed_on: list[str] = []


def test_cyclic_qt_garbage_from_a_worker_thread_is_freed_on_the_gui_thread(qtbot, settings):
    was_enabled = gc.isenabled()
    w = MainWindow(settings, null_engine, ErrorPresenter())
    qtbot.addWidget(w)
    try:
        assert not gc.isenabled()  # no thread starts a collection by itself any more
        refs: list[weakref.ref] = []
        seen_from: list[str] = []

        def work() -> None:
            obj = _Cyclic()
            refs.append(weakref.ref(obj))
            obj.destroyed.connect(lambda *_: seen_from.append(threading.current_thread().name))
            del obj
            junk = [[i] for i in range(50_000)]  # crosses every threshold many times over
            del junk

        t = threading.Thread(target=work, name="not-the-gui")
        t.start()
        t.join()
        assert refs[0]() is not None  # the worker did not collect it
        qtbot.waitUntil(lambda: refs[0]() is None, timeout=10_000)
        assert seen_from in ([], [threading.main_thread().name])
        assert w._collector.collections >= 1
    finally:
        w.close()
        if was_enabled:
            gc.enable()
