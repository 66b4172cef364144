"""How the GUI tells the user that something went wrong. GUI thread.

Every user error (bad file, bad model, no device, failed export) arrives here as a title and the
engine's one-line message. The box is window-modal but opened with ``open()``, not ``exec()``:
the event loop keeps running (playback status, meters), and tests can read ``history`` and
dismiss ``current`` without patching anything.

:func:`ask` is the one yes/no question (replace files? quit during an export?): modal, "No" is
the default; callers wrap it in a method that tests replace.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


class ErrorPresenter:
    """Shows one message box at a time; repeated identical messages are not stacked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self.history: list[tuple[str, str]] = []  # (title, message), oldest first
        self.current: QMessageBox | None = None

    def show_error(self, title: str, message: str) -> None:
        log.warning("%s: %s", title, message)
        self.history.append((title, message))
        if self.current is not None and self.current.isVisible():
            if self.current.text() == message:
                return
            self.current.close()
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(message)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.open()
        self.current = box

    def dismiss(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def ask(parent: QWidget | None, title: str, text: str) -> bool:
    """A modal yes/no question, "No" by default; True when the user answered "Yes"."""
    answer = QMessageBox.question(
        parent, title, text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes
