"""Beats, bars, tempo and key of a song by signal processing (numpy only; no model weights).

Runs on the caller's thread (the app uses a daemon thread, never the GUI thread). The song is
read through :mod:`engine.decode` as a mono downmix, resampled to 22.05 kHz. The beats come
from the classic pipeline (Ellis 2007, as in librosa): a spectral-flux onset envelope, the
tempo from its autocorrelation weighted towards 120 BPM, and dynamic programming that places
beats on strong onsets one period apart. Each beat is then moved onto the attack it belongs to
(a 1 ms energy envelope at 44.1 kHz), so the grid is not quantised to the tracker's 11.6 ms
frames. Bars assume 4/4, the downbeat on the beat phase with the strongest low-band onsets.
The key is the Krumhansl–Kessler profile (major or minor, 12 rotations) that best correlates
with the song's mean chroma.

Why not librosa: the same steps there call numba-compiled helpers whose compilation took
20–25 s of CPU at every start of the app on the development machine (its cache did not hold),
on a 2-core machine where that time is taken from real-time separation.

Results are cached as JSON in ``cache_dir()/analysis/``, keyed by the file's resolved path,
size and modification time (and the analysis version), so a song is analysed once.

Shapes: ``beats`` and ``bars`` are sorted tuples of seconds of song time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.config import SAMPLE_RATE, cache_dir
from engine.errors import DecodeError

log = logging.getLogger(__name__)

#: Bump when the results would change: older cache entries are then ignored.
ANALYSIS_VERSION = 1
ANALYSIS_SR = 22050
HOP = 256  # onset-envelope hop at ANALYSIS_SR (11.6 ms)
BEATS_PER_BAR = 4
#: A beat moves to an attack at most this far away (seconds).
REFINE_S = 0.04
KEY_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
# Krumhansl–Kessler key profiles (probe-tone ratings), C major / C minor.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Analysis:
    """What the analysis found. ``bpm`` 0 and empty grids when there is no beat."""

    bpm: float
    beats: tuple[float, ...]
    bars: tuple[float, ...]
    key: str  # e.g. "A minor"; "" when unknown (silence)
    key_strength: float  # correlation of the best key profile, -1..1
    duration_s: float

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm if self.bpm > 0 else 0.0

    def label(self) -> str:
        """``"120 BPM · A minor"`` for the header."""
        parts = []
        if self.bpm > 0:
            parts.append(f"{self.bpm:.0f} BPM" if abs(self.bpm - round(self.bpm)) < 0.05
                         else f"{self.bpm:.1f} BPM")
        if self.key:
            parts.append(self.key)
        return " · ".join(parts)


class AnalysisCancelled(Exception):
    """The caller's cancel event was set."""


# ------------------------------------------------------------------------ cache
def cache_key(path: str | Path) -> str:
    p = Path(path).resolve()
    st = os.stat(p)
    text = f"{p}|{st.st_size}|{st.st_mtime_ns}|v{ANALYSIS_VERSION}"
    return hashlib.sha1(text.encode()).hexdigest()


def _cache_file(path: str | Path, folder: Path | None) -> Path:
    base = folder if folder is not None else cache_dir() / "analysis"
    return base / f"{cache_key(path)}.json"


