"""One channel strip per stem: name, colour, pan, fader (dB), mute, solo and a live meter. GUI
thread.

A strip only emits what the user did; the main window forwards it to the controller, which talks
to the engine. ``set_state`` updates the widgets without emitting (presets, engine restarts).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.meters import LevelMeter
from app.mixstate import FADER_STEPS, PAN_MAX, db_to_fader, fader_to_db, format_db, format_pan


class Fader(QSlider):
    """Vertical fader; double-click resets to 0 dB."""

    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setRange(0, FADER_STEPS)
        self.setValue(db_to_fader(0.0))
        self.setPageStep(50)
        self.setSingleStep(5)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumHeight(120)
        self.setToolTip("Gain of this stem (double-click: 0 dB)")

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.reset_requested.emit()
        event.accept()


class PanSlider(QSlider):
    """Horizontal pan control, -100 (hard left) .. +100 (hard right); double-click centres."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setRange(-int(PAN_MAX), int(PAN_MAX))
        self.setValue(0)
        self.setSingleStep(5)
        self.setPageStep(25)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Pan: left ... right (double-click: centre)")

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.setValue(0)
        event.accept()


class StemStrip(QFrame):
    """The controls of one stem. Signals carry the stem name."""

    gain_changed = Signal(str, float)  # stem, dB (may be -inf)
    mute_toggled = Signal(str, bool)
    solo_toggled = Signal(str, bool)
    pan_changed = Signal(str, float)  # stem, -100..100

    def __init__(self, stem: str, colour: QColor, key: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.stem = stem
        self.setObjectName("panel")
        self._colour = QColor(colour)
        self._updating = False

        name = QLabel(stem.capitalize())
        name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        name.setStyleSheet(
            f"background: {self._colour.name()}; color: #111111; font-weight: 700;"
            "border-radius: 4px; padding: 3px 6px;"
        )
        self.name_label = name
        hint = QLabel(f"key {key}")
        hint.setObjectName("dim")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.pan = PanSlider()
        self.pan_label = QLabel(format_pan(0))
        self.pan_label.setObjectName("time")
        self.pan_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pan_label.setMinimumWidth(34)
        self.fader = Fader()
        self.meter = LevelMeter(self._colour)
        self.db_label = QLabel(format_db(0.0))
        self.db_label.setObjectName("time")
        self.db_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.mute = QPushButton("M")
        self.mute.setObjectName("mute")
        self.mute.setCheckable(True)
        self.mute.setToolTip(f"Mute {stem} (key {key})")
        self.solo = QPushButton("S")
        self.solo.setObjectName("solo")
        self.solo.setCheckable(True)
        self.solo.setToolTip(f"Solo {stem} (Shift+{key})")
        for b in (self.mute, self.solo):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setFixedWidth(34)

        middle = QHBoxLayout()
        middle.addStretch(1)
        middle.addWidget(self.fader)
        middle.addSpacing(4)
        middle.addWidget(self.meter)
        middle.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.mute)
        buttons.addWidget(self.solo)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(name)
        lay.addWidget(hint)
        pan_row = QHBoxLayout()
        pan_row.setSpacing(2)
        pan_row.addWidget(self.pan, 1)
        pan_row.addWidget(self.pan_label)
        lay.addLayout(pan_row)
        lay.addLayout(middle, 1)
        lay.addWidget(self.db_label)
        lay.addLayout(buttons)
        self.setMinimumWidth(110)

        self.pan.valueChanged.connect(self._on_pan)
        self.fader.valueChanged.connect(self._on_fader)
        self.fader.reset_requested.connect(lambda: self.fader.setValue(db_to_fader(0.0)))
        self.mute.toggled.connect(lambda on: self._emit(self.mute_toggled, on))
        self.solo.toggled.connect(lambda on: self._emit(self.solo_toggled, on))

    @property
    def gain_db(self) -> float:
        return fader_to_db(self.fader.value())

    def _emit(self, signal: Signal, on: bool) -> None:
        if not self._updating:
            signal.emit(self.stem, on)

    def _on_fader(self, pos: int) -> None:
        db = fader_to_db(pos)
        self.db_label.setText(format_db(db))
        if not self._updating:
            self.gain_changed.emit(self.stem, db)

    def _on_pan(self, value: int) -> None:
        self.pan_label.setText(format_pan(value))
        if not self._updating:
            self.pan_changed.emit(self.stem, float(value))

    def set_state(self, db: float, muted: bool, soloed: bool, pan: float = 0.0) -> None:
        """Show a state decided elsewhere, without emitting signals."""
        self._updating = True
        try:
            self.pan.setValue(round(pan))
            self.pan_label.setText(format_pan(pan))
            self.fader.setValue(db_to_fader(db))
            self.db_label.setText(format_db(db))
            self.mute.setChecked(muted)
            self.solo.setChecked(soloed)
        finally:
            self._updating = False

    def set_audible(self, audible: bool) -> None:
        """Dim the strip's name when the stem is not heard (muted, or another stem soloed)."""
        c = QColor(self._colour)
        if not audible:
            c = c.darker(260)
        self.name_label.setStyleSheet(
            f"background: {c.name()}; color: {'#111111' if audible else '#888888'};"
            "font-weight: 700; border-radius: 4px; padding: 3px 6px;"
        )


class StripRow(QWidget):
    """The row of strips for the current model's stems."""

    gain_changed = Signal(str, float)
    mute_toggled = Signal(str, bool)
    solo_toggled = Signal(str, bool)
    pan_changed = Signal(str, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self.strips: dict[str, StemStrip] = {}
        self.stems: tuple[str, ...] = ()

    def set_stems(self, stems: tuple[str, ...] | list[str]) -> None:
        from app.theme import stem_colour

        stems = tuple(stems)
        if stems == self.stems:
            return
        for s in self.strips.values():
            self._lay.removeWidget(s)
            s.deleteLater()
        self.strips = {}
        self.stems = stems
        for i, stem in enumerate(stems):
            strip = StemStrip(stem, stem_colour(stem, i), i + 1)
            strip.gain_changed.connect(self.gain_changed)
            strip.mute_toggled.connect(self.mute_toggled)
            strip.solo_toggled.connect(self.solo_toggled)
            strip.pan_changed.connect(self.pan_changed)
            self._lay.addWidget(strip)
            self.strips[stem] = strip
