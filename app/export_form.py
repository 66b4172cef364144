"""What the export and the batch-export dialogs share. GUI thread.

The formats and bit depths offered; :class:`JobDialog`, a dialog that runs one
:class:`~app.jobs.WriteJob`: the Format / Folder / File names fields filled from the settings
(and written back when an export starts), a progress bar, a message line, and a Cancel button
(Esc too) that cancels a running job first and closes the dialog after.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs import WriteJob

FORMATS = ("wav", "flac", "ogg", "mp3")
#: bit depths offered per format: (label, soundfile subtype); empty → the codec decides
SUBTYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "wav": (("16-bit", "PCM_16"), ("24-bit", "PCM_24"), ("32-bit float", "FLOAT")),
    "flac": (("16-bit", "PCM_16"), ("24-bit", "PCM_24")),
    "ogg": (),
    "mp3": (),
}


class JobDialog(QDialog):
    """The shared widgets (laid out by the subclass): ``format``, ``folder``, ``template``,
    ``progress`` (0..1000, hidden until a job runs), ``message``, ``cancel_button``; ``job``
    while one runs. A base class: each dialog defines ``_on_finished``, ``_on_failed`` and
    ``_on_cancelled`` (Qt's metaclass rules out ``abc``, so the base raises instead)."""

    def __init__(self, settings: Any, presenter: Any, parent: QWidget | None,
                 cancel_text: str) -> None:
        super().__init__(parent)
        self.settings = settings
        self.presenter = presenter
        self.job: WriteJob | None = None
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.format.setCurrentText(
            settings.export_format if settings.export_format in FORMATS else "wav")
        self.folder = QLineEdit(settings.export_dir)
        self.template = QLineEdit(settings.export_template)
        self.template.setToolTip("Fields: {track}, {stem}, {model}, {ext}")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton(cancel_text)
        self.cancel_button.clicked.connect(self._cancel_or_close)

    def add_bottom(self, lay: QVBoxLayout, start: QPushButton,
                   left: QWidget | None = None) -> None:
        """The dialog's last rows: the progress bar, the message, then the buttons (``left``
        on the left; Cancel and ``start`` on the right)."""
        buttons = QHBoxLayout()
        if left is not None:
            buttons.addWidget(left)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(start)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

    def remember_fields(self) -> None:
        """The folder, template and format become the next export's defaults."""
        s = self.settings
        s.export_dir, s.export_template = self.folder.text(), self.template.text()
        s.export_format = self.format.currentText()

    def attach_job(self, job: WriteJob) -> None:
        """``job`` runs from now (the caller starts it): its signals go to the progress bar,
        ``_on_finished``, ``_on_failed`` and ``_on_cancelled``."""
        self.job = job
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.progress.setValue(0)
        self.progress.setVisible(True)

    def _on_progress(self, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))

    def _on_finished(self, written: list) -> None:
        raise NotImplementedError("each export dialog says what was written")

    def _on_failed(self, message: str) -> None:
        raise NotImplementedError("each export dialog says why it failed")

    def _on_cancelled(self) -> None:
        raise NotImplementedError("each export dialog says what a cancel left")

    def _cancel_or_close(self) -> None:
        if self.job is not None:
            self.message.setText("Cancelling…")
            self.job.cancel()
        else:
            self.reject()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Window closing: cancel a running job and wait for it (it cleans up after itself)."""
        if self.job is not None:
            self.job.cancel(wait=True, timeout=timeout)

    def reject(self) -> None:
        if self.job is not None:  # Esc while exporting cancels first
            self.job.cancel()
            return
        super().reject()
