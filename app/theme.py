"""Dark (default) and light themes, and the stem colours. GUI thread.

A theme is a Fusion palette plus a small style sheet; widgets that paint themselves (waveform,
meters) read their colours from :func:`colours` so they follow the theme switch.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("dark", "light")

#: One colour per well-known stem; other stems take the fallback colours in order.
STEM_COLOURS = {
    "vocals": "#f2b134",
    "drums": "#ef5b5b",
    "bass": "#4aa3ff",
    "other": "#6fd17c",
    "guitar": "#c38cf2",
    "piano": "#f28ad0",
}
FALLBACK_COLOURS = ("#c38cf2", "#f28ad0", "#5ed3d1", "#d9d36a")


def stem_colour(stem: str, index: int = 0) -> QColor:
    """The colour of a stem everywhere in the app (strip header, meter, export list)."""
    hex_ = STEM_COLOURS.get(stem.lower(), FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])
    return QColor(hex_)


@dataclass(frozen=True)
class Colours:
    """Colours of the self-painted widgets for one theme (hex strings)."""

    window: str
    panel: str
    base: str
    text: str
    dim_text: str
    accent: str
    wave: str
    wave_played: str
    wave_rms: str
    playhead: str
    loop: str
    meter_bg: str
    border: str


DARK = Colours(
    window="#1b1d21",
    panel="#24272d",
    base="#15171a",
    text="#e6e8eb",
    dim_text="#8b919a",
    accent="#3fb6c8",
    wave="#56606d",
    wave_played="#3fb6c8",
    wave_rms="#8fdde8",
    playhead="#ffffff",
    loop="#40f2b134",  # #AARRGGBB (Qt): translucent
    meter_bg="#0f1012",
    border="#343841",
)
LIGHT = Colours(
    window="#eef0f3",
    panel="#ffffff",
    base="#ffffff",
    text="#1d2024",
    dim_text="#5d646e",
    accent="#0f7f95",
    wave="#aab2bd",
    wave_played="#0f7f95",
    wave_rms="#07515f",
    playhead="#1d2024",
    loop="#55f2b134",  # #AARRGGBB (Qt): translucent
    meter_bg="#dde1e6",
    border="#c5cad1",
)

_current: Colours = DARK


def colours() -> Colours:
    """Colours of the theme in use."""
    return _current


def _palette(c: Colours) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    p.setColor(role.Window, QColor(c.window))
    p.setColor(role.WindowText, QColor(c.text))
    p.setColor(role.Base, QColor(c.base))
    p.setColor(role.AlternateBase, QColor(c.panel))
    p.setColor(role.ToolTipBase, QColor(c.panel))
    p.setColor(role.ToolTipText, QColor(c.text))
    p.setColor(role.PlaceholderText, QColor(c.dim_text))
    p.setColor(role.Text, QColor(c.text))
    p.setColor(role.Button, QColor(c.panel))
    p.setColor(role.ButtonText, QColor(c.text))
    p.setColor(role.BrightText, QColor("#ff5555"))
    p.setColor(role.Highlight, QColor(c.accent))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    p.setColor(role.Link, QColor(c.accent))
    p.setColor(role.Mid, QColor(c.border))
    p.setColor(role.Dark, QColor(c.meter_bg))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor(c.dim_text))
    return p


def _style_sheet(c: Colours) -> str:
    return f"""
    QFrame#panel {{ background: {c.panel}; border: 1px solid {c.border}; border-radius: 6px; }}
    QLabel#title {{ font-size: 16px; font-weight: 600; }}
    QLabel#dim {{ color: {c.dim_text}; }}
    QLabel#time {{ font-family: monospace; font-size: 13px; }}
    QPushButton {{ padding: 4px 10px; border: 1px solid {c.border}; border-radius: 4px;
                  background: {c.panel}; }}
    QPushButton:hover {{ border-color: {c.accent}; }}
    QPushButton:checked {{ background: {c.accent}; color: #ffffff; border-color: {c.accent}; }}
    QPushButton:disabled {{ color: {c.dim_text}; }}
    QPushButton#mute:checked {{ background: #d9534f; border-color: #d9534f; }}
    QPushButton#solo:checked {{ background: #e0b020; border-color: #e0b020; color: #111111; }}
    QPushButton#source {{ font-size: 15px; font-weight: 700; min-width: 44px; min-height: 30px; }}
    QStatusBar QLabel {{ padding: 0 8px; color: {c.dim_text}; }}
    QLabel#music {{ color: {c.accent}; font-weight: 600; }}
    QStatusBar QLabel#warning {{ color: #e0902a; font-weight: 600; }}
    """


def apply_theme(app: QApplication, name: str) -> None:
    """Switch the whole application to ``name`` ("dark" or "light"); unknown names → dark."""
    global _current
    _current = LIGHT if name == "light" else DARK
    app.setStyle("Fusion")
    app.setPalette(_palette(_current))
    app.setStyleSheet(_style_sheet(_current))
    for w in app.allWidgets():
        w.update()
