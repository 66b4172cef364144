"""A label that shortens its text with "…" to the width it is given. GUI thread.

Long song titles must neither widen the window nor push the model pickers around: the label
takes whatever width the layout leaves (size policy Ignored) and elides; the full text is in
the tooltip when it does not fit.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """``setText`` keeps the full text; what is shown is elided at the right with "…"."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = ""  # a tooltip set by the owner (kept when the text fits)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(60)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        self._full = str(text)
        self._refresh()

    def set_tip(self, tip: str) -> None:
        self._tip = tip
        self._refresh()

    @property
    def elided(self) -> bool:
        return self.text() != self._full

    def resizeEvent(self, e: QResizeEvent) -> None:
        super().resizeEvent(e)
        self._refresh()

    def changeEvent(self, e) -> None:
        super().changeEvent(e)
        self._refresh()

    def _refresh(self) -> None:
        shown = self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideRight, max(0, self.width() - 2)
        )
        if shown != self.text():
            super().setText(shown)
        tip = self._tip or (self._full if shown != self._full else "")
        if tip != self.toolTip():
            self.setToolTip(tip)
