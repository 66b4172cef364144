"""Time formatting for labels (any thread; pure functions)."""

from __future__ import annotations

import math


def format_time(seconds: float, tenths: bool = False) -> str:
    """``83.4`` → ``"1:23"`` (or ``"1:23.4"``); hours when needed; ``"--:--"`` if unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    if tenths:
        whole = int(seconds * 10 + 1e-6)
        s, t = divmod(whole, 10)
    else:
        s, t = int(seconds + 1e-6), 0
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    body = f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
    return f"{body}.{t}" if tenths else body
