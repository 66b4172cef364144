"""The export dialog and the thread that runs ``engine.export.export_file``.

The dialog (GUI thread) collects stems, format, bit depth, folder and naming template (with a
live preview of the file names), asks before replacing existing files, then starts an
:class:`ExportJob` (one daemon thread, one ``export_file`` call for the stems and the mix; see
:mod:`app.jobs`). Progress comes back through Qt signals (queued into the GUI thread); Cancel
sets a ``threading.Event`` the engine polls, and the engine removes only the files this export
wrote (files of an earlier export stay as they were). The fields and the progress/cancel part
it shares with the batch export are in :mod:`app.export_form`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.alerts import ask
from app.export_form import SUBTYPES, JobDialog
from app.jobs import WriteJob
from app.theme import stem_colour


def colour_dot(colour: QColor, size: int = 12) -> QIcon:
    """A round swatch of a stem's colour (next to its check box)."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(colour)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(0, 0, size - 1, size - 1)
    p.end()
    return QIcon(pix)


def safe_component(text: str) -> str:
    """The folder name the engine makes from a track title (engine.export.safe_component)."""
    from engine.export import safe_component as engine_safe_component

    return engine_safe_component(text)


MIX_STEM = "mix"  # the {stem} of the "current mix" file (engine.export.MIX_STEM)


def preview_names(
    template: str, track: str, stems: list[str], ext: str, model: str = ""
) -> list[str]:
    """File names the engine will write; ``ValueError`` with the engine's reason if it would
    refuse the template."""
    from engine.errors import ExportError
    from engine.export import render_names

    try:
        return render_names(template, track, stems, ext, model)
    except ExportError as err:
        raise ValueError(str(err)) from None


class ExportJob(WriteJob):
    """Runs one ``export_file`` call (the stems and/or the current mix, one separation pass)
    in a thread. Whatever happens, the engine removes only what this job wrote; files that
    existed before are replaced only when every new file is complete."""

    note = Signal(str)  # a one-line remark from the engine (e.g. a common gain so none clips)

    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("stemplay-export")
        self.kwargs = kwargs  # keyword arguments of the export_file call

    def work(self) -> list[Path] | None:
        from engine.export import export_file

        written = export_file(**self.kwargs, progress=self.report_progress,
                              cancel=self.cancel_event, report=self.note.emit)
        return written or None  # nothing: cancelled (the engine removed what it wrote)


