"""Model pickers for slots A and B, and the source selector (A / B / original / reference).

GUI thread. The pickers list ``engine.model.list_models()`` plus the user's own ``.onnx``
files; choosing one emits ``model_chosen`` and the controller asks the engine, which validates
it. On refusal the main window calls ``revert`` so the picker shows the model still in use.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

SOURCES = ("A", "B", "mix", "reference")
SOURCE_LABELS = {"A": "A", "B": "B", "mix": "Original", "reference": "Reference"}
NONE_LABEL = "(none)"


def model_label(info) -> str:
    """Text of a model in a picker: ``name vVERSION``."""
    version = getattr(info, "version", "") or ""
    return f"{info.name} v{version}" if version else str(info.name)


class ModelPicker(QWidget):
    """Combo box of models for one slot plus an "Add…" button for a user ``.onnx`` file."""

    model_chosen = Signal(str, object)  # slot, name-or-path (str) or None for slot B "(none)"

    def __init__(self, slot: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.combo = QComboBox()
        # One fixed width: the pickers never move or resize when the title, the tempo/key
        # line or the list of models change (long names are cut, the full name is listed).
        self.combo.setFixedWidth(200)
        self.combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.combo.setToolTip(f"Separation model heard on {slot}")
        self.add_button = QPushButton("Add…")
        self.add_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.add_button.setToolTip("Use an .onnx model file")
        label = QLabel(f"Model {slot}")
        label.setObjectName("dim")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(label)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.add_button)
        self._current: str | None = None  # what the engine accepted last
        self._filling = False
        self.combo.activated.connect(self._on_activated)
        self.add_button.clicked.connect(self.add_model)

    def set_models(self, entries: list[tuple[str, str]], current: str | None) -> None:
        """``entries``: (label, name-or-path) pairs; ``current`` is the accepted key."""
        self._filling = True
        try:
            self.combo.clear()
            if self.slot != "A":
                self.combo.addItem(NONE_LABEL, None)
            for text, key in entries:
                self.combo.addItem(text, key)
            self._current = current
            self._select(current)
        finally:
            self._filling = False

    def _select(self, key: str | None) -> None:
        i = self.combo.findData(key) if key is not None else self.combo.findData(None)
        if i < 0 and key is not None:
            self.combo.addItem(Path(key).stem, key)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(max(i, 0) if self.combo.count() else -1)

    def accept_current(self, key: str | None) -> None:
        """The engine took ``key``."""
        self._current = key
        self._filling = True
        self._select(key)
        self._filling = False

    def revert(self) -> None:
        """The engine refused the choice: show the model still in use."""
        self.accept_current(self._current)

    @property
    def current(self) -> str | None:
        return self._current

    def _on_activated(self, index: int) -> None:
        if self._filling:
            return
        key = self.combo.itemData(index)
        if key != self._current:
            self.model_chosen.emit(self.slot, key)

    def add_model(self) -> None:
        """The "Add…" button (and Models → Add model for A/B…): a user ``.onnx`` for this slot."""
        path, _ = QFileDialog.getOpenFileName(
            self, f"Add a model for {self.slot}", str(Path.home()), "ONNX models (*.onnx)"
        )
        if path:
            self.model_chosen.emit(self.slot, path)


class SourceSelector(QWidget):
    """Big exclusive buttons: which separation is heard (Tab flips A/B, O original)."""

    source_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        tips = {
            "A": "Hear model A (Tab flips A/B)",
            "B": "Hear model B (Tab flips A/B)",
            "mix": "Hear the original mix, not separated (O)",
            "reference": "Hear the true stems shipped with the song (R)",
        }
        for src in SOURCES:
            b = QPushButton(SOURCE_LABELS[src])
            b.setObjectName("source")
            b.setCheckable(True)
            b.setToolTip(tips[src])
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            self.group.addButton(b)
            self.buttons[src] = b
            lay.addWidget(b)
            b.clicked.connect(lambda _=False, s=src: self.source_chosen.emit(s))
        self.buttons["A"].setChecked(True)

    def show_source(self, source: str) -> None:
        b = self.buttons.get(source)
        if b is not None and not b.isChecked():
            b.setChecked(True)

    def set_available(self, has_b: bool, has_reference: bool, has_a: bool = True) -> None:
        self.buttons["A"].setEnabled(has_a)
        self.buttons["B"].setEnabled(has_b)
        self.buttons["reference"].setVisible(has_reference)

    @property
    def current(self) -> str:
        for src, b in self.buttons.items():
            if b.isChecked():
                return src
        return "A"
