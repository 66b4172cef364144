"""A peak/RMS level meter with peak hold, painted by hand. GUI thread.

Fed from ``EngineStatus.levels`` (linear peak and RMS of what was actually played); it only
paints, the numbers come from the engine. Vertical in the stem strips, horizontal beside the
master fader (``levels["master"]``).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme

METER_FLOOR_DB = -60.0
METER_TOP_DB = 6.0
PEAK_HOLD_TICKS = 45  # ~1.5 s at the 30 Hz status poll
PEAK_FALL_DB = 1.5  # dB per tick once the hold has expired


def level_to_fraction(level: float) -> float:
    """Linear amplitude → height fraction of the meter (dB scale, floor at -60 dB)."""
    if level <= 0.0 or not math.isfinite(level):
        return 0.0
    db = 20.0 * math.log10(level)
    return min(1.0, max(0.0, (db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB)))


class LevelMeter(QWidget):
    """Shows RMS as a solid bar, peak as a lighter bar and the held peak as a line.

    Vertical bars grow upwards, horizontal ones (``orientation=Qt.Orientation.Horizontal``)
    to the right.
    """

    def __init__(
        self,
        colour: QColor,
        parent: QWidget | None = None,
        orientation: Qt.Orientation = Qt.Orientation.Vertical,
    ) -> None:
        super().__init__(parent)
        self._colour = QColor(colour)
        self.orientation = orientation
        self.peak = 0.0  # linear, last value set by the GUI poll
        self.rms = 0.0
        self._hold_db = METER_FLOOR_DB
        self._hold_ticks = 0
        if orientation == Qt.Orientation.Vertical:
            self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
            self.setMinimumHeight(80)
        else:
            self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self.setMinimumWidth(80)

    def sizeHint(self) -> QSize:
        return QSize(14, 160) if self.orientation == Qt.Orientation.Vertical else QSize(120, 8)

    @property
    def hold_db(self) -> float:
        """The held peak (dB), shown as a line."""
        return self._hold_db

    def set_levels(self, peak: float, rms: float) -> None:
        self.peak, self.rms = float(peak), float(rms)
        peak_db = 20.0 * math.log10(self.peak) if self.peak > 0 else METER_FLOOR_DB
        if peak_db >= self._hold_db:
            self._hold_db, self._hold_ticks = peak_db, PEAK_HOLD_TICKS
        elif self._hold_ticks > 0:
            self._hold_ticks -= 1
        else:
            self._hold_db = max(METER_FLOOR_DB, self._hold_db - PEAK_FALL_DB)
        self.update()

    def reset(self) -> None:
        self.peak = self.rms = 0.0
        self._hold_db, self._hold_ticks = METER_FLOOR_DB, 0
        self.update()

    def paintEvent(self, _event) -> None:
        c = theme.colours()
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.fillRect(r, QColor(c.meter_bg))
        peak_col = QColor(self._colour)
        peak_col.setAlpha(110)
        p.fillRect(self._bar(r, level_to_fraction(self.peak)), peak_col)
        p.fillRect(self._bar(r, level_to_fraction(self.rms)), self._colour)
        hold = (self._hold_db - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB)
        if hold > 0:
            p.setPen(QColor("#ff4040") if self._hold_db > 0 else QColor(c.text))
            self._line(p, r, min(1.0, hold), full=True)
        p.setPen(QColor(c.dim_text))  # 0 dB tick
        self._line(p, r, (0 - METER_FLOOR_DB) / (METER_TOP_DB - METER_FLOOR_DB), full=False)
        p.setPen(Qt.PenStyle.NoPen)
        p.end()

    def _bar(self, r: QRectF, fraction: float) -> QRectF:
        """The part of ``r`` lit by a level at ``fraction`` of the scale."""
        if self.orientation == Qt.Orientation.Vertical:
            top = r.height() * (1.0 - fraction)
            return QRectF(r.left(), r.top() + top, r.width(), r.height() - top)
        return QRectF(r.left(), r.top(), r.width() * fraction, r.height())

    def _line(self, p: QPainter, r: QRectF, fraction: float, full: bool) -> None:
        """A mark across the meter at ``fraction`` of the scale (``full``: all across)."""
        if self.orientation == Qt.Orientation.Vertical:
            y = int(r.top() + r.height() * (1.0 - fraction))
            x1 = int(r.right()) if full else int(r.left() + 3)
            p.drawLine(int(r.left()), y, x1, y)
        else:
            x = int(r.left() + r.width() * fraction)
            y1 = int(r.top()) if full else int(r.bottom() - 3)
            p.drawLine(x, y1, x, int(r.bottom()))