def load_cached(path: str | Path, folder: Path | None = None) -> Analysis | None:
    try:
        data = json.loads(_cache_file(path, folder).read_text())
        return Analysis(float(data["bpm"]), tuple(data["beats"]), tuple(data["bars"]),
                        str(data["key"]), float(data["key_strength"]),
                        float(data["duration_s"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(path: str | Path, result: Analysis, folder: Path | None) -> None:
    target = _cache_file(path, folder)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(asdict(result)))
        os.replace(tmp, target)  # atomic: a reader sees the old file or the whole new one
    except OSError as err:
        log.warning("analysis cache %s not written: %s", target, err)


def analyse_file(path: str | Path, cache: Path | None = None,
                 cancel: threading.Event | None = None,
                 progress: Callable[[float], None] | None = None) -> Analysis:
    """The analysis of the song at ``path`` (from the cache when it is there).

    ``cache``: the cache folder (default ``cache_dir()/analysis``). DecodeError for a file
    that cannot be read; AnalysisCancelled when ``cancel`` is set meanwhile.
    """
    try:
        hit = load_cached(path, cache)
    except OSError as err:
        raise DecodeError(f"cannot read {path}: {err}") from None
    if hit is not None:
        return hit
    mono, full = _read_mono(path, cancel, progress)
    result = analyse_audio(mono, ANALYSIS_SR, full)
    _store(path, result, cache)
    return result


def _read_mono(path: str | Path, cancel: threading.Event | None,
               progress: Callable[[float], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """(mono at ANALYSIS_SR, mono at 44.1 kHz) of the whole song, float32."""
    import soxr

    from engine.decode import open_audio

    parts = []
    with open_audio(path) as reader:
        total = max(1, reader.info.samples)
        done = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise AnalysisCancelled()
            block = reader.read(1 << 17)
            if block.shape[1] == 0:
                break
            parts.append(block.mean(axis=0).astype(np.float32))
            done += block.shape[1]
            if progress is not None:
                progress(0.5 * done / total)
    full = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    low = soxr.resample(full, SAMPLE_RATE, ANALYSIS_SR).astype(np.float32) if full.size else full
    return low, full


# ------------------------------------------------------------------------ the analysis
def _frames_spectrum(mono: np.ndarray, n_fft: int, hop: int, chunk: int = 2048):
    """Yield ``(first_frame, |STFT| (frames, bins) float32)`` of centred Hann frames, in chunks
    of ``chunk`` frames (memory stays bounded for long songs)."""
    pad = np.pad(mono.astype(np.float32), n_fft // 2)
    n_frames = 1 + max(0, (pad.size - n_fft) // hop)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop][:n_frames]
    for f0 in range(0, n_frames, chunk):
        block = frames[f0:f0 + chunk] * window
        yield f0, np.abs(np.fft.rfft(block, axis=1)).astype(np.float32)


def onset_envelope(mono: np.ndarray, sr: int = ANALYSIS_SR) -> tuple[np.ndarray, np.ndarray]:
    """(onset strength (frames,), low-band onset strength (frames,)) at ``HOP``: the positive
    change of log magnitude summed over bins (all bins; below 200 Hz)."""
    n_fft = 1024
    low_bins = int(200 * n_fft / sr) + 1
    flux, low, prev = [], [], None
    for _f0, mag in _frames_spectrum(mono, n_fft, HOP):
        logmag = np.log1p(1000.0 * mag)
        first = logmag[:1] if prev is None else prev[None, :]
        d = np.maximum(0.0, np.diff(np.concatenate([first, logmag]), axis=0))
        flux.append(d.sum(axis=1))
        low.append(d[:, :low_bins].sum(axis=1))
        prev = logmag[-1]
    env = np.concatenate(flux) if flux else np.zeros(0, np.float32)
    lows = np.concatenate(low) if low else np.zeros(0, np.float32)
    # subtract a local mean (~0.5 s) so that sustained loudness does not count as onsets
    k = max(1, int(0.5 * sr / HOP))
    local = np.convolve(env, np.ones(k) / k, mode="same")
    return np.maximum(0.0, env - local).astype(np.float64), lows.astype(np.float64)


def estimate_period(env: np.ndarray, sr: int = ANALYSIS_SR) -> float:
    """Beat period in envelope frames: the autocorrelation peak between 40 and 220 BPM,
    weighted by a log-normal prior around 120 BPM (one octave wide)."""
    fps = sr / HOP
    x = env - env.mean()
    n = x.size
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    lo, hi = int(fps * 60 / 220), min(n - 2, int(fps * 60 / 40) + 1)
    if hi <= lo + 2:
        return fps * 0.5
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0) / 1.0) ** 2)
    score = ac[lo:hi + 1] * prior
    i = int(np.argmax(score))
    if 0 < i < score.size - 1:  # parabolic interpolation for a fractional lag
        a, b, c = score[i - 1], score[i], score[i + 1]
        den = a - 2 * b + c
        return float(lags[i] + (0.5 * (a - c) / den if den != 0 else 0.0))
    return float(lags[i])


def track_beats(env: np.ndarray, period: float, tightness: float = 100.0) -> np.ndarray:
    """Beat frames by dynamic programming: each beat on a strong onset, one ``period`` after
    the previous one give or take (the penalty grows with the squared log of the ratio)."""
    n = env.size
    if n == 0:
        return np.zeros(0, int)
    norm = env / (env.std() + 1e-9)
    score = norm.copy()
    back = np.full(n, -1)
    lo_off, hi_off = round(period / 2), round(2 * period)
    offs = np.arange(lo_off, hi_off + 1)
    penalty = -tightness * np.log(offs / period) ** 2
    for t in range(lo_off, n):
        cand = t - offs
        ok = cand >= 0
        if not ok.any():
            continue
        vals = score[cand[ok]] + penalty[ok]
        j = int(np.argmax(vals))
        if vals[j] > 0:
            score[t] = norm[t] + vals[j]
            back[t] = cand[ok][j]
    # the last beat: the best-scoring frame in the final period
    tail = max(0, n - round(period))
    t = tail + int(np.argmax(score[tail:]))
    path = [t]
    while back[t] >= 0:
        t = int(back[t])
        path.append(t)
    beats = np.array(path[::-1])
    # no beats in the silence before the music starts or after it ends
    strong = norm[beats] > 0.25 * np.median(norm[beats])
    if strong.any():
        idx = np.flatnonzero(strong)
        beats = beats[idx[0]: idx[-1] + 1]
    return beats


def analyse_audio(mono: np.ndarray, sr: int = ANALYSIS_SR,
                  full: np.ndarray | None = None) -> Analysis:
    """Beats, bars, tempo and key of ``mono`` ``(samples,)`` at ``sr``; ``full`` (optional) is
    the same audio at 44.1 kHz, used to put each beat on its attack."""
    duration = mono.size / sr
    if mono.size < sr or float(np.max(np.abs(mono), initial=0.0)) < 1e-4:
        return Analysis(0.0, (), (), "", 0.0, duration)
    env, low = onset_envelope(mono, sr)
    period = estimate_period(env, sr)
    frames = track_beats(env, period)
    beats = frames * HOP / sr
    if full is not None and full.size:
        beats = refine_beats(beats, full, SAMPLE_RATE)
    else:
        beats = refine_beats(beats, mono, sr)
    beats = np.unique(np.round(beats, 4))
    bpm = 60.0 / beat_period(beats) if beats.size > 2 else 0.0
    bars = _bars(beats, env, low, sr) if beats.size >= BEATS_PER_BAR else np.zeros(0)
    key, strength = estimate_key(mono, sr)
    return Analysis(round(bpm, 2), tuple(float(b) for b in beats),
                    tuple(float(b) for b in bars), key, round(strength, 3), duration)


def beat_period(beats: np.ndarray) -> float:
    """Seconds per beat: the slope of a straight line through the beats (robust to one beat's
    jitter), from the median spacing when the tempo drifts more than 5 %."""
    med = float(np.median(np.diff(beats)))
    slope = float(np.polyfit(np.arange(beats.size), beats, 1)[0])
    return slope if abs(slope - med) < 0.05 * med else med


def refine_beats(beats: np.ndarray, audio: np.ndarray, sr: int) -> np.ndarray:
    """Each beat moved onto the attack nearest it (within ``REFINE_S``): the first point where
    a 1 ms energy envelope rises past half of its local maximum. Beats without a clear attack
    (the envelope's peak under three times its floor there) stay where they are."""
    if beats.size == 0:
        return beats
    win = max(1, sr // 1000)
    out = beats.astype(np.float64).copy()
    r = int(REFINE_S * sr)
    kernel = np.ones(win) / win
    for i, b in enumerate(beats):
        c = round(b * sr)
        lo, hi = max(0, c - r - win), min(audio.size, c + r + win)
        if hi - lo < 8 * win:
            continue
        seg = np.sqrt(np.convolve(audio[lo:hi].astype(np.float64) ** 2, kernel, mode="same"))
        peak = int(np.argmax(seg))
        top = seg[peak]
        floor = float(np.percentile(seg, 10))
        if top < 3 * max(floor, 1e-9):
            continue
        half = floor + 0.5 * (top - floor)  # walk back to where the attack rises past half
        k = peak
        while k > 0 and seg[k - 1] > half:
            k -= 1
        out[i] = (lo + k) / sr
    return out


def _bars(beats: np.ndarray, env: np.ndarray, low: np.ndarray, sr: int) -> np.ndarray:
    """Downbeats (4/4): the beat phase whose low-band (and overall) onsets are strongest."""
    score = low / (low.max() + 1e-9) + 0.5 * env / (env.max() + 1e-9)
    idx = np.minimum(np.round(beats * sr / HOP).astype(int), score.size - 1)
    strength = np.array([score[max(0, j - 1): j + 2].max() for j in idx])
    phases = [strength[p::BEATS_PER_BAR].mean() for p in range(BEATS_PER_BAR)]
    return beats[int(np.argmax(phases))::BEATS_PER_BAR]


def estimate_key(mono: np.ndarray, sr: int = ANALYSIS_SR) -> tuple[str, float]:
    """(``"A minor"``, correlation) from the mean chroma; ("", 0) without tonal content."""
    n_fft = 4096
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    use = (freqs >= 55.0) & (freqs <= 4000.0)
    pc = (np.round(12 * np.log2(freqs[use] / 440.0)).astype(int) + 9) % 12  # C = 0
    profile = np.zeros(12)
    for _f0, mag in _frames_spectrum(mono, n_fft, 2048):
        m = mag[:, use] ** 2
        m /= m.sum(axis=1, keepdims=True) + 1e-12  # each frame counts alike
        profile += np.bincount(pc, weights=m.sum(axis=0), minlength=12)
    if not np.isfinite(profile).all() or profile.std() < 1e-9:
        return "", 0.0
    best, name = -2.0, ""
    for tonic in range(12):
        for mode, ref in (("major", _MAJOR), ("minor", _MINOR)):
            r = float(np.corrcoef(profile, np.roll(ref, tonic))[0, 1])
            if r > best:
                best, name = r, f"{KEY_NAMES[tonic]} {mode}"
    return name, best
