"""Transport bar: play/pause, stop, position slider with elapsed/total time, loop, master gain
with the master level meter under the master fader.

GUI thread. Emits what the user asked; ``show_status`` and ``show_master_level`` paint what the
engine reports.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.meters import LevelMeter
from app.mixstate import db_to_fader, fader_to_db, format_db
from app.timefmt import format_time

SLIDER_SCALE = 100  # slider units per second
MASTER_METER_COLOUR = "#6fcf97"


class TransportBar(QWidget):
    play_pause = Signal()
    stop = Signal()
    seek = Signal(float)  # seconds
    loop_toggled = Signal(bool)
    master_changed = Signal(float)  # dB

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        st = self.style()
        self._icon_play = st.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._icon_pause = st.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.play_button = QPushButton(self._icon_play, "Play")
        self.play_button.setToolTip("Play / pause (Space)")
        self.stop_button = QPushButton(st.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "")
        self.stop_button.setToolTip("Stop and return to the start")
        self.loop_button = QPushButton("Loop")
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Loop the selected region (L); Shift+drag on the waveform")
        self.elapsed = QLabel("0:00.0")
        self.elapsed.setObjectName("time")
        self.total = QLabel("/ --:--")
        self.total.setObjectName("time")
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setRange(0, 0)
        self.master = QSlider(Qt.Orientation.Horizontal)
        self.master.setRange(0, 1000)
        self.master.setValue(db_to_fader(0.0))
        self.master.setFixedWidth(120)
        self.master.setToolTip("Master gain")
        self.master_meter = LevelMeter(
            QColor(MASTER_METER_COLOUR), orientation=Qt.Orientation.Horizontal
        )
        self.master_meter.setFixedWidth(120)
        self.master_meter.setFixedHeight(6)
        self.master_meter.setToolTip("Master level: RMS (solid), peak (light), held peak (line)")
        self.master_label = QLabel(format_db(0.0))
        self.master_label.setObjectName("time")
        self.master_label.setMinimumWidth(70)
        for w in (self.play_button, self.stop_button, self.loop_button, self.position, self.master):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.play_button)
        lay.addWidget(self.stop_button)
        lay.addWidget(self.loop_button)
        lay.addSpacing(8)
        lay.addWidget(self.elapsed)
        lay.addWidget(self.total)
        lay.addWidget(self.position, 1)
        lay.addSpacing(8)
        master_name = QLabel("Master")
        master_name.setObjectName("dim")
        lay.addWidget(master_name)
        master_box = QVBoxLayout()
        master_box.setContentsMargins(0, 0, 0, 0)
        master_box.setSpacing(1)
        master_box.addWidget(self.master)
        master_box.addWidget(self.master_meter)
        lay.addLayout(master_box)
        lay.addWidget(self.master_label)

        self.play_button.clicked.connect(self.play_pause)
        self.stop_button.clicked.connect(self.stop)
        self.loop_button.toggled.connect(self.loop_toggled)
        self.position.sliderReleased.connect(
            lambda: self.seek.emit(self.position.value() / SLIDER_SCALE)
        )
        self.position.actionTriggered.connect(self._on_action)
        self.master.valueChanged.connect(self._on_master)
        self.master.mouseDoubleClickEvent = lambda _e: self.master.setValue(db_to_fader(0.0))

    def _on_action(self, action: int) -> None:
        # page clicks on the groove (not drags) seek at once
        if not self.position.isSliderDown() and action in (
            QSlider.SliderAction.SliderPageStepAdd,
            QSlider.SliderAction.SliderPageStepSub,
        ):
            self.seek.emit(self.position.sliderPosition() / SLIDER_SCALE)

    def _on_master(self, pos: int) -> None:
        db = fader_to_db(pos)
        self.master_label.setText(format_db(db))
        self.master_changed.emit(db)

    def set_duration(self, seconds: float) -> None:
        self.position.setRange(0, max(0, int(seconds * SLIDER_SCALE)))
        self.position.setPageStep(max(1, int(5 * SLIDER_SCALE)))
        self.total.setText(f"/ {format_time(seconds)}")

    def show_status(self, playing: bool, position_s: float) -> None:
        self.play_button.setIcon(self._icon_pause if playing else self._icon_play)
        self.play_button.setText("Pause" if playing else "Play")
        self.elapsed.setText(format_time(position_s, tenths=True))
        if not self.position.isSliderDown():
            self.position.blockSignals(True)
            self.position.setValue(int(position_s * SLIDER_SCALE))
            self.position.blockSignals(False)

    def show_master_level(self, peak: float, rms: float) -> None:
        """Linear peak and RMS of what was played (``EngineStatus.levels["master"]``)."""
        self.master_meter.set_levels(peak, rms)

    def set_loop_checked(self, on: bool) -> None:
        self.loop_button.blockSignals(True)
        self.loop_button.setChecked(on)
        self.loop_button.blockSignals(False)
