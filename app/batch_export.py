"""Batch export: a queue of songs separated and written one after the other, with one progress
bar and one Cancel. The dialog runs on the GUI thread; :class:`BatchJob` runs the songs on one
daemon thread through ``engine.export.export_file`` (atomic per song: a cancelled or failed
song leaves nothing behind) with the model loaded once.

Cancel (or a failure) also removes every file the batch wrote for the songs before, and the
folders it made for them, so a cancelled batch leaves the disk as it was, except files that
existed before and that the user agreed to replace: those were replaced only by complete new
ones and stay.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.export_dialog import FORMATS, SUBTYPES

log = logging.getLogger(__name__)

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.m4a *.opus);;All files (*)"


def planned_outputs(song: Path, out_dir: Path, fmt: str, template: str, model_name: str,
                    stems: list[str]) -> list[Path]:
    """The files one song of the batch will write (``engine.export.output_paths``)."""
    from engine.decode import open_audio
    from engine.export import output_paths

    with open_audio(song) as reader:
        title = reader.info.title
    return output_paths(out_dir, title, stems, fmt, model_name, template)


class BatchJob(QObject):
    """Exports ``songs`` one after the other on one thread."""

    progress = Signal(float)  # 0..1 over the whole batch
    song_started = Signal(int)  # index of the song being exported
    finished = Signal(list)  # list[Path] written
    failed = Signal(str)  # one line; what the batch wrote is removed
    cancelled = Signal()

    def __init__(self, songs: list[Path], model: str | None, kwargs: dict[str, Any],
                 replace: set[Path] | None = None) -> None:
        super().__init__()
        self.songs = [Path(s) for s in songs]
        self.model = model
        self.kwargs = kwargs  # out_dir, fmt, subtype, name, stems for every song
        self.replace = set(replace or ())  # songs whose existing files may be replaced
        self.cancel_event = threading.Event()  # GUI thread sets, batch thread reads
        self.written: list[Path] = []  # batch thread; read after it ended
        self.thread = threading.Thread(target=self._run, name="stemplay-batch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def running(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        from engine import export
        from engine.errors import StemplayError
        from engine.model import load_model

        created_dirs: list[Path] = []
        n = len(self.songs)
        try:
            key = self.model
            if not key:
                from engine.errors import ExportError
                from engine.model import default_model_path

                path = default_model_path()
                if path is None:
                    raise ExportError("no separation model: choose one for A first")
                key = str(path)
            model = load_model(key)
            out_dir = Path(self.kwargs["out_dir"]).expanduser()
            for i, song in enumerate(self.songs):
                if self.cancel_event.is_set():
                    break
                self.song_started.emit(i)
                outputs = planned_outputs(song, out_dir, self.kwargs["fmt"], self.kwargs["name"],
                                          model.info.name, list(self.kwargs["stems"]))
                for d in reversed([outputs[0].parent, *outputs[0].parent.parents]):
                    if not d.exists():
                        created_dirs.append(d)
                new = [p for p in outputs if not p.exists()]
                written = export.export_file(
                    song, model=model, progress=lambda f, i=i: self.progress.emit(
                        (i + min(max(f, 0.0), 1.0)) / n),
                    cancel=self.cancel_event, overwrite=song in self.replace, **self.kwargs)
                # only files that did not exist before are this batch's to take back
                self.written += [p for p in written if p in new]
                if not written:
                    break
        except StemplayError as err:
            self._undo(created_dirs)
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(str(err))
            return
        except Exception as err:  # a bug must not take the app down; nothing is kept
            log.exception("batch export failed")
            self._undo(created_dirs)
            self.failed.emit(f"batch export failed: {err}")
            return
        if self.cancel_event.is_set():
            self._undo(created_dirs)
            self.cancelled.emit()
        else:
            self.progress.emit(1.0)
            self.finished.emit(list(self.written))

    def _undo(self, created_dirs: list[Path]) -> None:
        """Remove what this batch wrote (new files only) and the folders it made, if empty."""
        for p in self.written:
            try:
                p.unlink()
            except OSError as err:
                log.warning("could not remove %s: %s", p, err)
        self.written = []
        for d in sorted(set(created_dirs), key=lambda d: len(d.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass  # not empty (something else is in it) or gone already


class BatchExportDialog(QDialog):
    """A queue of songs, the model and format, one progress bar, Cancel."""

    def __init__(self, songs: list[str], choices: list[tuple[str, str, str]], stems: list[str],
                 settings: Any, presenter: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch export")
        self.setMinimumWidth(560)
        self.settings = settings
        self.presenter = presenter
        self.stems = list(stems)
        self.choices = list(choices)
        self.job: BatchJob | None = None
        self.written: list[Path] = []

        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setMinimumHeight(140)
        self.add_button = QPushButton("Add songs…")
        self.remove_button = QPushButton("Remove")
        side = QVBoxLayout()
        side.addWidget(self.add_button)
        side.addWidget(self.remove_button)
        side.addStretch(1)
        queue = QHBoxLayout()
        queue.addWidget(self.list, 1)
        queue.addLayout(side)

        self.model_combo = QComboBox()
        for label, key, _name in self.choices:
            self.model_combo.addItem(label, key)
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        fmt = settings.export_format if settings.export_format in FORMATS else "wav"
        self.format.setCurrentText(fmt)
        self.folder = QLineEdit(settings.export_dir)
        self.template = QLineEdit(settings.export_template)
        self.template.setToolTip("Fields: {track}, {stem}, {model}, {ext}")
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Format", self.format)
        form.addRow("Folder", self.folder)
        form.addRow("File names", self.template)
        stems_label = QLabel("Stems: " + ", ".join(self.stems) + " (one folder per song)")
        stems_label.setObjectName("dim")
        form.addRow("", stems_label)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.message = QLabel("Add the songs to export.")
        self.message.setWordWrap(True)
        self.start_button = QPushButton("Export all")
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)

        lay = QVBoxLayout(self)
        lay.addLayout(queue)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

        self.add_button.clicked.connect(self._add_dialog)
        self.remove_button.clicked.connect(self._remove_selected)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel_or_close)
        self.add_songs(songs)

    # -- queue ----------------------------------------------------------------------------------
    def songs(self) -> list[Path]:
        return [Path(self.list.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.list.count())]

    def add_songs(self, paths: list[str] | list[Path]) -> None:
        have = {str(p) for p in self.songs()}
        for p in paths:
            p = Path(p).resolve()
            if str(p) not in have and p.is_file():
                item = QListWidgetItem(f"{p.parent.name}/{p.name}")
                item.setData(Qt.ItemDataRole.UserRole, str(p))
                item.setToolTip(str(p))
                self.list.addItem(item)
                have.add(str(p))
        self._update()

    def _add_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add songs", str(Path.home()), AUDIO_FILTER)
        self.add_songs(paths)

    def _remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._update()

    def _update(self) -> None:
        n = self.list.count()
        idle = self.job is None
        self.start_button.setEnabled(idle and n > 0)
        if idle and not self.progress.isVisible():
            self.message.setText(f"{n} song(s) in the queue." if n else "Add the songs to export.")

    # -- run ------------------------------------------------------------------------------------
    def confirm_replace(self, songs: list[Path]) -> bool:
        """Ask before replacing files of earlier exports (a seam for tests)."""
        answer = QMessageBox.question(
            self, "Replace existing files?",
            f"{len(songs)} song(s) have files from an earlier export in this folder. Replace "
            "them? (Each is replaced only once its new files are complete.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def start(self) -> None:
        songs = self.songs()
        if self.job is not None or not songs:
            return
        from engine.errors import StemplayError

        index = max(self.model_combo.currentIndex(), 0)
        _label, key, name = self.choices[index] if self.choices else ("", None, "")
        fmt = self.format.currentText()
        subtype = self.settings.export_subtype
        subtypes = [s for _l, s in SUBTYPES[fmt]]
        kwargs = {
            "out_dir": Path(self.folder.text()).expanduser(),
            "fmt": fmt,
            "subtype": subtype if subtype in subtypes else None,
            "name": self.template.text(),
            "stems": list(self.stems),
        }
        try:
            existing = [s for s in songs if any(p.exists() for p in planned_outputs(
                s, kwargs["out_dir"], fmt, kwargs["name"], name, self.stems))]
        except StemplayError as err:
            self.presenter.show_error("Batch export", str(err))
            return
        if existing and not self.confirm_replace(existing):
            self.message.setText("Not exported: files of an earlier export exist.")
            return
        s = self.settings
        s.export_dir, s.export_template, s.export_format = (self.folder.text(),
                                                            self.template.text(), fmt)
        self.job = BatchJob(songs, key, kwargs, replace=set(existing))
        self.job.progress.connect(lambda f: self.progress.setValue(round(f * 1000)))
        self.job.song_started.connect(self._on_song)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setText("Cancel")
        for w in (self.list, self.add_button, self.remove_button, self.model_combo, self.format,
                  self.folder, self.template):
            w.setEnabled(False)
        self._update()
        self.job.start()

    def _on_song(self, i: int) -> None:
        self.message.setText(f"Song {i + 1} of {self.list.count()}: "
                             f"{self.list.item(i).text()}…")
        self.list.setCurrentRow(i)

    def _over(self, text: str) -> None:
        self.job = None
        self.cancel_button.setText("Close")
        for w in (self.list, self.add_button, self.remove_button, self.model_combo, self.format,
                  self.folder, self.template):
            w.setEnabled(True)
        self._update()
        self.message.setText(text)

    def _on_finished(self, written: list) -> None:
        self.written = [Path(p) for p in written]
        self.progress.setValue(1000)
        self._over(f"Done: {self.list.count()} song(s), {len(self.written)} file(s) written.")

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self._over("Batch export failed; the files it had written are removed.")
        self.presenter.show_error("Batch export failed", message)

    def _on_cancelled(self) -> None:
        self.progress.setVisible(False)
        self._over("Batch export cancelled; the files it had written are removed.")

    def _cancel_or_close(self) -> None:
        if self.job is not None:
            self.message.setText("Cancelling…")
            self.job.cancel()
        else:
            self.reject()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Window closing: cancel a running batch and wait for it to clean up."""
        if self.job is not None:
            self.job.cancel()
            self.job.thread.join(timeout)

    def reject(self) -> None:
        if self.job is not None:  # Esc while exporting cancels first
            self.job.cancel()
            return
        super().reject()
