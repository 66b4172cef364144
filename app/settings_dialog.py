"""Settings dialog: output device, buffer size, inference threads, theme. GUI thread.

Values are read from and written to :class:`~app.settings.AppSettings`; the main window applies
them (theme at once, audio settings by rebuilding the engine).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.settings import BLOCK_SIZES, AppSettings
from engine.config import OUTPUT_LATENCIES, OUTPUT_LATENCY_S, SAMPLE_RATE

log = logging.getLogger(__name__)


def output_devices() -> list[tuple[str, str]]:
    """(label, id) of each output device the engine can open; empty when none/unknown."""
    from engine.errors import StemplayError
    from engine.output import list_devices

    try:
        devices = list_devices()
    except StemplayError as err:
        log.warning("listing devices: %s", err)
        return []
    out = []
    for d in devices:
        ident = str(getattr(d, "index", getattr(d, "id", d)))
        name = str(getattr(d, "name", d))
        api = getattr(d, "hostapi", "")
        out.append((f"{name} ({api})" if api else name, ident))
    return out


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: AppSettings,
        devices: list[tuple[str, str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.device = QComboBox()
        self.device.addItem("System default", None)
        for label, ident in output_devices() if devices is None else devices:
            self.device.addItem(label, ident)
        i = self.device.findData(settings.device)
        if i < 0 and settings.device:
            self.device.addItem(f"{settings.device} (not found)", settings.device)
            i = self.device.count() - 1
        self.device.setCurrentIndex(max(i, 0))

        self.blocksize = QComboBox()
        for b in BLOCK_SIZES:
            self.blocksize.addItem(f"{b} samples ({1000 * b / SAMPLE_RATE:.1f} ms)", b)
        self.blocksize.setCurrentIndex(max(0, self.blocksize.findData(settings.blocksize)))
        self.blocksize.setToolTip("Smaller: faders react sooner; larger: safer on a busy machine")

        self.latency = QComboBox()
        for s in OUTPUT_LATENCIES:
            label = f"{1000 * s:.0f} ms" + (" (recommended)" if s == OUTPUT_LATENCY_S else "")
            self.latency.addItem(label, s)
        self.latency.setCurrentIndex(max(0, self.latency.findData(settings.latency)))
        self.latency.setToolTip(
            "How much audio the sound card holds. Smaller: a fader or mute is heard sooner;\n"
            "larger: no dropouts while other programs keep the processor busy"
        )

        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1))
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(settings.threads)

        self.theme = QComboBox()
        self.theme.addItem("Dark", "dark")
        self.theme.addItem("Light", "light")
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))

        form = QFormLayout()
        form.addRow("Output device", self.device)
        form.addRow("Buffer size", self.blocksize)
        form.addRow("Output latency", self.latency)
        form.addRow("Inference threads", self.threads)
        form.addRow("Theme", self.theme)
        note = QLabel("Audio changes restart playback at the same position.")
        note.setObjectName("dim")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        return {
            "device": self.device.currentData(),
            "blocksize": int(self.blocksize.currentData()),
            "latency": float(self.latency.currentData()),
            "threads": int(self.threads.value()),
            "theme": str(self.theme.currentData()),
        }

    def save(self) -> tuple[bool, bool]:
        """Write the values; returns (audio settings changed, theme changed)."""
        v, s = self.values(), self.settings
        audio = (v["device"], v["blocksize"], v["latency"], v["threads"]) != (
            s.device,
            s.blocksize,
            s.latency,
            s.threads,
        )
        theme_changed = v["theme"] != s.theme
        s.device, s.blocksize, s.latency, s.threads, s.theme = (
            v["device"],
            v["blocksize"],
            v["latency"],
            v["threads"],
            v["theme"],
        )
        s.sync()
        return audio, theme_changed
