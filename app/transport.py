"""Transport bar: play/pause, stop, position slider with elapsed/total time, loop, master gain
with the master level meter under the master fader; below them the practice row: tempo
(50–150 %, pitch kept), pitch (±6 semitones plus cents, speed kept) and a reset.

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
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.meters import LevelMeter
from app.mixstate import db_to_fader, fader_to_db, format_db, split_pitch
from app.timefmt import format_time
from engine.stretch import PITCH_MAX, TEMPO_MAX, TEMPO_MIN

SLIDER_SCALE = 100  # slider units per second
MASTER_METER_COLOUR = "#6fcf97"
TEMPO_STEP = 5  # percent per arrow click / key press


class TransportBar(QWidget):
    play_pause = Signal()
    stop = Signal()
    seek = Signal(float)  # seconds
    loop_toggled = Signal(bool)
    master_changed = Signal(float)  # dB
    tempo_changed = Signal(float)  # speed ratio
    pitch_changed = Signal(float)  # semitones (fractional: cents)

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
        self.tempo = QSpinBox()
        self.tempo.setRange(round(TEMPO_MIN * 100), round(TEMPO_MAX * 100))
        self.tempo.setSingleStep(TEMPO_STEP)
        self.tempo.setValue(100)
        self.tempo.setSuffix(" %")
        self.tempo.setToolTip("Tempo: speed without changing pitch (, slower, . faster)")
        self.semitones = QSpinBox()
        self.semitones.setRange(-int(PITCH_MAX), int(PITCH_MAX))
        self.semitones.setSuffix(" st")
        self.semitones.setToolTip("Pitch in semitones, speed kept (- down, = up)")
        self.cents = QSpinBox()
        self.cents.setRange(-50, 50)
        self.cents.setSingleStep(5)
        self.cents.setSuffix(" ct")
        self.cents.setToolTip("Fine pitch in cents")
        self.practice_reset = QPushButton("1× / 0")
        self.practice_reset.setToolTip("Original tempo and pitch (Backspace)")
        self._quiet = False  # set_practice is showing a value: emit nothing
        for w in (self.play_button, self.stop_button, self.loop_button, self.position, self.master,
                  self.practice_reset):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for spin in (self.tempo, self.semitones, self.cents):
            spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            spin.setKeyboardTracking(False)

        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        lay = QHBoxLayout()
        lay.setContentsMargins(0, 0, 0, 0)
        rows.addLayout(lay)
        practice = QHBoxLayout()
        practice.setContentsMargins(0, 0, 0, 0)
        for text, widget in (("Tempo", self.tempo), ("Pitch", self.semitones)):
            label = QLabel(text)
            label.setObjectName("dim")
            practice.addWidget(label)
            practice.addWidget(widget)
            practice.addSpacing(4)
        practice.addWidget(self.cents)
        practice.addWidget(self.practice_reset)
        practice.addStretch(1)
        rows.addLayout(practice)
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
        self.tempo.valueChanged.connect(self._on_tempo)
        self.semitones.valueChanged.connect(self._on_pitch)
        self.cents.valueChanged.connect(self._on_pitch)
        self.practice_reset.clicked.connect(self.reset_practice)

    # -- tempo and pitch ------------------------------------------------------------------------
    @property
    def tempo_ratio(self) -> float:
        return self.tempo.value() / 100.0

    @property
    def pitch_semitones(self) -> float:
        return self.semitones.value() + self.cents.value() / 100.0

    def _on_tempo(self, _value: int) -> None:
        if not self._quiet:
            self.tempo_changed.emit(self.tempo_ratio)

    def _on_pitch(self, _value: int) -> None:
        total = self.pitch_semitones
        if abs(total) > PITCH_MAX:  # +6 st +30 ct: keep within ±6 semitones
            self._show_pitch(PITCH_MAX if total > 0 else -PITCH_MAX)
            return  # _show_pitch emits through valueChanged unless quiet
        if not self._quiet:
            self.pitch_changed.emit(total)

    def _show_pitch(self, semitones: float) -> None:
        st, ct = split_pitch(semitones)
        self.semitones.blockSignals(True)
        self.semitones.setValue(st)
        self.semitones.blockSignals(False)
        self.cents.setValue(ct)  # the cents change (total was beyond ±6) → _on_pitch emits

    def step_tempo(self, steps: int) -> None:
        """Keys , and .: slower / faster by ``TEMPO_STEP`` percent."""
        self.tempo.setValue(self.tempo.value() + steps * TEMPO_STEP)

    def step_pitch(self, steps: int) -> None:
        """Keys - and =: down / up a semitone (cents kept)."""
        self.semitones.setValue(self.semitones.value() + steps)

    def reset_practice(self) -> None:
        """Tempo 100 %, pitch 0: the song as recorded."""
        self.tempo.setValue(100)
        self.semitones.setValue(0)
        self.cents.setValue(0)

    def set_practice(self, tempo: float, pitch: float) -> None:
        """Show tempo and pitch decided elsewhere (a restored song), without emitting."""
        self._quiet = True
        try:
            self.tempo.setValue(round(tempo * 100))
            st, ct = split_pitch(pitch)
            self.semitones.setValue(st)
            self.cents.setValue(ct)
        finally:
            self._quiet = False

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
