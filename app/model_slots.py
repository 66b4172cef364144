"""Which models the A and B pickers offer and which ones they start with. GUI thread.

The entries are the valid models in ``models/`` (listed by the engine) plus the user's own
``.onnx`` files remembered in the settings. At start, A gets the model of the last session
(else the engine's default) and B the last session's choice, or — never chosen — the other
shipped model, so that A/B compares out of the box. :class:`ModelSlots` applies a choice
through the controller and keeps the pickers and the settings in step with it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.alerts import ErrorPresenter
from app.controller import Controller
from app.model_picker import ModelPicker, model_label
from app.settings import AppSettings

log = logging.getLogger(__name__)


def model_entries(settings: AppSettings) -> list[tuple[str, str]]:
    """(label, name-or-path) of every model a picker offers."""
    from engine.errors import StemplayError
    from engine.model import list_models

    try:
        infos = list_models()
    except StemplayError as err:
        log.warning("listing models: %s", err)
        infos = []
    entries = [(model_label(i), i.path.stem) for i in infos]  # the engine resolves stems
    names = {k for _, k in entries}
    for p in settings.user_models:
        if Path(p).is_file() and p not in names:
            entries.append((f"{Path(p).stem} (file)", p))
    return entries


def default_model(entries: list[str]) -> str | None:
    """A's default: the engine's pick among the shipped models, else the first entry."""
    from engine.model import list_models, pick_default

    info = pick_default(list_models())
    if info is not None and info.path.stem in entries:
        return info.path.stem
    return entries[0] if entries else None


def default_model_b(entries: list[str], a: str | None) -> str | None:
    """B's first default: the other shipped model (by preference order), else none."""
    from engine.config import DEFAULT_MODEL_ORDER

    a_stem = Path(a).stem if a else None
    others = [k for k in entries if k != a and Path(k).stem != a_stem
              and Path(k).suffix != ".onnx"]
    ranked = sorted(others, key=lambda k: (
        DEFAULT_MODEL_ORDER.index(k) if k in DEFAULT_MODEL_ORDER else len(DEFAULT_MODEL_ORDER)))
    return ranked[0] if ranked else None


class ModelSlots:
    """The two pickers, the controller's models and the settings' memory of them."""

    def __init__(self, controller: Controller, settings: AppSettings, presenter: ErrorPresenter,
                 picker_a: ModelPicker, picker_b: ModelPicker) -> None:
        self.controller = controller
        self.settings = settings
        self.presenter = presenter
        self.pickers = {"A": picker_a, "B": picker_b}
        # the worker may drop or go back from a model that failed while playing: show it
        controller.model_changed.connect(self._show_model_in_use)

    def _show_model_in_use(self, slot: str, _info: object) -> None:
        self.pickers[slot].accept_current(self.controller.models[slot])

    def fill(self) -> None:
        """The pickers list every model, the controller's current one selected."""
        entries = model_entries(self.settings)
        for slot, picker in self.pickers.items():
            picker.set_models(entries, self.controller.models[slot])

    def load_initial(self) -> None:
        """At start: the models of the last session, else the engine's default for A."""
        c, settings = self.controller, self.settings
        entries = [k for _, k in model_entries(settings)]
        wanted_a = settings.model("A")
        if wanted_a is None or wanted_a not in entries and not Path(wanted_a).is_file():
            wanted_a = default_model(entries)
        if wanted_a is not None and not c.set_model("A", wanted_a):
            self.presenter.dismiss()  # a stale setting is not worth a dialog: try the default
            fallback = default_model(entries)
            if fallback is not None and fallback != wanted_a:
                c.set_model("A", fallback)
        wanted_b = settings.model("B")
        if not settings.model_chosen("B"):
            wanted_b = default_model_b(entries, c.models["A"])  # ready to compare
        usable_b = wanted_b is not None and (wanted_b in entries or Path(wanted_b).is_file())
        if usable_b and not c.set_model("B", wanted_b):
            self.presenter.dismiss()
        self.fill()
        if c.models["A"] is None:
            c.select("mix")  # nothing to separate with: say so, play the mix

    def choose(self, slot: str, key: str | None) -> bool:
        """The user picked ``key`` (None: no model) for ``slot``; False (picker reverted) if
        the engine refused it (the presenter has said why)."""
        c, picker = self.controller, self.pickers[slot]
        first_model = slot == "A" and c.models["A"] is None
        if c.set_model(slot, key):
            if first_model and c.source == "mix":
                c.select("A")  # the user wants to hear what it separates
            if key is not None and Path(key).suffix == ".onnx" and Path(key).is_file():
                self.settings.add_user_model(key)
                self.fill()
            picker.accept_current(key)
            self.settings.set_model(slot, key)
            return True
        picker.revert()
        return False
