"""The master level meter beside the master fader, and a missing output device as a dialog
(offscreen Qt; the real engine in this process)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from app.meters import level_to_fraction
from app.transport import MASTER_METER_COLOUR, TransportBar
from tests.app.conftest import null_engine, open_window


def lit_width(widget, colour: str) -> int:
    """Pixels of ``colour`` along the middle row of the widget as painted."""
    img = widget.grab().toImage()
    want = QColor(colour).rgb()
    y = img.height() // 2
    return sum(1 for x in range(img.width()) if img.pixel(x, y) == want)


def test_master_meter_sits_by_the_master_fader_and_shows_the_level(qtbot) -> None:
    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    meter = bar.master_meter
    fader = bar.master.geometry()
    # right under the master fader, as wide as it
    assert meter.geometry().top() >= fader.bottom()
    assert meter.geometry().left() == fader.left() and meter.width() == fader.width()
    assert lit_width(meter, MASTER_METER_COLOUR) == 0  # silent before anything plays
    bar.show_master_level(0.5, 0.25)  # peak -6 dB, RMS -12 dB
    width = meter.width() - 1  # the painted rectangle is inset by half a pixel each side
    assert lit_width(meter, MASTER_METER_COLOUR) == pytest.approx(
        width * level_to_fraction(0.25), abs=2
    )
    assert meter.hold_db == pytest.approx(-6.02, abs=0.01)
    bar.show_master_level(0.0, 0.0)  # silence again: the bar drops, the peak line holds
    assert lit_width(meter, MASTER_METER_COLOUR) == 0
    assert meter.hold_db == pytest.approx(-6.02, abs=0.01)


def missing_device_engine(settings):
    from engine.player import Engine, EngineConfig

    return Engine(EngineConfig(device="no-such-card", model=None, ahead_s=3.0))


@pytest.fixture
def make_window(qtbot, settings, bandsplit):
    made = []

    def make(factory):
        made.append(open_window(qtbot, settings, factory))
        return made[-1]

    yield make
    for w in made:
        w.close()


def test_master_meter_follows_what_plays_and_the_master_fader(qtbot, make_window, song) -> None:
    window = make_window(null_engine)
    window.open_path(song)
    window.controller.play()
    meter = window.transport.master_meter
    # three tones of 0.15 and a quiet rising "other": RMS ≈ 0.19, peak ≈ 0.5
    qtbot.waitUntil(lambda: meter.rms > 0.15, timeout=15000)
    st = window.controller.status
    assert (meter.peak, meter.rms) == st.levels["master"]  # shows what the engine measured
    assert 0.4 < meter.peak < 1.0 and meter.rms < 0.3
    assert lit_width(meter, MASTER_METER_COLOUR) > 0
    window.transport.master.setValue(0)  # master fader down: -inf
    qtbot.waitUntil(lambda: meter.peak < 1e-3, timeout=15000)
    assert meter.rms < 0.05
    assert lit_width(meter, MASTER_METER_COLOUR) == 0


def test_missing_output_device_is_a_dialog_and_the_app_keeps_working(
    qtbot, make_window, song
) -> None:
    window = make_window(missing_device_engine)
    assert window.open_path(song)  # opening, separating, status: all work without a device
    window.controller.play()  # returns at once; the device fails on its own thread
    def device_dialogs() -> list[str]:
        # "no output device named 'no-such-card'", or "no audio output device found" on a
        # machine without any sound card
        return [m for _t, m in window.presenter.history if "output device" in m]

    qtbot.waitUntil(lambda: bool(device_dialogs()), timeout=15000)
    message = device_dialogs()[0]
    assert message.startswith("no ") and "\n" not in message
    assert window.presenter.current is not None and window.presenter.current.isVisible()
    qtbot.waitUntil(lambda: not window.controller.playing, timeout=5000)
    assert window.transport.play_button.text() == "Play"
