"""The main window: assembles the widgets and wires them to the controller; opens songs (file
dialog, drag and drop, File → Open Recent from the library, whose stored mix comes back) and
the export, batch-export and settings dialogs; shows the mix, the status and the presets;
closes cleanly (asks while an export runs). GUI thread. Nothing here touches audio; every
action goes through :class:`~app.controller.Controller`.

Its parts, one job each: :mod:`app.keys` (menus, shortcuts, the shortcuts table),
:mod:`app.loop_tools` (beat grid, loops, count-in), :mod:`app.overview` (the waveform's mix
and stems), :mod:`app.model_slots` (the A/B pickers' models), :mod:`app.status_line`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import keys, theme
from app.alerts import ErrorPresenter, ask
from app.batch_export import BatchExportDialog
from app.controller import Controller
from app.elided import ElidedLabel
from app.export_dialog import ExportDialog
from app.gui_gc import GuiThreadCollector
from app.library import Library, restore, snapshot
from app.loop_tools import LoopTools
from app.mixstate import PRESETS, MixState, apply_preset, db_to_fader
from app.model_picker import ModelPicker, SourceSelector, model_label
from app.model_slots import ModelSlots
from app.overview import Overview
from app.settings import AUDIO_FILTER, AppSettings
from app.settings_dialog import SettingsDialog
from app.status_line import StatusLine
from app.stem_strip import StripRow
from app.timefmt import format_time
from app.transport import TransportBar
from app.waveform import WaveformView

log = logging.getLogger(__name__)

#: Minimum size of the main window: every control keeps its own room (nothing overlaps).
MIN_WINDOW_SIZE = (900, 580)
#: Opacity of the stem strips while the original mix plays (they do nothing then).
DIMMED_OPACITY = 0.35
#: Songs in File → Open Recent.
MAX_RECENT_MENU = 12


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: AppSettings,
        engine_factory: Any,
        presenter: ErrorPresenter | None = None,
        library: Library | None = None,
    ) -> None:
        super().__init__()
        self._collector = GuiThreadCollector(self)  # before any thread starts (see app/gui_gc)
        self.settings = settings
        self._engine_factory = engine_factory
        self.setWindowTitle("stemplay")
        self.setAcceptDrops(True)
        self.presenter = presenter or ErrorPresenter(self)
        if self.presenter.parent is None:
            self.presenter.parent = self
        self.controller = Controller(lambda: engine_factory(settings), self.presenter)
        # A settings file given explicitly (tests, a portable setup) keeps its library and its
        # analysis cache beside it; else the user's data and cache folders.
        own = settings.file_path.parent if settings.file_path is not None else None
        if library is None:
            library = Library(own / "library.sqlite3" if own is not None else None)
        self.library = library
        self._restoring = False  # a stored mix is being applied: not a change to save
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(400)
        self._save_timer.timeout.connect(self.remember_song)
        self.export_dialog: ExportDialog | None = None
        self.batch_dialog: BatchExportDialog | None = None
        self.key_help: list[tuple[str, str]] = []  # (key, what it does) for the shortcuts table
        self.shortcuts_dialog: QDialog | None = None
        self._build()
        self.loops = LoopTools(self.controller, self.waveform, self.transport, self.music,
                               self.statusBar().showMessage,
                               own / "analysis-cache" if own is not None else None, self)
        self.overview = Overview(self.waveform, self.controller, self)
        self.model_slots = ModelSlots(self.controller, settings, self.presenter, self.picker_a,
                                      self.picker_b)
        keys.build_menus(self)
        keys.build_shortcuts(self)
        self._fill_recent()
        self._connect()
        self.model_slots.fill()
        self._show_no_track()
        if settings.geometry is not None:
            self.restoreGeometry(settings.geometry)
        else:
            self.resize(1040, 640)
        self.setMinimumSize(*MIN_WINDOW_SIZE)

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        # Long names elide with "…": they neither squeeze nor move the controls beside them.
        self.title = ElidedLabel("No song open")
        self.title.setObjectName("title")
        self.subtitle = ElidedLabel("")
        self.subtitle.setObjectName("dim")
        self.title.setMinimumWidth(120)
        self.subtitle.setMinimumWidth(40)
        # tempo and key of the song (engine.analysis), under the title before the file details
        # (which elide first when the window is narrow)
        self.music = QLabel("")
        self.music.setObjectName("music")
        self.music.setToolTip("Tempo and key, found in the audio")
        self.music.setMinimumWidth(1)
        details = QHBoxLayout()
        details.setSpacing(12)
        details.addWidget(self.music)
        details.addWidget(self.subtitle, 1)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.title)
        titles.addLayout(details)

        self.picker_a = ModelPicker("A")
        self.picker_b = ModelPicker("B")
        pickers = QVBoxLayout()
        pickers.setSpacing(4)
        pickers.addWidget(self.picker_a)
        pickers.addWidget(self.picker_b)
        self.sources = SourceSelector()

        top = QHBoxLayout()
        top.addLayout(titles, 1)
        top.addLayout(pickers)
        top.addSpacing(8)
        top.addWidget(self.sources)

        self.waveform = WaveformView()
        self.transport = TransportBar()
        self._steady_transport()
        self.strips = StripRow()
        self._strip_dim = QGraphicsOpacityEffect(self.strips)
        self._strip_dim.setOpacity(1.0)
        self._strip_dim.setEnabled(False)
        self.strips.setGraphicsEffect(self._strip_dim)

        presets = QFrame()
        presets.setObjectName("panel")
        pl = QVBoxLayout(presets)
        pl.setContentsMargins(8, 8, 8, 8)
        head = QLabel("Presets")
        head.setObjectName("dim")
        pl.addWidget(head)
        self.preset_buttons: dict[str, QPushButton] = {}
        for name in keys.PRESET_ORDER:
            b = QPushButton(name)
            b.setCheckable(True)  # lit while the strips are exactly as the preset sets them
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _=False, n=name: self._apply_preset(n))
            self.preset_buttons[name] = b
            pl.addWidget(b)
        pl.addStretch(1)
        assert set(self.preset_buttons) == set(PRESETS)

        self.no_model_label = QLabel(
            "No separation model: the original mix plays.\nAdd an .onnx model with “Add…”."
        )
        self.no_model_label.setObjectName("dim")
        self.no_model_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_model_label.setVisible(False)

        bottom = QHBoxLayout()
        bottom.addWidget(self.strips, 1)
        bottom.addWidget(self.no_model_label, 1)
        bottom.addWidget(presets)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(12, 10, 12, 6)
        lay.addLayout(top)
        lay.addWidget(self.waveform, 2)
        lay.addWidget(self.transport)
        lay.addLayout(bottom, 3)
        self.setCentralWidget(central)

        self.status_line = StatusLine(self.statusBar())

    def _connect(self) -> None:
        c = self.controller
        c.status_updated.connect(self._on_status)
        c.track_opened.connect(self._on_track_opened)
        c.model_changed.connect(self._on_model_changed)
        c.mix_changed.connect(self._on_mix_changed)
        c.source_changed.connect(self.sources.show_source)
        c.source_changed.connect(self._dim_strips)
        self.transport.play_pause.connect(c.play_pause)
        self.transport.stop.connect(c.stop)
        self.transport.seek.connect(c.seek)
        self.transport.master_changed.connect(c.set_master)
        self.waveform.seek_requested.connect(c.seek)
        self.strips.gain_changed.connect(c.set_gain)
        self.strips.mute_toggled.connect(c.set_mute)
        self.strips.solo_toggled.connect(c.set_solo)
        self.strips.pan_changed.connect(c.set_pan)
        self.transport.tempo_changed.connect(c.set_tempo)
        self.transport.pitch_changed.connect(c.set_pitch)
        c.practice_changed.connect(self.transport.set_practice)
        c.practice_changed.connect(self._song_changed)
        self.picker_a.model_chosen.connect(self.choose_model)
        self.picker_b.model_chosen.connect(self.choose_model)
        self.sources.source_chosen.connect(c.select)
        for sig in (c.mix_changed, c.loop_changed, c.model_changed, c.source_changed):
            sig.connect(self._song_changed)
        self.transport.master_changed.connect(self._song_changed)

    # -- models ---------------------------------------------------------------------------------
    def load_initial_models(self) -> None:
        """At start: the models of the last session, else the engine's default for A."""
        self.model_slots.load_initial()
        self._update_model_visibility()

    def choose_model(self, slot: str, key: str | None) -> bool:
        if not self.model_slots.choose(slot, key):
            return False
        self._update_model_visibility()
        return True

    def _on_model_changed(self, _slot: str, _info: Any) -> None:
        self._update_model_visibility()

    def _update_model_visibility(self) -> None:
        has_a = self.controller.models["A"] is not None
        stems_heard = has_a or self.controller.source == "reference"  # true stems need no model
        self.no_model_label.setVisible(not stems_heard)
        self.strips.setVisible(stems_heard)
        self.sources.set_available(
            has_b=self.controller.models["B"] is not None,
            has_reference=self.has_reference(),
            has_a=has_a,
        )

    def has_reference(self) -> bool:
        st = self.controller.status
        return bool(st is not None and st.has_reference)

    # -- files ----------------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        self.remember_song()  # the song being left keeps its mix
        if not self.controller.open(path):
            return False
        self.settings.add_recent(path)
        stored = self.library.recall(path)
        if stored is not None:
            self._restoring = True
            try:
                restore(self.controller, stored, self.choose_model, self._set_master)
            finally:
                self._restoring = False
            self.statusBar().showMessage("Mix of the last visit restored", 4000)
        self.remember_song()
        self._fill_recent()
        return True

    def _set_master(self, db: float) -> None:
        self.transport.master.setValue(db_to_fader(db))  # emits master_changed → controller

    def _song_changed(self, *_args: Any) -> None:
        if not self._restoring and self.controller.track is not None:
            self._save_timer.start()

    def remember_song(self) -> None:
        """Store the open song's mix in the library (after changes, on leaving, on quitting)."""
        self._save_timer.stop()
        c = self.controller
        if c.track is not None and not self._restoring:
            self.library.remember(c.track.path, getattr(self, "track_title", "") or
                                  Path(c.track.path).stem, snapshot(c))

    def open_dialog(self) -> None:
        start = (
            str(Path(self.settings.recent_files[0]).parent)
            if self.settings.recent_files
            else str(Path.home())
        )
        path, _ = QFileDialog.getOpenFileName(self, "Open a song", start, AUDIO_FILTER)
        if path:
            self.open_path(path)

    def _fill_recent(self) -> None:
        """File → Open Recent: the library's songs by title (each reopens with its mix), or
        the plain list of files when the library is not usable."""
        self.recent_menu.clear()
        songs = self.library.recent(MAX_RECENT_MENU)
        if songs:
            items = [(x.path, f"{x.title}   ({Path(x.path).parent.name}/{Path(x.path).name})")
                     for x in songs]
        else:
            items = [(p, f"{Path(p).parent.name}/{Path(p).name}")
                     for p in self.settings.recent_files]
        recent = [p for p, _ in items]
        for p, label in items:
            act = QAction(label, self.recent_menu)
            act.setToolTip(p)
            act.triggered.connect(lambda _=False, p=p: self.open_path(p))
            self.recent_menu.addAction(act)
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)
        self.recent_menu.setEnabled(bool(recent))

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self.library.forget_all()
        self._fill_recent()

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        files = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if files:
            e.acceptProposedAction()
            self.open_path(files[0])

    # -- reactions ------------------------------------------------------------------------------
    def _show_no_track(self) -> None:
        self.waveform.clear()
        self.transport.set_duration(0)
        self.transport.setEnabled(False)
        self.act_export.setEnabled(False)
        self.status_line.show(None, self.controller.model_infos)

    def _on_track_opened(self, info: Any) -> None:
        title = str(info.title or Path(info.path).stem)  # the engine names MUSDB folders
        self.track_title = title
        self.title.setText(title)
        details = [str(info.format)] if info.format else []
        details.append(f"{int(info.source_rate) / 1000:g} kHz")
        details.append(
            {1: "mono", 2: "stereo"}.get(info.source_channels, f"{info.source_channels} ch")
        )
        details.append(Path(info.path).name)
        self.subtitle.setText(" · ".join(details))
        self.subtitle.set_tip(str(info.path))
        self.setWindowTitle(f"{title} — stemplay")
        self.waveform.clear(float(info.duration_s))
        self.transport.set_duration(float(info.duration_s))
        self.transport.setEnabled(True)
        self.transport.set_loop_checked(False)
        self.act_export.setEnabled(True)
        self.overview.song_opened(info.path)
        self.loops.song_opened(info.path)
        self._update_model_visibility()

    def _on_mix_changed(self, mix: MixState) -> None:
        self.strips.set_stems(mix.stems)
        for s, strip in self.strips.strips.items():
            strip.set_state(mix.gain(s), s in mix.muted, s in mix.soloed, mix.pan(s))
            strip.set_audible(mix.audible(s))
        self._light_preset(mix)

    def _apply_preset(self, name: str) -> None:
        self.controller.apply_preset(name)
        self._light_preset(self.controller.mix)

    def _light_preset(self, mix: MixState) -> None:
        """The preset button whose settings the strips show now is lit (none after a change
        by hand)."""
        for name, b in self.preset_buttons.items():
            p = apply_preset(mix, name)
            same = (p.muted == mix.muted and p.soloed == mix.soloed
                    and all(mix.gain(s) == 0.0 for s in mix.stems))
            if b.isChecked() != same:
                b.setChecked(same)

    def _dim_strips(self, source: str) -> None:
        """The original mix ignores the strips: they fade back so nobody expects them to act."""
        dim = source == "mix"
        if self._strip_dim.isEnabled() != dim:
            self._strip_dim.setOpacity(DIMMED_OPACITY if dim else 1.0)
            self._strip_dim.setEnabled(dim)
            self.strips.setToolTip("The original mix plays: the strips act on A, B or the "
                                   "reference (press O to go back)" if dim else "")

    def _steady_transport(self) -> None:
        """Play/Pause and the time labels keep one width, so nothing beside them moves."""
        t = self.transport
        fm = t.play_button.fontMetrics()
        widest = max(fm.horizontalAdvance(x) for x in ("Play", "Pause"))
        t.play_button.setMinimumWidth(widest + t.play_button.iconSize().width() + 34)
        for label, sample in ((t.elapsed, "0:00:00.0"), (t.total, "/ 0:00:00")):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(sample) + 6)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def _on_status(self, st: Any) -> None:
        self.transport.show_status(bool(st.playing), float(st.position_s))
        duration = float(st.duration_s)
        if duration > 0 and (st.finished or float(st.position_s) >= duration - 0.05):
            # at the end the elapsed time reads as the total does ("0:36 / 0:36", not 0:36.7)
            self.transport.elapsed.setText(format_time(duration))
        self._dim_strips(st.source)
        self.overview.show_status(st)
        self.waveform.set_position(float(st.position_s))
        levels = st.levels or {}
        for s, strip in self.strips.strips.items():
            peak, rms = levels.get(s, (0.0, 0.0))
            strip.meter.set_levels(peak, rms)
        self.transport.show_master_level(*levels.get("master", (0.0, 0.0)))
        self.sources.show_source(st.source)
        if self.strips.isVisible() != (
            self.controller.models["A"] is not None or st.source == "reference"
        ):
            self._update_model_visibility()
        self.sources.set_available(
            has_b=self.controller.models["B"] is not None,
            has_reference=bool(st.has_reference),
            has_a=self.controller.models["A"] is not None,
        )
        self.status_line.show(st, self.controller.model_infos)

    # -- dialogs --------------------------------------------------------------------------------
    def open_export(self) -> ExportDialog | None:
        c = self.controller
        if c.track is None:
            return None
        if self.export_dialog is not None and self.export_dialog.isVisible():
            self.export_dialog.raise_()
            return self.export_dialog
        stems = list(c.mix.stems) or list(getattr(c.model_infos.get("A"), "stems", ()) or ())
        if not stems:
            self.presenter.show_error("Export", "Choose a separation model first.")
            return None
        key = c.models["A"] if c.source != "B" else c.models["B"]
        choices = self._export_choices()
        dlg = ExportDialog(
            str(c.track.path),
            getattr(self, "track_title", Path(c.track.path).stem),
            stems,
            key,
            c.export_mix_db(),
            self.settings,
            self.presenter,
            self,
            choices=choices or None,
            practice=c.export_practice(),
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.export_dialog = dlg
        dlg.show()
        return dlg

    def _export_choices(self) -> list[tuple[str, str, str]]:
        """Models to export with: (label, name-or-path, model name), the heard one first."""
        c = self.controller
        choices = []
        for slot in ("B", "A") if c.source == "B" else ("A", "B"):
            info = c.model_infos.get(slot)
            if c.models[slot] is not None and info is not None:
                heard = " — heard now" if (c.source == "B") == (slot == "B") else ""
                choices.append((f"{slot}: {model_label(info)}{heard}", c.models[slot],
                                str(info.name)))
        return choices

    def open_batch_export(self) -> BatchExportDialog | None:
        """File → Batch export: a queue of songs (the open one first), one progress bar."""
        if self.batch_dialog is not None and self.batch_dialog.isVisible():
            self.batch_dialog.raise_()
            return self.batch_dialog
        c = self.controller
        choices = self._export_choices()
        if not choices:
            self.presenter.show_error("Batch export", "Choose a separation model first.")
            return None
        first_slot = choices[0][0].split(":")[0]  # "A: hybrid v1 — heard now" → "A"
        stems = list(c.model_infos[first_slot].stems)
        songs = [str(c.track.path)] if c.track is not None else []
        dlg = BatchExportDialog(songs, choices, stems, self.settings, self.presenter, self)
        self.batch_dialog = dlg
        dlg.show()
        return dlg

    def open_settings(self) -> SettingsDialog:
        dlg = SettingsDialog(self.settings, parent=self)
        dlg.accepted.connect(lambda: self.apply_settings(dlg))
        dlg.open()
        return dlg

    def apply_settings(self, dlg: SettingsDialog) -> None:
        audio, theme_changed = dlg.save()
        if theme_changed:
            theme.apply_theme(QApplication.instance(), self.settings.theme)
        if audio:
            self.controller.reconfigure(lambda: self._engine_factory(self.settings))

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """Every key of the window with what it does (Help → Keyboard shortcuts)."""
        return keys.shortcut_rows(self)

    def show_shortcuts(self) -> QDialog:
        """Help → Keyboard shortcuts."""
        return keys.show_shortcuts(self)

    # -- closing --------------------------------------------------------------------------------
    def export_running(self) -> bool:
        return any(d is not None and d.job is not None and d.job.running()
                   for d in (self.export_dialog, self.batch_dialog))

    def confirm_quit_during_export(self) -> bool:
        """Ask whether to stop a running export and quit (a seam for tests)."""
        return ask(self, "Export in progress",
                   "An export is still running. Stop it (nothing half-written is kept) and quit?")

    #: Set (e.g. on SIGTERM) to close without asking.
    force_close = False

    def closeEvent(self, e: QCloseEvent) -> None:
        if (self.export_running() and not self.force_close
                and not self.confirm_quit_during_export()):
            e.ignore()
            return
        for dlg in (self.export_dialog, self.batch_dialog):
            if dlg is not None:
                dlg.shutdown()
                dlg.close()
        self.overview.close()
        self.loops.job.cancel(wait=True)
        self.remember_song()
        self.library.close()
        self.controller.shutdown()
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        self.presenter.dismiss()
        self._collector.release()  # the engine's threads are stopped: automatic GC may resume
        super().closeEvent(e)
