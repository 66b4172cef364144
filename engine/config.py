"""Constants of the signal path and where the shipped files live. Imported by every thread."""

from __future__ import annotations

import os
from pathlib import Path

SAMPLE_RATE = 44100  # Hz: everything inside the engine runs at this rate
N_FFT = 4096  # STFT window length (periodic Hann)
HOP = 1024  # STFT hop
CHANNELS = 2  # the engine is stereo throughout: mono is doubled, more channels are downmixed

DEFAULT_STEMS = ("vocals", "drums", "bass", "other")

#: Output buffer asked of the sound card (seconds). The mixer runs in a Python callback: when
#: a separation thread holds the GIL or the cores are busy, the callback comes late, and a
#: buffer of one block (PortAudio's "low", 12 ms) then runs dry. Measured with
#: ``benchmarks/soak.py`` (A+B separating, a busy-loop process beside, 30 s): 12 ms granted ->
#: 203 underruns, 46 ms -> 22, 104 ms -> 0. A fader, mute or A/B change is heard this much later.
OUTPUT_LATENCY_S = 0.1
#: The choices the app offers (seconds).
OUTPUT_LATENCIES = (0.025, 0.05, 0.1, 0.2)

#: Repository / bundle root: the folder holding models/ and assets/.
ROOT = Path(os.environ.get("STEMPLAY_ROOT", Path(__file__).resolve().parent.parent))
MODELS_DIR = Path(os.environ.get("STEMPLAY_MODELS", ROOT / "models"))
ASSETS_DIR = ROOT / "assets"
DEMO_SONG = ASSETS_DIR / "demo" / "mixture.flac"

#: Preference order of the default model (the better one first): slot A gets the first, B the
#: next. Session 6: ``hybrid`` version 2 leads ``unet`` version 3 (the fast model, 4x fewer
#: FLOPs than version 2) on the held-out synthetic test and is level with it on the real
#: validation songs (README "Models"); both run well ahead of real time.
DEFAULT_MODEL_ORDER = ("hybrid", "unet")


def cache_dir() -> Path:
    """Per-user cache (FFTW wisdom and the like); created on demand."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "stemplay"
    path.mkdir(parents=True, exist_ok=True)
    return path
