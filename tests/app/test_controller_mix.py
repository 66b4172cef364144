"""The controller hands the engine a whole mix at once: a preset (or a restored mix) reaches the
audio callback in one ``MixSettings`` swap, so the listener hears the old mix or the new one,
never the stems changing one after the other."""

from __future__ import annotations

from typing import Any

from app.alerts import ErrorPresenter
from app.controller import Controller
from engine.mixer import Mixer
from tests.app.conftest import null_engine

STEMS = ("vocals", "drums", "bass", "other")


class RecordingMixer(Mixer):
    """A mixer that remembers every settings object handed to its callback."""

    @property
    def settings(self) -> Any:
        return self.__dict__["settings"]

    @settings.setter
    def settings(self, value: Any) -> None:
        self.__dict__["settings"] = value
        self.__dict__.setdefault("swaps", []).append(value)


def heard(settings: Any) -> tuple[float, ...]:
    """What the callback makes of ``settings``: each stem's linear gain, and the master's."""
    return (*(settings.gain(s) for s in STEMS), settings.master_gain)


def test_a_preset_reaches_the_callback_in_one_swap(qtbot, settings) -> None:
    ctl = Controller(lambda: null_engine(settings), ErrorPresenter())
    try:
        ctl.poll()  # no model: the default stems
        assert ctl.mix.stems == STEMS
        ctl.set_gain("drums", -6.0)
        ctl.set_solo("bass", True)
        ctl.set_master(-3.0)
        mixer = ctl.engine.mixer
        mixer.__class__ = RecordingMixer
        before = heard(mixer.settings)
        ctl.apply_preset("Karaoke")
        swaps = mixer.__dict__.get("swaps", [])
        after = heard(mixer.settings)
        assert after[:4] == (0.0, 1.0, 1.0, 1.0) and after != before
        assert [heard(s) for s in swaps] == [after]  # no step in between
        assert ctl.mix.muted == {"vocals"} and not ctl.mix.soloed
    finally:
        ctl.shutdown()
