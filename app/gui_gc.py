"""Python's cyclic garbage collector runs on the GUI thread only. GUI thread.

Automatic collection runs in whichever thread happens to allocate when a threshold is crossed.
When that is a separation or analysis thread and the garbage holds a Qt object (a dialog, a
connection's closure), the object's C++ destructor runs on that thread: it takes Qt's
connection lock and then waits for the GIL, while the GUI thread holds the GIL and waits for
that lock — the app freezes for good. Seen in the test suite (session 3): the B separation
thread collected an export dialog's objects while the GUI thread filled a combo box.

So while a window lives, automatic collection is off and a GUI-thread timer collects whenever
the thresholds say automatic collection would have; when the last window closes (its engine's
threads stopped) automatic collection comes back. Reference counting (most garbage) is untouched.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

#: How often the GUI thread looks at the collector's counters (milliseconds).
CHECK_MS = 250


class GuiThreadCollector(QObject):
    """Owns the timer; create one per window (parented to it)."""

    live = 0  # collectors not yet released (GUI thread only)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        gc.disable()  # process-wide: no thread but this one starts a collection from now on
        GuiThreadCollector.live += 1
        self.released = False
        self.collections = 0
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> int:
        """Collect the oldest generation whose threshold is crossed; returns it, or -1."""
        counts, limits = gc.get_count(), gc.get_threshold()
        generation = -1
        for g in range(3):
            if limits[g] and counts[g] > limits[g]:
                generation = g
        if generation >= 0:
            gc.collect(generation)
            self.collections += 1
        return generation

    def release(self) -> None:
        """The window closes: stop the timer; the last one collects and turns automatic
        collection back on (what is left of the closed window is freed here, on this thread)."""
        if self.released:
            return
        self.released = True
        self.timer.stop()
        GuiThreadCollector.live -= 1
        if GuiThreadCollector.live <= 0:
            GuiThreadCollector.live = 0
            gc.collect()
            gc.enable()
