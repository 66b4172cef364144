"""The main window: assembles the widgets, the menus and the keyboard, and wires them to the
controller. GUI thread. Nothing here touches audio; every action goes through
:class:`~app.controller.Controller`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QFileDialog,
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import practice, theme
from app.alerts import ErrorPresenter
from app.analysis_view import AnalysisJob
from app.batch_export import BatchExportDialog
from app.controller import SEEK_BIG_STEP_S, SEEK_STEP_S, Controller
from app.elided import ElidedLabel
from app.envelope import EnvelopeJob
from app.export_dialog import ExportDialog
from app.gui_gc import GuiThreadCollector
from app.library import Library, restore, snapshot
from app.mixstate import PRESETS, MixState, apply_preset
from app.model_picker import ModelPicker, SourceSelector, model_label
from app.settings import AppSettings
from app.settings_dialog import SettingsDialog
from app.stem_strip import StripRow
from app.theme import stem_colour
from app.timefmt import format_time
from app.transport import TransportBar
from app.waveform import WaveformView
from engine.stem_envelopes import StemEnvelopes

log = logging.getLogger(__name__)

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.m4a *.opus);;All files (*)"
#: Minimum size of the main window: every control keeps its own room (nothing overlaps).
MIN_WINDOW_SIZE = (900, 580)
#: Opacity of the stem strips while the original mix plays (they do nothing then).
DIMMED_OPACITY = 0.35
#: Songs in File → Open Recent.
MAX_RECENT_MENU = 12
#: Loops set by keys: Ctrl+1/2/4/8 = that many bars from the playhead's bar.
LOOP_BARS = (1, 2, 4, 8)
#: Beats of the count-in click before a loop restarts (one 4/4 bar).
COUNT_IN_BEATS = 4
#: The stems' envelopes are read from the engine every this many status polls (~4 Hz) and
#: drawn at most this often (seconds; drawing the overview costs tens of ms).
STEM_POLL_EVERY = 8
STEM_DRAW_S = 1.0


def dropout_warning(underruns: int, late: int) -> str:
    """The status-bar warning after the sound dropped out or the stems came late ("" if
    neither happened)."""
    parts = []
    if underruns:
        parts.append(f"⚠ The sound dropped out {underruns}× (the computer was too busy; a "
                      "larger Output latency in Settings helps)")
    if late:
        parts.append(f"{'' if parts else '⚠ '}The separation fell behind {late}× (the "
                     "original mix stood in)")
    return " · ".join(parts)


def provider_label(provider: str) -> str:
    """``CUDAExecutionProvider`` → ``CUDA``; empty (no model yet) → ``CPU``."""
    return (provider or "CPU").replace("ExecutionProvider", "") or "CPU"


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
        if library is None:
            # A settings file given explicitly (tests, a portable setup) keeps its library
            # beside it; else the user's data folder.
            own = settings.file_path
            library = Library(own.parent / "library.sqlite3" if own is not None else None)
        self.library = library
        self._restoring = False  # a stored mix is being applied: not a change to save
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(400)
        self._save_timer.timeout.connect(self.remember_song)
        self.export_dialog: ExportDialog | None = None
        self.batch_dialog: BatchExportDialog | None = None
        self.envelope = EnvelopeJob()
        self._envelope_token = 0
        own = settings.file_path  # a settings file given explicitly keeps its cache beside it
        self.analysis_job = AnalysisJob(own.parent / "analysis-cache" if own is not None else None)
        self._analysis_token = 0
        self.analysis: Any = None  # engine.analysis.Analysis of the open song, once known
        self.stem_tap = StemEnvelopes()  # the separated stems' envelopes, per slot
        self._shown_env: Any = None  # the slot envelope the overview shows
        self._stems_drawn = 0.0  # time.monotonic() of its last update
        self._stems_pending = False  # new separated audio not drawn yet
        self._polls = 0
        self._key_help: list[tuple[str, str]] = []  # (key, what it does) for the shortcuts table
        self.shortcuts_dialog: QDialog | None = None
        self._build()
        self._build_menus()
        self._build_shortcuts()
        self._connect()
        self._fill_model_pickers()
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
        for name in ("Karaoke", "A cappella", "Drumless", "Bassless", "All"):
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

        sb = self.statusBar()
        self.st_models = QLabel()
        self.st_provider = QLabel()
        self.st_speed = QLabel()
        self.st_ahead = QLabel()
        # a plain-language warning, shown only after a dropout; it takes the room left and
        # elides (full text in its tooltip) so that what is heard, on the right, stays readable
        self.st_underruns = ElidedLabel("")
        self.st_underruns.setObjectName("warning")
        self.st_underruns.setVisible(False)
        self.st_state = QLabel()
        for w in (self.st_models, self.st_provider, self.st_speed, self.st_ahead):
            sb.addWidget(w)
        sb.addWidget(self.st_underruns, 1)
        sb.addPermanentWidget(self.st_state)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        self.act_open = file.addAction("&Open…", self.open_dialog)
        self.act_open.setShortcut(QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self.act_export = file.addAction("&Export stems…", self.open_export)
        self.act_export.setShortcut(QKeySequence("Ctrl+E"))
        self.act_batch = file.addAction("&Batch export…", self.open_batch_export)
        self.act_batch.setShortcut(QKeySequence("Ctrl+Shift+E"))
        file.addSeparator()
        act = file.addAction("&Settings…", self.open_settings)
        act.setShortcut(QKeySequence("Ctrl+,"))
        file.addSeparator()
        act = file.addAction("&Quit", self.close)
        act.setShortcut(QKeySequence.StandardKey.Quit)
        play = mb.addMenu("&Playback")
        play.addAction("Play / Pause\tSpace", self.controller.play_pause)
        play.addAction("Stop", self.controller.stop)
        play.addAction("Loop on/off\tL", self._toggle_loop)
        for n in LOOP_BARS:
            play.addAction(f"Loop {n} bar{'s' if n > 1 else ''} from here\tCtrl+{n}",
                           lambda n=n: self.loop_bars(n))
        play.addAction("Halve the loop\tH", lambda: self.scale_loop(0.5))
        play.addAction("Double the loop\tD", lambda: self.scale_loop(2.0))
        self.act_count_in = play.addAction("Count-in before the loop restarts\tK")
        self.act_count_in.setCheckable(True)
        self.act_count_in.toggled.connect(self._on_count_in)
        presets = play.addMenu("Stem presets")
        for name in ("Karaoke", "A cappella", "Drumless", "Bassless", "All"):
            presets.addAction(name, lambda n=name: self.controller.apply_preset(n))
        models = mb.addMenu("&Models")
        models.addAction("Hear A / B\tTab", self.controller.toggle_ab)
        models.addAction("Original mix\tO", self.controller.toggle_original)
        models.addAction("Add model for A…", self.picker_a._on_add)
        models.addAction("Add model for B…", self.picker_b._on_add)
        help_ = mb.addMenu("&Help")
        help_.addAction("Keyboard shortcuts", self._show_shortcuts)
        help_.addAction("About stemplay", self._show_about)
        self._fill_recent()

    def _build_shortcuts(self) -> None:
        c = self.controller

        def key(seq: str, fn: Any, what: str | None = None, shown: str | None = None) -> None:
            """Register ``seq``; ``what`` (with the key as ``shown``) goes into the table of
            Help → Keyboard shortcuts."""
            if what is not None:
                self._key_help.append((shown or seq, what))
            sc = QShortcut(QKeySequence(seq), self)
            sc.setWhatsThis(what or "")
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(fn)
            # Shift+1 and "!" both stand for solo 1: where the platform reports both for one
            # key press (X11, US layout) Qt finds them ambiguous and fires neither's
            # `activated`, only one `activatedAmbiguously`: that one must act too.
            sc.activatedAmbiguously.connect(fn)

        key("Space", c.play_pause, "play / pause")
        key("Left", lambda: c.seek_relative(-SEEK_STEP_S), "seek back 5 s", "←")
        key("Right", lambda: c.seek_relative(SEEK_STEP_S), "seek forward 5 s", "→")
        key("Shift+Left", lambda: c.seek_relative(-SEEK_BIG_STEP_S), "seek back 30 s",
            "Shift+←")
        key("Shift+Right", lambda: c.seek_relative(SEEK_BIG_STEP_S), "seek forward 30 s",
            "Shift+→")
        key("Home", lambda: c.seek(0.0), "back to the start")
        key("Tab", c.toggle_ab, "hear model A / model B (same spot in the song)")
        key("O", c.toggle_original, "the original mix (press again to go back)")
        key("R", lambda: c.select("reference") if self._has_reference() else None,
            "the song's true stems, when it has them")
        for i in range(4):
            key(str(i + 1), lambda i=i: c.toggle_mute(i),
                "mute / unmute stem 1–4" if i == 0 else None, "1 – 4")
            key(f"Shift+{i + 1}", lambda i=i: c.toggle_solo(i),
                "solo stem 1–4" if i == 0 else None, "Shift+1 – 4")
            # layouts where Shift+digit is reported as the shifted symbol (US: ! @ # $)
            key("!@#$"[i], lambda i=i: c.toggle_solo(i))
        key("L", self._toggle_loop, "loop on / off (Shift+drag on the waveform sets it)")
        key("[", self._loop_in, "loop starts at the playhead (on the nearest beat)")
        key("]", self._loop_out, "loop ends at the playhead (on the nearest beat)")
        for n in LOOP_BARS:
            key(f"Ctrl+{n}", lambda n=n: self.loop_bars(n),
                "loop 1 / 2 / 4 / 8 bars from the playhead's bar" if n == 1 else None,
                "Ctrl+1 / 2 / 4 / 8")
        key("H", lambda: self.scale_loop(0.5), "halve the loop (snapped to the beat)")
        key("D", lambda: self.scale_loop(2.0), "double the loop (snapped to the beat)")
        key("K", self.act_count_in.toggle, "count-in click (one bar) before the loop restarts")
        t = self.transport
        key(",", lambda: t.step_tempo(-1), "tempo 5 % slower (pitch kept)")
        key(".", lambda: t.step_tempo(1), "tempo 5 % faster (pitch kept)")
        key("-", lambda: t.step_pitch(-1), "pitch a semitone down (speed kept)")
        key("=", lambda: t.step_pitch(1), "pitch a semitone up (speed kept)")
        key("Backspace", t.reset_practice, "original tempo and pitch")
        for seq, what in (("Ctrl+O", "open a song"), ("Ctrl+E", "export stems"),
                          ("Ctrl+Shift+E", "batch export (a queue of songs)"),
                          ("Ctrl+,", "settings"), ("Ctrl+Q", "quit")):
            self._key_help.append((seq, what))

    def _connect(self) -> None:
        c = self.controller
        c.status_updated.connect(self._on_status)
        c.track_opened.connect(self._on_track_opened)
        c.model_changed.connect(self._on_model_changed)
        c.mix_changed.connect(self._on_mix_changed)
        c.source_changed.connect(self.sources.show_source)
        c.source_changed.connect(self._dim_strips)
        c.loop_changed.connect(self._on_loop_changed)
        self.transport.play_pause.connect(c.play_pause)
        self.transport.stop.connect(c.stop)
        self.transport.seek.connect(c.seek)
        self.transport.loop_toggled.connect(self._on_loop_button)
        self.transport.master_changed.connect(c.set_master)
        self.waveform.seek_requested.connect(c.seek)
        self.waveform.loop_selected.connect(self._on_loop_dragged)
        self.analysis_job.done.connect(self._on_analysis)
        self.analysis_job.failed.connect(self._on_analysis_failed)
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
        self.envelope.progress.connect(self._on_envelope)
        self.envelope.done.connect(self._on_envelope)
        self.envelope.failed.connect(self._on_envelope_failed)

    # -- models ---------------------------------------------------------------------------------
    def _model_entries(self) -> list[tuple[str, str]]:
        from engine.errors import StemplayError
        from engine.model import list_models

        try:
            infos = list_models()
        except StemplayError as err:
            log.warning("listing models: %s", err)
            infos = []
        entries = [(model_label(i), i.path.stem) for i in infos]  # the engine resolves stems
        names = {k for _, k in entries}
        for p in self.settings.user_models:
            if Path(p).is_file() and p not in names:
                entries.append((f"{Path(p).stem} (file)", p))
        return entries

    def _fill_model_pickers(self) -> None:
        entries = self._model_entries()
        self.picker_a.set_models(entries, self.controller.models["A"])
        self.picker_b.set_models(entries, self.controller.models["B"])

    def load_initial_models(self) -> None:
        """At start: the models of the last session, else the engine's default for A."""
        entries = [k for _, k in self._model_entries()]
        wanted_a = self.settings.model("A")
        if wanted_a is None or wanted_a not in entries and not Path(wanted_a).is_file():
            wanted_a = self._default_model(entries)
        if wanted_a is not None and not self.controller.set_model("A", wanted_a):
            self.presenter.dismiss()  # a stale setting is not worth a dialog: try the default
            fallback = self._default_model(entries)
            if fallback is not None and fallback != wanted_a:
                self.controller.set_model("A", fallback)
        wanted_b = self.settings.model("B")
        if not self.settings.model_chosen("B"):
            wanted_b = self._default_model_b(entries)  # ready to compare: the other model
        usable_b = wanted_b is not None and (wanted_b in entries or Path(wanted_b).is_file())
        if usable_b and not self.controller.set_model("B", wanted_b):
            self.presenter.dismiss()
        self._fill_model_pickers()
        if self.controller.models["A"] is None:
            self.controller.select("mix")  # nothing to separate with: say so, play the mix
        self._update_model_visibility()

    def _default_model(self, entries: list[str]) -> str | None:
        from engine.model import list_models, pick_default

        info = pick_default(list_models())
        if info is not None and info.path.stem in entries:
            return info.path.stem
        return entries[0] if entries else None

    def _default_model_b(self, entries: list[str]) -> str | None:
        """B's first default: the other shipped model (by preference order), else none."""
        from engine.config import DEFAULT_MODEL_ORDER

        a = self.controller.models["A"]
        a_stem = Path(a).stem if a else None
        others = [k for k in entries if k != a and Path(k).stem != a_stem
                  and Path(k).suffix != ".onnx"]
        ranked = sorted(others, key=lambda k: (
            DEFAULT_MODEL_ORDER.index(k) if k in DEFAULT_MODEL_ORDER else len(DEFAULT_MODEL_ORDER)))
        return ranked[0] if ranked else None

    def choose_model(self, slot: str, key: str | None) -> bool:
        picker = self.picker_a if slot == "A" else self.picker_b
        first_model = slot == "A" and self.controller.models["A"] is None
        if self.controller.set_model(slot, key):
            if first_model and self.controller.source == "mix":
                self.controller.select("A")  # the user wants to hear what it separates
            if key is not None and Path(key).suffix == ".onnx" and Path(key).is_file():
                self.settings.add_user_model(key)
                self._fill_model_pickers()
            picker.accept_current(key)
            self.settings.set_model(slot, key)
            self._update_model_visibility()
            return True
        picker.revert()
        return False

    def _on_model_changed(self, _slot: str, _info: Any) -> None:
        self._update_model_visibility()

    def _update_model_visibility(self) -> None:
        has_a = self.controller.models["A"] is not None
        stems_heard = has_a or self.controller.source == "reference"  # true stems need no model
        self.no_model_label.setVisible(not stems_heard)
        self.strips.setVisible(stems_heard)
        self.sources.set_available(
            has_b=self.controller.models["B"] is not None,
            has_reference=self._has_reference(),
            has_a=has_a,
        )

    def _has_reference(self) -> bool:
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
        from app.mixstate import db_to_fader

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
        self._update_status_bar(None)

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
        self._envelope_token = self.envelope.start(info.path)
        self.analysis = None
        if self.act_count_in.isChecked():  # the last song's tempo no more: until this one's
            self.controller.set_count_in(0, 0.0)
        self.music.setText("finding the beat…")
        self.stem_tap = StemEnvelopes()
        self._analysis_token = self.analysis_job.start(info.path)
        self._update_model_visibility()

    def _on_envelope(self, token: int, peak: Any, rms: Any) -> None:
        if token == self._envelope_token:
            self.waveform.set_envelope(peak, rms)

    def _on_analysis(self, token: int, result: Any) -> None:
        if token != self._analysis_token:
            return
        self.analysis = result
        self.music.setText(result.label() or "no steady beat")
        self.waveform.set_grid(result.beats, result.bars)
        if self.act_count_in.isChecked():
            self._on_count_in(True)

    def _on_analysis_failed(self, token: int, message: str) -> None:
        if token == self._analysis_token:
            log.warning("beat analysis: %s", message)
            self.music.setText("")

    def _grid(self) -> tuple[list[float], list[float]]:
        a = self.analysis
        return (list(a.beats), list(a.bars)) if a is not None else ([], [])

    def loop_bars(self, n: int) -> None:
        """Ctrl+1/2/4/8: a loop of ``n`` bars from the bar the playhead is in."""
        c = self.controller
        if c.track is None:
            return
        _beats, bars = self._grid()
        loop = practice.bars_loop(c.position_s, n, bars, float(c.track.duration_s))
        if loop is None:
            self.statusBar().showMessage(
                "No bars yet: the beat is still being found" if self.analysis is None
                else "This song has no steady beat to loop bars of", 3000)
            return
        c.set_loop(*loop)

    def scale_loop(self, factor: float) -> None:
        """H / D: halve or double the loop (same start, end on a beat)."""
        c = self.controller
        if c.track is None or c.loop is None:
            self.statusBar().showMessage("Set a loop first (Ctrl+1…8, [ ], Shift+drag)", 3000)
            return
        beats, _bars = self._grid()
        self._set_loop(practice.scale_loop(c.loop, factor, float(c.track.duration_s), beats))

    def _on_loop_dragged(self, a: float, b: float) -> None:
        """Shift+drag on the waveform: the region snaps to the nearest beats."""
        beats, _bars = self._grid()
        if len(beats) > 1:
            half = 0.5 * self.analysis.beat_s
            a2, b2 = practice.snap(a, beats, half), practice.snap(b, beats, half)
            if b2 - a2 >= practice.MIN_LOOP_S:
                a, b = a2, b2
        self.controller.set_loop(a, b)

    def _on_count_in(self, on: bool) -> None:
        """K: one bar of clicks at the song's tempo before the loop restarts."""
        c = self.controller
        if not on:
            c.set_count_in(0, 0.0)
            return
        a = self.analysis
        if a is None or a.bpm <= 0:
            self.statusBar().showMessage("Count-in: waiting for the song's tempo", 3000)
            return
        c.set_count_in(COUNT_IN_BEATS, a.beat_s)
        self.statusBar().showMessage(
            f"Count-in: {COUNT_IN_BEATS} clicks at {a.bpm:.0f} BPM before the loop restarts",
            3000)

    def _show_stems(self, st: Any) -> None:
        """The heard model's separated stems on the overview; how far A and B are ahead."""
        self._polls += 1
        heard = st.source if st.source in ("A", "B") else ""
        if self._polls % STEM_POLL_EVERY and heard == self.waveform.heard_slot:
            return  # (a change of what is heard shows at once)
        eng = self.controller.engine
        if eng is None:
            return
        changed = self.stem_tap.poll(eng, st.track)
        self.waveform.set_ahead(self.stem_tap.ahead(), heard)
        env = self.stem_tap.slots.get(heard)
        if env is None:
            self._shown_env = None
            if self.waveform.stem_names:
                self.waveform.clear_stems()
            return
        now = time.monotonic()
        self._stems_pending |= changed
        if self._shown_env is not env or (self._stems_pending
                                          and now - self._stems_drawn >= STEM_DRAW_S):
            # (the overview is redrawn at most once a second while the separation advances)
            self._shown_env, self._stems_drawn, self._stems_pending = env, now, False
            self.waveform.set_stems(env.stems, [stem_colour(s, i) for i, s in
                                                enumerate(env.stems)], env.rms, env.covered)

    def _on_envelope_failed(self, token: int, message: str) -> None:
        if token == self._envelope_token:
            log.warning("waveform: %s", message)
            self.waveform.empty_text = message

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

    def _here(self) -> float:
        """The playhead, on the nearest beat when the song is analysed (within half a beat)."""
        beats, _bars = self._grid()
        t = self.controller.position_s
        return practice.snap(t, beats, 0.5 * self.analysis.beat_s) if len(beats) > 1 else t

    def _loop_in(self) -> None:
        c = self.controller
        if c.track is not None:
            self._set_loop(practice.loop_in(c.loop, self._here(), float(c.track.duration_s)))

    def _loop_out(self) -> None:
        c = self.controller
        if c.track is not None:
            self._set_loop(practice.loop_out(c.loop, self._here(), float(c.track.duration_s)))

    def _set_loop(self, loop: tuple[float, float] | None) -> None:
        if loop is None:
            self.statusBar().showMessage("That loop would be too short", 3000)
            return
        self.controller.set_loop(*loop)

    def _on_loop_changed(self, loop: Any, enabled: bool) -> None:
        self.waveform.set_loop(loop, enabled)
        self.transport.set_loop_checked(enabled)

    def _toggle_loop(self) -> None:
        if not self.controller.toggle_loop():
            self.statusBar().showMessage("Shift+drag on the waveform to set a loop region", 3000)

    def _on_loop_button(self, on: bool) -> None:
        if not self.controller.toggle_loop(on):
            self.transport.set_loop_checked(False)
            self.statusBar().showMessage("Shift+drag on the waveform to set a loop region", 3000)

    def _on_status(self, st: Any) -> None:
        self.transport.show_status(bool(st.playing), float(st.position_s))
        duration = float(st.duration_s)
        if duration > 0 and (st.finished or float(st.position_s) >= duration - 0.05):
            # at the end the elapsed time reads as the total does ("0:36 / 0:36", not 0:36.7)
            self.transport.elapsed.setText(format_time(duration))
        self._dim_strips(st.source)
        self._show_stems(st)
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
        self._update_status_bar(st)

    def _update_status_bar(self, st: Any) -> None:
        c = self.controller
        names = []
        for slot in ("A", "B"):
            info = c.model_infos.get(slot)
            names.append(f"{slot}: {model_label(info) if info is not None else '—'}")
        self.st_models.setText("   ".join(names))
        if st is None:
            for w in (self.st_provider, self.st_speed, self.st_ahead, self.st_underruns):
                w.setText("")
            self.st_state.setText("Open a song to start")
            return
        self.st_provider.setText(provider_label(st.provider))
        self.st_speed.setText(f"{st.rtf:.1f}× real time" if st.rtf else "speed —")
        self.st_ahead.setText(f"{st.ahead_s:.1f} s separated ahead")
        warning = dropout_warning(int(st.underruns), int(getattr(st, "late", 0)))
        self.st_underruns.setText(warning)
        self.st_underruns.setVisible(bool(warning))
        from engine.player import Engine

        self.st_state.setText(Engine.describe(st))

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
        """Every key of the window with what it does (the registered shortcuts, in order;
        keys registered without a description are listed under their own name)."""
        rows = list(self._key_help)
        described = {QKeySequence(k).toString() for k, _ in rows}
        for sc in self.findChildren(QShortcut):
            seq = sc.key().toString()
            if sc.whatsThis() and seq not in described:
                rows.append((seq, sc.whatsThis()))
                described.add(seq)
        return rows

    def _show_shortcuts(self) -> QDialog:
        if self.shortcuts_dialog is None:
            dlg = QDialog(self)
            dlg.setWindowTitle("Keyboard shortcuts")
            table = QTableWidget(0, 2, dlg)
            table.setObjectName("shortcuts")
            table.setHorizontalHeaderLabels(["Key", "Does"])
            table.verticalHeader().setVisible(False)
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
            table.horizontalHeader().setSectionResizeMode(
                0, QHeaderView.ResizeMode.ResizeToContents)
            table.horizontalHeader().setStretchLastSection(True)
            lay = QVBoxLayout(dlg)
            lay.addWidget(table)
            close = QPushButton("Close")
            close.clicked.connect(dlg.accept)
            lay.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
            dlg.resize(520, 560)
            self.shortcuts_dialog = dlg
        dlg = self.shortcuts_dialog
        table = dlg.findChild(QTableWidget, "shortcuts")
        rows = self.shortcut_rows()
        table.setRowCount(len(rows))
        for r, (k, what) in enumerate(rows):
            item = QTableWidgetItem(k)
            f = item.font()
            f.setBold(True)
            item.setFont(f)
            table.setItem(r, 0, item)
            table.setItem(r, 1, QTableWidgetItem(what))
        dlg.show()
        dlg.raise_()
        return dlg

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            "About stemplay",
            "<b>stemplay</b><br>Plays a song while separating it into stems (vocals, drums, "
            "bass, other) so you can mute, solo and fade each one live.",
        )

    # -- closing --------------------------------------------------------------------------------
    def export_running(self) -> bool:
        return any(d is not None and d.job is not None and d.job.running()
                   for d in (self.export_dialog, self.batch_dialog))

    def confirm_quit_during_export(self) -> bool:
        """Ask whether to stop a running export and quit (a seam for tests)."""
        answer = QMessageBox.question(
            self,
            "Export in progress",
            "An export is still running. Stop it (nothing half-written is kept) and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

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
        self.envelope.cancel(wait=True)
        self.analysis_job.cancel(wait=True)
        self.remember_song()
        self.library.close()
        self.controller.shutdown()
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        self.presenter.dismiss()
        self._collector.release()  # the engine's threads are stopped: automatic GC may resume
        super().closeEvent(e)
