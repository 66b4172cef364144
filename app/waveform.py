"""Waveform overview of the mix with the playhead, the loop region and the beat grid; where a
region is separated, the stems' envelopes stacked in their strip colours (for the model heard),
and a bar per slot (A, B) showing how far separation is ahead of the playhead. GUI thread.

Click or drag with the left button to seek; drag with Shift (or the right button) to set a loop
region. Before a song is open it shows an invitation to open or drop a file.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import theme
from app.timefmt import format_time

MIN_LOOP_S = 0.2  # a shorter drag is a click, not a loop


class WaveformView(QWidget):
    """Draws ``peak``/``rms`` envelopes (shape ``(buckets,)``) scaled to the widget width."""

    seek_requested = Signal(float)  # seconds
    loop_selected = Signal(float, float)  # start, end seconds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration_s = 0.0
        self.position_s = 0.0
        self.loop: tuple[float, float] | None = None
        self.loop_enabled = False
        self.empty_text = "Drop a song here, or press Ctrl+O to open one"
        self._peak = np.zeros(0, np.float32)
        self._rms = np.zeros(0, np.float32)
        self.beats = np.zeros(0)  # beat times (seconds) from engine.analysis, drawn as a grid
        self.bars = np.zeros(0)  # bar (downbeat) times
        # separated stems of the model heard: names, colours, RMS (stems, buckets), covered
        # (buckets,) — see engine.stem_envelopes; empty until a region is separated
        self.stem_names: tuple[str, ...] = ()
        self.stem_colours: list[QColor] = []
        self._stem_rms = np.zeros((0, 0), np.float32)
        self._covered = np.zeros(0, bool)
        self.ahead: dict[str, float] = {}  # slot -> seconds separated ahead of the playhead
        self.heard_slot = "A"
        self._drag: str | None = None  # "seek" | "loop"
        self._version = 0  # bumped when the drawn data change (the image cache's key)
        self._cache: tuple | None = None  # (key, played image, unplayed image)
        self._loop_anchor = 0.0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(110)
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click or drag: seek · Shift+drag: set loop (L toggles it)")

    def sizeHint(self) -> QSize:
        return QSize(800, 150)

    # -- data -----------------------------------------------------------------------------------
    def clear(self, duration_s: float = 0.0) -> None:
        self.duration_s = duration_s
        self.position_s = 0.0
        self.loop = None
        self.loop_enabled = False
        self._peak = np.zeros(0, np.float32)
        self._rms = np.zeros(0, np.float32)
        self.beats = np.zeros(0)
        self.bars = np.zeros(0)
        self.clear_stems()
        self.ahead = {}
        self.update()

    def clear_stems(self) -> None:
        self.stem_names, self.stem_colours = (), []
        self._stem_rms = np.zeros((0, 0), np.float32)
        self._covered = np.zeros(0, bool)
        self._version += 1
        self.update()

    def set_stems(self, names: tuple[str, ...], colours: list[QColor], rms: np.ndarray,
                  covered: np.ndarray) -> None:
        """The heard model's separated stems: ``rms`` ``(stems, buckets)``, ``covered``
        ``(buckets,)`` (slices already separated)."""
        self.stem_names, self.stem_colours = tuple(names), list(colours)
        self._stem_rms = np.asarray(rms, np.float32)
        self._covered = np.asarray(covered, bool)
        self._version += 1
        self.update()

    @property
    def separated_fraction(self) -> float:
        """Share of the song whose stems are drawn (0..1)."""
        return float(self._covered.mean()) if self._covered.size else 0.0

    def set_ahead(self, ahead: dict[str, float], heard: str) -> None:
        if ahead != self.ahead or heard != self.heard_slot:
            self.ahead, self.heard_slot = dict(ahead), heard
            self.update()

    def set_grid(self, beats, bars) -> None:
        """The beat grid: beat and bar times (seconds)."""
        self.beats = np.asarray(beats, np.float64)
        self.bars = np.asarray(bars, np.float64)
        self.update()

    def set_envelope(self, peak: np.ndarray, rms: np.ndarray) -> None:
        self._peak = np.asarray(peak, np.float32)
        self._rms = np.asarray(rms, np.float32)
        self._version += 1
        self.update()

    @property
    def has_envelope(self) -> bool:
        return bool(self._peak.size) and bool(self._peak.max() > 0)

    def set_position(self, seconds: float) -> None:
        if abs(seconds - self.position_s) * max(1, self.width()) > 0.5 * max(self.duration_s, 1e-9):
            self.position_s = seconds
            self.update()
        else:
            self.position_s = seconds

    def set_loop(self, loop: tuple[float, float] | None, enabled: bool) -> None:
        self.loop, self.loop_enabled = loop, enabled
        self.update()

    # -- geometry -------------------------------------------------------------------------------
    def x_to_seconds(self, x: float) -> float:
        if self.duration_s <= 0 or self.width() <= 1:
            return 0.0
        return min(max(x / (self.width() - 1), 0.0), 1.0) * self.duration_s

    def seconds_to_x(self, s: float) -> float:
        if self.duration_s <= 0:
            return 0.0
        return s / self.duration_s * (self.width() - 1)

    # -- mouse ----------------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:
        if self.duration_s <= 0:
            return
        t = self.x_to_seconds(e.position().x())
        shift = bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if e.button() == Qt.MouseButton.RightButton or shift:
            self._drag, self._loop_anchor = "loop", t
        elif e.button() == Qt.MouseButton.LeftButton:
            self._drag = "seek"
            self.position_s = t
            self.seek_requested.emit(t)
            self.update()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        t = self.x_to_seconds(e.position().x())
        if self._drag == "seek":
            self.position_s = t
            self.seek_requested.emit(t)
            self.update()
        elif self._drag == "loop":
            a, b = sorted((self._loop_anchor, t))
            self.loop = (a, b)
            self.loop_enabled = True
            self.update()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._drag == "loop":
            a, b = sorted((self._loop_anchor, self.x_to_seconds(e.position().x())))
            if b - a >= MIN_LOOP_S:
                self.loop, self.loop_enabled = (a, b), True
                self.loop_selected.emit(a, b)
            self.update()
        self._drag = None

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        c = theme.colours()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        rect = QRectF(self.rect())
        p.fillRect(rect, QColor(c.base))
        p.setPen(QColor(c.border))
        p.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))
        if self.duration_s <= 0:
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.25)
            p.setFont(f)
            p.setPen(QColor(c.dim_text))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.empty_text)
            p.end()
            return
        w, h = rect.width(), rect.height()
        if self._peak.size:
            played, unplayed = self._images(int(w), int(h))
            play_x = self.seconds_to_x(self.position_s)
            p.drawImage(QRectF(0, 0, play_x, h), played, QRectF(0, 0, play_x, h))
            p.drawImage(QRectF(play_x, 0, w - play_x, h), unplayed,
                        QRectF(play_x, 0, w - play_x, h))
        else:
            p.setPen(QColor(c.dim_text))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "reading the waveform…")
        self._paint_grid(p, w, h)
        self._paint_ahead(p, w, h)
        if self.loop is not None:
            self._paint_loop(p, h)
        x = self.seconds_to_x(self.position_s)
        p.setPen(QColor(c.playhead))
        p.drawLine(QPointF(x, 0), QPointF(x, h))
        p.setPen(QColor(c.dim_text))
        p.drawText(QRectF(4, 2, 80, 16), Qt.AlignmentFlag.AlignLeft, "0:00")
        p.drawText(
            QRectF(w - 84, 2, 80, 16), Qt.AlignmentFlag.AlignRight, format_time(self.duration_s)
        )
        p.end()

    def _images(self, w: int, h: int) -> tuple[QImage, QImage]:
        """The overview drawn (played colours, unplayed colours), cached until the data, the
        size or the theme change: a position change only blits (a paint stays ~1 ms)."""
        c = theme.colours()
        key = (w, h, c, self._version)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._render(w, h, c, True), self._render(w, h, c, False))
        return self._cache[1], self._cache[2]

    def _render(self, w: int, h: int, c: theme.Colours, played: bool) -> QImage:
        """The mix's peak and RMS mirrored about the centre line, and where separated the
        stems' RMS stacked outwards (first stem innermost) in their colours, drawn with numpy
        into an RGB image (soft one-pixel edges)."""
        cols = max(2, w)
        mid = h / 2
        peak = _resample_max(self._peak, cols)
        top = max(1e-3, float(peak.max()))
        scale = (mid - 6) / top
        dist = np.abs(np.arange(h, dtype=np.float32)[:, None] + 0.5 - mid)  # (h, 1)
        img = np.empty((h, cols, 3), np.float32)
        img[:] = _rgb(c.base)

        def layer(outer: np.ndarray, colour: QColor | str, alpha: float,
                  inner: np.ndarray | None = None) -> None:
            cover = np.clip(outer[None, :] - dist + 0.5, 0.0, 1.0)  # (h, cols)
            if inner is not None:
                cover *= np.clip(dist - inner[None, :] + 0.5, 0.0, 1.0)
            a = (alpha * cover)[:, :, None]
            img[:] = img * (1 - a) + _rgb(colour) * a

        layer(peak * scale, c.wave_played if played else c.wave, 1.0)
        layer(_resample_max(self._rms, cols) * scale, c.wave_rms if played else c.dim_text, 1.0)
        if self._covered.any() and self._stem_rms.size:
            cov = _resample_max(self._covered.astype(np.float32), cols) > 0.5
            rms = np.stack([_resample_max(r, cols) for r in self._stem_rms]) * scale
            rms[:, ~cov] = 0.0
            edges = np.cumsum(rms, axis=0)  # (stems, cols): outer edge of each band
            for k in range(rms.shape[0]):
                col = self.stem_colours[k] if k < len(self.stem_colours) else QColor("#888888")
                layer(edges[k], col, 0.92 if played else 0.6, edges[k - 1] if k else None)
        buf = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
        out = QImage(buf.data, cols, h, 3 * cols, QImage.Format.Format_RGB888)
        return out.copy()  # own the pixels (buf goes away)

    def _paint_ahead(self, p: QPainter, w: float, h: float) -> None:
        """One thin bar per slot from the playhead to where its separation has reached, and
        a legend ("separated ahead: A 6 s · B 2 s") at the bottom right."""
        if self.duration_s <= 0 or not self.ahead:
            return
        c = theme.colours()
        x0 = self.seconds_to_x(self.position_s)
        for row, slot in enumerate(sorted(self.ahead)):
            x1 = self.seconds_to_x(min(self.duration_s, self.position_s + self.ahead[slot]))
            col = QColor(c.accent if slot == self.heard_slot else c.dim_text)
            p.fillRect(QRectF(x0, h - 4 - 4 * row, max(1.0, x1 - x0), 2), col)
        text = "separated ahead: " + " · ".join(self.ahead_labels())
        fm = p.fontMetrics()
        r = QRectF(w - fm.horizontalAdvance(text) - 12, h - fm.height() - 12,
                   fm.horizontalAdvance(text) + 8, fm.height())
        bg = QColor(c.base)
        bg.setAlpha(170)
        p.fillRect(r, bg)
        p.setPen(QColor(c.dim_text))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)

    def ahead_labels(self) -> list[str]:
        return [f"{slot} {self.ahead[slot]:.1f} s" for slot in sorted(self.ahead)]

    def _paint_grid(self, p: QPainter, w: float, h: float) -> None:
        """Bars as thin full-height lines, beats as ticks at the top and bottom edges (only
        when they are at least a few pixels apart)."""
        if self.duration_s <= 0 or not self.beats.size:
            return
        c = theme.colours()
        px_per_s = (w - 1) / self.duration_s
        spacing = float(np.median(np.diff(self.beats))) if self.beats.size > 1 else 1.0
        bar_col = QColor(c.text)
        bar_col.setAlpha(70)
        beat_col = QColor(c.text)
        beat_col.setAlpha(110)
        if spacing * 4 * px_per_s >= 4 and self.bars.size:
            p.setPen(bar_col)
            for t in self.bars:
                x = t * px_per_s
                p.drawLine(QPointF(x, 0), QPointF(x, h))
        if spacing * px_per_s >= 4:
            p.setPen(beat_col)
            for t in self.beats:
                x = t * px_per_s
                p.drawLine(QPointF(x, 0), QPointF(x, 5))
                p.drawLine(QPointF(x, h - 5), QPointF(x, h))

    def loop_labels(self) -> tuple[str, str] | None:
        """The texts shown at the loop's edges (start, end), or None without a loop."""
        if self.loop is None:
            return None
        return format_time(self.loop[0], tenths=True), format_time(self.loop[1], tenths=True)

    def _paint_loop(self, p: QPainter, h: float) -> None:
        """The loop region over the waveform: translucent, edged, its start and end times
        written at its edges (dimmer while the loop is off)."""
        c = theme.colours()
        x0, x1 = self.seconds_to_x(self.loop[0]), self.seconds_to_x(self.loop[1])
        col = QColor(c.loop)
        edge = QColor(c.loop)
        edge.setAlpha(230 if self.loop_enabled else 110)
        if not self.loop_enabled:
            col.setAlpha(col.alpha() // 3)
        p.fillRect(QRectF(x0, 0, max(1.0, x1 - x0), h), col)
        p.setPen(edge)
        p.drawLine(QPointF(x0, 0), QPointF(x0, h))
        p.drawLine(QPointF(x1, 0), QPointF(x1, h))
        labels = self.loop_labels()
        assert labels is not None
        fm = p.fontMetrics()
        tw = max(fm.horizontalAdvance(t) for t in labels) + 8
        y = h - fm.height() - 3
        text = QColor(c.text)
        if not self.loop_enabled:
            text.setAlpha(140)
        # start label right of the start edge, end label left of the end edge (inside when
        # there is room, else outside)
        for x, label, inside_right in ((x0, labels[0], True), (x1, labels[1], False)):
            if inside_right:
                r = QRectF(x + 3, y, tw, fm.height()) if x1 - x0 > 2 * tw or x - tw < 0 \
                    else QRectF(x - tw - 3, y, tw, fm.height())
            else:
                r = QRectF(x - tw - 3, y, tw, fm.height()) if x1 - x0 > 2 * tw or \
                    x + tw > self.width() else QRectF(x + 3, y, tw, fm.height())
            bg = QColor(c.base)
            bg.setAlpha(170)
            p.fillRect(r, bg)
            p.setPen(text)
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, label)


def _resample_max(data: np.ndarray, cols: int) -> np.ndarray:
    """``(buckets,)`` → ``(cols,)`` taking the max of the buckets under each column."""
    n = data.size
    if n == 0:
        return np.zeros(cols, np.float32)
    edges = (np.arange(cols) * n) // cols
    out = np.maximum.reduceat(data, np.minimum(edges, n - 1))
    return out.astype(np.float32)


def _rgb(colour: str | QColor) -> np.ndarray:
    q = QColor(colour)
    return np.array([q.red(), q.green(), q.blue()], np.float32)
