"""The main window's menu bar and keyboard: every menu entry and shortcut wired to what it
does, and Help → Keyboard shortcuts (a table made from the registered keys). GUI thread.

The functions take the window and call its parts (controller, transport, loop tools, model
pickers, dialogs); the window keeps the described keys in ``key_help`` (key, what it does) and
the table's dialog in ``shortcuts_dialog``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from app.controller import SEEK_BIG_STEP_S, SEEK_STEP_S
from app.loop_tools import LOOP_BARS

if TYPE_CHECKING:
    from app.main_window import MainWindow

#: The presets in the order they are offered (the buttons beside the strips, the menu).
PRESET_ORDER = ("Karaoke", "A cappella", "Drumless", "Bassless", "All")
#: Keys of the File menu, listed in the shortcuts table after the window's own keys.
MENU_KEYS = (("Ctrl+O", "open a song"), ("Ctrl+E", "export stems"),
             ("Ctrl+Shift+E", "batch export (a queue of songs)"), ("Ctrl+,", "settings"),
             ("Ctrl+Q", "quit"))


def build_menus(w: MainWindow) -> None:
    """File, Playback, Models and Help; sets ``act_open``, ``act_export``, ``act_batch`` and
    ``recent_menu`` on the window."""
    c, loops = w.controller, w.loops
    mb = w.menuBar()
    file = mb.addMenu("&File")
    w.act_open = file.addAction("&Open…", w.open_dialog)
    w.act_open.setShortcut(QKeySequence.StandardKey.Open)
    w.recent_menu = file.addMenu("Open &Recent")
    w.act_export = file.addAction("&Export stems…", w.open_export)
    w.act_export.setShortcut(QKeySequence("Ctrl+E"))
    w.act_batch = file.addAction("&Batch export…", w.open_batch_export)
    w.act_batch.setShortcut(QKeySequence("Ctrl+Shift+E"))
    file.addSeparator()
    act = file.addAction("&Settings…", w.open_settings)
    act.setShortcut(QKeySequence("Ctrl+,"))
    file.addSeparator()
    act = file.addAction("&Quit", w.close)
    act.setShortcut(QKeySequence.StandardKey.Quit)
    play = mb.addMenu("&Playback")
    play.addAction("Play / Pause\tSpace", c.play_pause)
    play.addAction("Stop", c.stop)
    play.addAction("Loop on/off\tL", loops.toggle_loop)
    for n in LOOP_BARS:
        play.addAction(f"Loop {n} bar{'s' if n > 1 else ''} from here\tCtrl+{n}",
                       lambda n=n: loops.loop_bars(n))
    play.addAction("Halve the loop\tH", lambda: loops.scale_loop(0.5))
    play.addAction("Double the loop\tD", lambda: loops.scale_loop(2.0))
    play.addAction(loops.count_in_action)
    presets = play.addMenu("Stem presets")
    for name in PRESET_ORDER:
        presets.addAction(name, lambda n=name: c.apply_preset(n))
    models = mb.addMenu("&Models")
    models.addAction("Hear A / B\tTab", c.toggle_ab)
    models.addAction("Original mix\tO", c.toggle_original)
    models.addAction("Add model for A…", w.picker_a.add_model)
    models.addAction("Add model for B…", w.picker_b.add_model)
    help_ = mb.addMenu("&Help")
    help_.addAction("Keyboard shortcuts", w.show_shortcuts)
    help_.addAction("About stemplay", lambda: show_about(w))


def build_shortcuts(w: MainWindow) -> None:
    """The window's keys; each described one goes into ``w.key_help`` for the table."""
    c, loops = w.controller, w.loops

    def key(seq: str, fn: Any, what: str | None = None, shown: str | None = None) -> None:
        """Register ``seq``; ``what`` (with the key as ``shown``) goes into the table of
        Help → Keyboard shortcuts."""
        if what is not None:
            w.key_help.append((shown or seq, what))
        sc = QShortcut(QKeySequence(seq), w)
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
    key("R", lambda: c.select("reference") if w.has_reference() else None,
        "the song's true stems, when it has them")
    for i in range(4):
        key(str(i + 1), lambda i=i: c.toggle_mute(i),
            "mute / unmute stem 1–4" if i == 0 else None, "1 – 4")
        key(f"Shift+{i + 1}", lambda i=i: c.toggle_solo(i),
            "solo stem 1–4" if i == 0 else None, "Shift+1 – 4")
        # layouts where Shift+digit is reported as the shifted symbol (US: ! @ # $)
        key("!@#$"[i], lambda i=i: c.toggle_solo(i))
    key("L", loops.toggle_loop, "loop on / off (Shift+drag on the waveform sets it)")
    key("[", loops.loop_in, "loop starts at the playhead (on the nearest beat)")
    key("]", loops.loop_out, "loop ends at the playhead (on the nearest beat)")
    for n in LOOP_BARS:
        key(f"Ctrl+{n}", lambda n=n: loops.loop_bars(n),
            "loop 1 / 2 / 4 / 8 bars from the playhead's bar" if n == 1 else None,
            "Ctrl+1 / 2 / 4 / 8")
    key("H", lambda: loops.scale_loop(0.5), "halve the loop (snapped to the beat)")
    key("D", lambda: loops.scale_loop(2.0), "double the loop (snapped to the beat)")
    key("K", loops.count_in_action.toggle, "count-in click (one bar) before the loop restarts")
    t = w.transport
    key(",", lambda: t.step_tempo(-1), "tempo 5 % slower (pitch kept)")
    key(".", lambda: t.step_tempo(1), "tempo 5 % faster (pitch kept)")
    key("-", lambda: t.step_pitch(-1), "pitch a semitone down (speed kept)")
    key("=", lambda: t.step_pitch(1), "pitch a semitone up (speed kept)")
    key("Backspace", t.reset_practice, "original tempo and pitch")
    w.key_help.extend(MENU_KEYS)


def shortcut_rows(w: MainWindow) -> list[tuple[str, str]]:
    """Every key of the window with what it does (the registered shortcuts, in order; keys
    registered without a description are listed under their own name)."""
    rows = list(w.key_help)
    described = {QKeySequence(k).toString() for k, _ in rows}
    for sc in w.findChildren(QShortcut):
        seq = sc.key().toString()
        if sc.whatsThis() and seq not in described:
            rows.append((seq, sc.whatsThis()))
            described.add(seq)
    return rows


def show_shortcuts(w: MainWindow) -> QDialog:
    """Help → Keyboard shortcuts: one dialog per window, refilled each time it is shown."""
    if w.shortcuts_dialog is None:
        dlg = QDialog(w)
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
        w.shortcuts_dialog = dlg
    dlg = w.shortcuts_dialog
    table = dlg.findChild(QTableWidget, "shortcuts")
    rows = shortcut_rows(w)
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


def show_about(w: MainWindow) -> None:
    QMessageBox.about(
        w,
        "About stemplay",
        "<b>stemplay</b><br>Plays a song while separating it into stems (vocals, drums, "
        "bass, other) so you can mute, solo and fade each one live.",
    )
