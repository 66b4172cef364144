"""The audio callback's thread asks for a higher priority once, then passes every block on."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from engine import output


def test_the_wrapper_raises_priority_on_the_first_block_only(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(output, "raise_audio_thread_priority", lambda: calls.append("x") or "nice -10")
    seen: list[int] = []
    wrapped = output._PriorityOnFirstCall(lambda out, frames, t, s: seen.append(frames))
    block = np.zeros((512, 2), np.float32)
    for _ in range(3):
        wrapped(block, 512, None, None)
    assert calls == ["x"] and seen == [512, 512, 512] and wrapped.granted == "nice -10"


def test_priority_request_never_fails_and_says_what_it_got(monkeypatch) -> None:
    got: list[str] = []

    def run() -> None:  # a thread of its own: the test process keeps its priority
        got.append(output.raise_audio_thread_priority())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert got[0] in {"normal", "nice -10"}
    monkeypatch.setenv("STEMPLAY_NO_RT", "1")
    assert output.raise_audio_thread_priority() == "normal"


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no POSIX priority API")
def test_without_permission_it_falls_back_quietly(monkeypatch) -> None:
    def refuse(*_a, **_k):
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "setpriority", refuse)
    assert output.raise_audio_thread_priority() == "normal"
