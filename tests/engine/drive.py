"""Helpers for engine tests that drive the mixer by hand instead of through a sound card."""

from __future__ import annotations

import time
from collections.abc import Callable


class ManualOutput:
    """An output the test drives by calling the mixer itself."""

    latency_s = 0.0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def wait_for(cond: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``cond`` every 5 ms; fail the test when it is still false after ``timeout`` s."""
    t_end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > t_end:
            raise AssertionError("condition not reached")
        time.sleep(0.005)
