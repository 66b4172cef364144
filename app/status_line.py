"""The main window's status bar: the models in A and B, where inference runs, how fast it
separates, how far it is ahead, a plain-language warning after a dropout, and what is heard.
GUI thread; fed with each ``EngineStatus`` the controller polls.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar

from app.elided import ElidedLabel
from app.model_picker import model_label


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


def provider_text(provider: str, mode: str, problem: str | None) -> tuple[str, str]:
    """(label, tooltip) of where inference runs. ``mode``: ``STEMPLAY_PROVIDER`` ("auto",
    "cpu", "cuda"); ``problem``: why CUDA was not used (``engine.model.cuda_problem``). A user
    who asked for CUDA and got the CPU reads so on the bar; otherwise the reason is in the
    tooltip."""
    label = provider_label(provider)
    if label != "CPU" or not problem:
        return label, ""
    tip = f"Models run on the CPU: CUDA is not usable here ({problem})"
    return ("CPU (CUDA unusable)" if mode == "cuda" else label), tip


class StatusLine:
    """The labels, added to ``bar``: ``models``, ``provider``, ``speed``, ``ahead``,
    ``warning`` (hidden until a dropout), ``state`` (on the right)."""

    def __init__(self, bar: QStatusBar) -> None:
        self.models = QLabel()
        self.provider = QLabel()
        self.speed = QLabel()
        self.ahead = QLabel()
        # a plain-language warning, shown only after a dropout; it takes the room left and
        # elides (full text in its tooltip) so that what is heard, on the right, stays readable
        self.warning = ElidedLabel("")
        self.warning.setObjectName("warning")
        self.warning.setVisible(False)
        self.state = QLabel()
        for w in (self.models, self.provider, self.speed, self.ahead):
            bar.addWidget(w)
        bar.addWidget(self.warning, 1)
        bar.addPermanentWidget(self.state)

    def show(self, st: Any, model_infos: dict[str, Any]) -> None:
        """One ``EngineStatus`` (None: no song open) and the models' infos per slot."""
        names = []
        for slot in ("A", "B"):
            info = model_infos.get(slot)
            names.append(f"{slot}: {model_label(info) if info is not None else '—'}")
        self.models.setText("   ".join(names))
        if st is None:
            for w in (self.provider, self.speed, self.ahead, self.warning):
                w.setText("")
            self.state.setText("Open a song to start")
            return
        from engine.model import cuda_problem, provider_mode

        label, tip = provider_text(st.provider, provider_mode(), cuda_problem())
        self.provider.setText(label)
        self.provider.setToolTip(tip)
        self.speed.setText(f"{st.speed_x:.1f}× real time" if st.speed_x else "speed —")
        self.ahead.setText(f"{st.ahead_s:.1f} s separated ahead")
        warning = dropout_warning(int(st.underruns), int(getattr(st, "late", 0)))
        self.warning.setText(warning)
        self.warning.setVisible(bool(warning))
        from engine.player import Engine

        self.state.setText(Engine.describe(st))