class ExportDialog(JobDialog):
    """Choose what to write; shows progress; ends with "Show in folder"."""

    def __init__(
        self,
        track_path: str,
        track_title: str,
        stems: list[str],
        model: str | None,
        mix_db: dict[str, float],
        settings: Any,
        presenter: Any,
        parent: QWidget | None = None,
        choices: list[tuple[str, str, str]] | None = None,
        practice: dict[str, Any] | None = None,
    ) -> None:
        """``choices``: the models to export with, as (label shown, name-or-path, model name
        for ``{model}``), e.g. ``("A: hybrid v1", "hybrid", "hybrid")``; the one whose key is
        ``model`` is selected first. Without it: ``model`` only, named after its file.
        ``practice``: ``tempo``, ``pitch`` and ``pan`` as heard
        (``Controller.export_practice()``): tempo and pitch apply to every file when the box
        is ticked, the pan to the current mix."""
        super().__init__(settings, presenter, parent, "Cancel")
        self.setWindowTitle(f"Export stems — {track_title}")
        self.setMinimumWidth(520)
        self.track_path = track_path
        self.track_title = track_title
        if not choices:
            name = Path(model).stem if model else ""
            choices = [(name or "default model", model or "", name)]
        self.choices = list(choices)
        self.model_combo = QComboBox()
        for label, key, _name in self.choices:
            self.model_combo.addItem(label, key)
        first = self.model_combo.findData(model or "")
        self.model_combo.setCurrentIndex(max(first, 0))
        self.model_combo.setToolTip("The separation model the stems are made with")
        self.model = self.choices[self.model_combo.currentIndex()][1] or None
        self.model_name = self.choices[self.model_combo.currentIndex()][2]
        self.mix_db = dict(mix_db)
        self.written: list[Path] = []
        self.notes: list[str] = []

        stems_box = QGroupBox("Stems to write")
        stems_lay = QHBoxLayout(stems_box)
        self.stem_checks: dict[str, QCheckBox] = {}
        for i, stem in enumerate(stems):
            cb = QCheckBox(stem.capitalize())
            cb.setChecked(True)
            cb.setIcon(colour_dot(stem_colour(stem, i)))
            self.stem_checks[stem] = cb
            stems_lay.addWidget(cb)
        self.mix_check = QCheckBox("Current mix (the faders as set)")
        self.mix_check.setToolTip("One extra file: the song as you hear it now")
        self.practice = dict(practice or {})
        tempo = float(self.practice.get("tempo", 1.0))
        pitch = float(self.practice.get("pitch", 0.0))
        self.practice_check = QCheckBox(
            f"At the tempo and pitch you hear ({tempo * 100:.0f} %, {pitch:+.2f} semitones)")
        self.practice_check.setToolTip("Every file is stretched and transposed as you hear it "
                                       "(Rubber Band); untick for the original speed and key")
        self.practice_check.setChecked(True)
        self.practice_check.setVisible(tempo != 1.0 or pitch != 0.0)
        stems_lay.addStretch(1)

        self.subtype = QComboBox()
        browse = QPushButton("Browse…")
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.preview = QLabel()
        self.preview.setObjectName("dim")
        self.preview.setWordWrap(True)
        self.preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Format", self.format)
        form.addRow("Bit depth", self.subtype)
        form.addRow("Folder", folder_row)
        form.addRow("File names", self.template)
        form.addRow("", self.preview)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.show_button = QPushButton("Show in folder")
        self.show_button.setVisible(False)

        lay = QVBoxLayout(self)
        lay.addWidget(stems_box)
        lay.addWidget(self.mix_check)
        lay.addWidget(self.practice_check)
        lay.addLayout(form)
        self.add_bottom(lay, self.export_button, self.show_button)

        self._fill_subtypes(settings.export_subtype)
        self.format.currentTextChanged.connect(lambda _t: self._fill_subtypes(None))
        self.format.currentTextChanged.connect(self.update_preview)
        self.template.textChanged.connect(self.update_preview)
        self.folder.textChanged.connect(self.update_preview)
        for cb in [*self.stem_checks.values(), self.mix_check]:
            cb.toggled.connect(self.update_preview)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        browse.clicked.connect(self._browse)
        self.export_button.clicked.connect(self.start_export)
        self.show_button.clicked.connect(self.show_in_folder)
        self.update_preview()

    # -- form -----------------------------------------------------------------------------------
    def _fill_subtypes(self, wanted: str | None) -> None:
        current = wanted or self.subtype.currentData()
        self.subtype.clear()
        options = SUBTYPES[self.format.currentText()]
        for label, sub in options:
            self.subtype.addItem(label, sub)
        if not options:
            self.subtype.addItem("set by the codec", None)
        i = self.subtype.findData(current)
        self.subtype.setCurrentIndex(i if i >= 0 else min(1, self.subtype.count() - 1))
        self.subtype.setEnabled(bool(options))

    def _on_model(self, index: int) -> None:
        _label, key, name = self.choices[max(index, 0)]
        self.model, self.model_name = key or None, name
        self.update_preview()

    def selected_stems(self) -> list[str]:
        return [s for s, cb in self.stem_checks.items() if cb.isChecked()]

    def _outputs(self) -> tuple[Path, list[str]]:
        """The folder and the file names the form asks for (``ValueError``: the engine would
        refuse the template)."""
        names_for = self.selected_stems() + ([MIX_STEM] if self.mix_check.isChecked() else [])
        names = preview_names(self.template.text(), self.track_title, names_for,
                              self.format.currentText(), self.model_name)
        return Path(self.folder.text()).expanduser() / safe_component(self.track_title), names

    def update_preview(self) -> bool:
        """Refresh the file-name preview; returns whether the form can be exported."""
        ok = True
        if not self.selected_stems() and not self.mix_check.isChecked():
            text, ok = "Choose at least one stem.", False
        elif not self.folder.text().strip():
            text, ok = "Choose a folder.", False
        else:
            try:
                folder, names = self._outputs()
                text = f"In {folder}:\n" + "\n".join(names)
            except ValueError as err:
                text, ok = f"⚠ {err}", False
        self.preview.setText(text)
        self.export_button.setEnabled(ok and self.job is None)
        return ok

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if d:
            self.folder.setText(d)

    # -- export ---------------------------------------------------------------------------------
    def call(self) -> dict[str, Any]:
        """The ``export_file`` keyword arguments for the current form (one pass)."""
        kwargs: dict[str, Any] = {
            "path": self.track_path,
            "out_dir": Path(self.folder.text()).expanduser(),
            "model": self.model,
            "fmt": self.format.currentText(),
            "subtype": self.subtype.currentData(),
            "name": self.template.text(),
            "stems": self.selected_stems(),
        }
        if self.mix_check.isChecked():
            kwargs["mix"] = dict(self.mix_db)
            if self.practice.get("pan"):
                kwargs["pan"] = dict(self.practice["pan"])
        if not self.practice_check.isHidden() and self.practice_check.isChecked():
            kwargs["tempo"] = float(self.practice.get("tempo", 1.0))
            kwargs["pitch"] = float(self.practice.get("pitch", 0.0))
        return kwargs

    def target_paths(self) -> list[Path]:
        """The files the export would write (as the preview shows them)."""
        try:
            folder, names = self._outputs()
        except ValueError:
            return []
        return [folder / n for n in names]

    def confirm_overwrite(self, existing: list[Path]) -> bool:
        """Ask before replacing files (a seam for tests)."""
        shown = "\n".join(p.name for p in existing[:6]) + ("\n…" if len(existing) > 6 else "")
        return ask(
            self,
            "Replace existing files?",
            f"{len(existing)} file(s) exist already in {existing[0].parent}:\n\n{shown}\n\n"
            "Replace them? (They are replaced only once the new files are complete.)",
        )

    def start_export(self) -> None:
        if self.job is not None or not self.update_preview():
            return
        existing = [p for p in self.target_paths() if p.exists()]
        if existing and not self.confirm_overwrite(existing):
            self.message.setText("Not exported: the files exist already.")
            return
        kwargs = self.call()
        kwargs["overwrite"] = bool(existing)
        self.remember_fields()
        if self.subtype.currentData():
            self.settings.export_subtype = self.subtype.currentData()
        self.notes = []
        job = ExportJob(kwargs)
        job.note.connect(self.notes.append)
        self.attach_job(job)
        self.message.setText("Separating and writing…")
        self.show_button.setVisible(False)
        self.export_button.setEnabled(False)
        self._set_form_enabled(False)
        self.job.start()

    def _set_form_enabled(self, on: bool) -> None:
        for w in [
            *self.stem_checks.values(),
            self.mix_check,
            self.practice_check,
            self.format,
            self.model_combo,
            self.folder,
            self.template,
        ]:
            w.setEnabled(on)
        self.subtype.setEnabled(on and bool(SUBTYPES[self.format.currentText()]))

    def _job_over(self) -> None:
        self.job = None
        self._set_form_enabled(True)
        self.update_preview()

    def _on_finished(self, written: list) -> None:
        self.written = [Path(p) for p in written]
        self.progress.setValue(1000)
        self.message.setText(" ".join([f"Done: {len(self.written)} file(s) written.",
                                       *self.notes]))
        self.show_button.setVisible(bool(self.written))
        self.cancel_button.setText("Close")
        self._job_over()

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.message.setText("Export failed; nothing was written (earlier files are untouched).")
        self._job_over()
        self.presenter.show_error("Export failed", message)

    def _on_cancelled(self) -> None:
        self.progress.setVisible(False)
        self.message.setText("Export cancelled; nothing was written (earlier files are "
                             "untouched).")
        self._job_over()

    def output_folder(self) -> Path | None:
        return self.written[0].parent if self.written else None

    def show_in_folder(self) -> None:
        folder = self.output_folder()
        if folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def closeEvent(self, event) -> None:
        if self.job is not None:
            self.job.cancel()
        super().closeEvent(event)
