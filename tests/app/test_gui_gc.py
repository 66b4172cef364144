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
from app.gui_gc import GuiThreadCollector
from app.main_window import MainWindow
from tests.app.conftest import null_engine


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

        junk: list[list[int]] = []

        def work() -> None:
            obj = _Cyclic()
            refs.append(weakref.ref(obj))
            obj.destroyed.connect(lambda *_: seen_from.append(threading.current_thread().name))
            del obj
            # live containers: the collector's counter stays past every threshold (it counts
            # allocations minus deallocations, so freed junk would not do)
            junk.extend([i] for i in range(50_000))

        t = threading.Thread(target=work, name="not-the-gui")
        t.start()
        t.join()
        assert refs[0]() is not None  # the worker did not collect it
        qtbot.waitUntil(lambda: refs[0]() is None, timeout=10_000)
        # freed by a window's timer (this one's, or an earlier test's window still alive)
        assert seen_from in ([], [threading.main_thread().name])
    finally:
        w.close()
    assert gc.isenabled() == was_enabled or GuiThreadCollector.live > 0  # last window: back on
