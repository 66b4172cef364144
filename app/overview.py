"""What the waveform overview shows of the open song: the mix's peak/RMS envelope (read by
``EnvelopeJob`` in its own thread, handed back by queued signals) and the heard model's
separated stems in their colours with how far A and B are ahead (``engine.stem_envelopes``,
read from the engine's rings every ``STEM_POLL_EVERY``-th status poll). GUI thread.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from app.controller import Controller
from app.envelope import EnvelopeJob
from app.theme import stem_colour
from app.waveform import WaveformView
from engine.stem_envelopes import StemEnvelopes

log = logging.getLogger(__name__)

#: The stems' envelopes are read from the engine every this many status polls (~4 Hz) and
#: drawn at most this often (seconds; drawing the overview costs tens of ms).
STEM_POLL_EVERY = 8
STEM_DRAW_S = 1.0


class Overview(QObject):
    """Feeds ``waveform``: ``song_opened(path)`` starts the mix's envelope, ``show_status(st)``
    (every status poll) the stems; ``close()`` stops the envelope's thread."""

    def __init__(self, waveform: WaveformView, controller: Controller,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.waveform = waveform
        self.controller = controller
        self.envelope = EnvelopeJob()
        self.stem_tap = StemEnvelopes()  # the separated stems' envelopes, per slot
        self.shown: Any = None  # the slot envelope the overview shows
        self._drawn = 0.0  # time.monotonic() of its last update
        self._pending = False  # new separated audio not drawn yet
        self._polls = 0
        self.envelope.progress.connect(self._on_envelope)
        self.envelope.done.connect(self._on_envelope)
        self.envelope.failed.connect(self._on_envelope_failed)

    def song_opened(self, path: str | Path) -> None:
        self.envelope.start(path)
        self.stem_tap = StemEnvelopes()

    def close(self) -> None:
        self.envelope.cancel(wait=True)

    def _on_envelope(self, token: int, peak: Any, rms: Any) -> None:
        if self.envelope.is_current(token):
            self.waveform.set_envelope(peak, rms)

    def _on_envelope_failed(self, token: int, message: str) -> None:
        if self.envelope.is_current(token):
            log.warning("waveform: %s", message)
            self.waveform.empty_text = message

    def show_status(self, st: Any) -> None:
        """The heard model's separated stems on the overview; how far A and B are ahead."""
        self._polls += 1
        heard = st.source if st.source in ("A", "B") else ""
        if self._polls % STEM_POLL_EVERY and heard == self.waveform.heard_slot:
            return  # (a change of what is heard shows at once)
        eng = self.controller.engine
        if eng is None:
            return
        changed = self.stem_tap.poll(eng, st.track)
        self.waveform.set_ahead(self.stem_tap.ahead(), heard)
        env = self.stem_tap.slots.get(heard)
        if env is None:
            self.shown = None
            if self.waveform.stem_names:
                self.waveform.clear_stems()
            return
        now = time.monotonic()
        self._pending |= changed
        if self.shown is not env or (self._pending and now - self._drawn >= STEM_DRAW_S):
            # (the overview is redrawn at most once a second while the separation advances)
            self.shown, self._drawn, self._pending = env, now, False
            self.waveform.set_stems(env.stems, [stem_colour(s, i) for i, s in
                                                enumerate(env.stems)], env.rms, env.covered)
