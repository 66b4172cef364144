"""Batch export: a queue of songs separated and written one after the other, with one progress
bar and one Cancel. The dialog runs on the GUI thread; :class:`BatchJob` runs the songs on one
daemon thread (:mod:`app.jobs`) through ``engine.export.export_file`` (atomic per song: a
cancelled or failed song leaves nothing behind) with the model loaded once. The fields and the
progress/cancel part it shares with the export dialog are in :mod:`app.export_form`.

Cancel (or a failure) also removes every file the batch wrote for the songs before, and the
folders it made for them, so a cancelled batch leaves the disk as it was, except files that
existed before and that the user agreed to replace: those were replaced only by complete new
ones and stay.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.alerts import ask
from app.export_form import SUBTYPES, JobDialog
from app.jobs import WriteJob
from app.settings import AUDIO_FILTER

log = logging.getLogger(__name__)


def planned_outputs(song: Path, out_dir: Path, fmt: str, template: str, model_name: str,
                    stems: list[str]) -> list[Path]:
    """The files one song of the batch will write (``engine.export.output_paths``)."""
    from engine.decode import open_audio
    from engine.export import output_paths

    with open_audio(song) as reader:
        title = reader.info.title
    return output_paths(out_dir, title, stems, fmt, model_name, template)


class BatchJob(WriteJob):
    """Exports ``songs`` one after the other on one thread."""

    song_started = Signal(int)  # index of the song being exported
    what = "batch export"

    def __init__(self, songs: list[Path], model: str | None, kwargs: dict[str, Any],
                 replace: set[Path] | None = None) -> None:
        super().__init__("stemplay-batch")
        self.songs = [Path(s) for s in songs]
        self.model = model
        self.kwargs = kwargs  # out_dir, fmt, subtype, name, stems for every song
        self.replace = set(replace or ())  # songs whose existing files may be replaced
        self.written: list[Path] = []  # batch thread; read after it ended
        self.created_dirs: list[Path] = []  # batch thread: folders it made

    def work(self) -> list[Path] | None:
        from engine import export
        from engine.model import load_model

        n = len(self.songs)
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
                    self.created_dirs.append(d)
            new = [p for p in outputs if not p.exists()]
            written = export.export_file(
                song, model=model, progress=lambda f, i=i: self.progress.emit(
                    (i + min(max(f, 0.0), 1.0)) / n),
                cancel=self.cancel_event, overwrite=song in self.replace, **self.kwargs)
            # only files that did not exist before are this batch's to take back
            self.written += [p for p in written if p in new]
            if not written:
                break
        if self.cancel_event.is_set():
            return None
        self.progress.emit(1.0)
        return self.written

    def undo(self) -> None:
        """Remove what this batch wrote (new files only) and the folders it made, if empty."""
        for p in self.written:
            try:
                p.unlink()
            except OSError as err:
                log.warning("could not remove %s: %s", p, err)
        self.written = []
        for d in sorted(set(self.created_dirs), key=lambda d: len(d.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass  # not empty (something else is in it) or gone already


class BatchExportDialog(JobDialog):
    """A queue of songs, the model and format, one progress bar, Cancel."""

    def __init__(self, songs: list[str], choices: list[tuple[str, str, str]], stems: list[str],
                 settings: Any, presenter: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, presenter, parent, "Close")
        self.setWindowTitle("Batch export")
        self.setMinimumWidth(560)
        self.stems = list(stems)
        self.choices = list(choices)
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
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Format", self.format)
        form.addRow("Folder", self.folder)
        form.addRow("File names", self.template)
        stems_label = QLabel("Stems: " + ", ".join(self.stems) + " (one folder per song)")
        stems_label.setObjectName("dim")
        form.addRow("", stems_label)

        self.message.setText("Add the songs to export.")
        self.start_button = QPushButton("Export all")
        self.start_button.setDefault(True)

        lay = QVBoxLayout(self)
        lay.addLayout(queue)
        lay.addLayout(form)
        self.add_bottom(lay, self.start_button)

        self.add_button.clicked.connect(self._add_dialog)
        self.remove_button.clicked.connect(self._remove_selected)
        self.start_button.clicked.connect(self.start)
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
        return ask(
            self, "Replace existing files?",
            f"{len(songs)} song(s) have files from an earlier export in this folder. Replace "
            "them? (Each is replaced only once its new files are complete.)")

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
        self.remember_fields()
        job = BatchJob(songs, key, kwargs, replace=set(existing))
        job.song_started.connect(self._on_song)
        self.attach_job(job)
        self.cancel_button.setText("Cancel")
        self._set_form_enabled(False)
        self._update()
        job.start()

    def _on_song(self, i: int) -> None:
        self.message.setText(f"Song {i + 1} of {self.list.count()}: "
                             f"{self.list.item(i).text()}…")
        self.list.setCurrentRow(i)

    def _set_form_enabled(self, on: bool) -> None:
        for w in (self.list, self.add_button, self.remove_button, self.model_combo, self.format,
                  self.folder, self.template):
            w.setEnabled(on)

    def _over(self, text: str) -> None:
        self.job = None
        self.cancel_button.setText("Close")
        self._set_form_enabled(True)
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
