"""Vocal tracks: sung lead lines, unison doubles, harmonies, "ooh" backings and rapped lines.

Owns the three singing back-ends and the tuning of syllables to melody notes:

- ``sinsy``: pysinsy (HTS singing synthesis, bundled Japanese voice ``nitech_jp_song070_f001``)
  sings a MusicXML score written from the melody, one kana syllable per note;
- ``espeak`` sung: each note's English syllable is spoken by espeak-ng in a monotone
  (SSML ``range="0"``), its pitch measured and tuned to the note with Rubber Band
  (pedalboard ``time_stretch``), stretched to the note length;
- ``espeak`` rap: a whole line spoken with its natural intonation, stretched onto the phrase.

Formant variation: resample (moves pitch and formants) then pitch-correct with formants kept.
Every function returns mono float32 ``(samples,)`` at 44.1 kHz. Runs in a generator worker.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from pedalboard import time_stretch

from engine.config import SAMPLE_RATE
from training.synth.score import Note
from training.synth.sources import Voice

log = logging.getLogger(__name__)

KANA = (
    "ら",
    "な",
    "か",
    "さ",
    "た",
    "は",
    "ま",
    "や",
    "わ",
    "あ",
    "い",
    "う",
    "え",
    "お",
    "き",
    "し",
    "に",
    "み",
    "り",
    "こ",
    "そ",
    "と",
    "の",
    "も",
    "よ",
    "ろ",
    "ね",
    "て",
    "せ",
    "け",
    "す",
    "つ",
    "む",
    "る",
    "ゆ",
    "が",
    "だ",
    "ほ",
    "ひ",
    "ふ",
)
WORDS = (
    "love",
    "night",
    "fire",
    "heart",
    "run",
    "way",
    "feel",
    "light",
    "dream",
    "go",
    "down",
    "high",
    "oh",
    "yeah",
    "time",
    "home",
    "sky",
    "blue",
    "rain",
    "stay",
    "free",
    "burn",
    "slow",
    "mine",
    "you",
    "say",
    "day",
    "all",
    "now",
    "my",
    "soul",
    "gold",
    "fly",
    "true",
    "deep",
    "shine",
    "road",
    "wait",
    "cry",
    "sun",
    "hold",
    "me",
    "in",
    "the",
    "we",
    "are",
)
RAP_WORDS = (
    "I",
    "got",
    "the",
    "city",
    "on",
    "my",
    "mind",
    "every",
    "day",
    "we",
    "grind",
    "money",
    "talk",
    "and",
    "nobody",
    "walk",
    "like",
    "me",
    "back",
    "in",
    "time",
    "keep",
    "it",
    "real",
    "flow",
    "so",
    "cold",
    "never",
    "fold",
    "made",
    "it",
    "out",
    "from",
    "the",
    "bottom",
    "yeah",
    "right",
    "now",
    "move",
    "up",
    "top",
)
FEMALE_HINTS = (
    "+f",
    "Alicia",
    "belinda",
    "steph",
    "Annie",
    "linda",
    "anika",
    "aunty",
    "grandma",
    "Andrea",
)


def is_female(voice: Voice) -> bool:
    return voice.engine == "sinsy" or any(h in voice.name for h in FEMALE_HINTS)


def midi_hz(p: float) -> float:
    return 440.0 * 2.0 ** ((p - 69.0) / 12.0)


def estimate_f0(x: np.ndarray, rate: int) -> float:
    """Median f0 in Hz over the voiced 40 ms frames (autocorrelation), 0 when unvoiced."""
    win = int(0.04 * rate)
    lo, hi = int(rate / 500), int(rate / 60)
    f0s = []
    level = float(np.sqrt(np.mean(x**2))) + 1e-9
    for i in range(0, len(x) - win, win // 2):
        frame = x[i : i + win] * np.hanning(win)
        if np.sqrt(np.mean(frame**2)) < 0.5 * level:
            continue
        ac = np.fft.irfft(np.abs(np.fft.rfft(frame, 2 * win)) ** 2)[:win]
        if ac[0] <= 0:
            continue
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] / ac[0] > 0.45:
            f0s.append(rate / lag)
    return float(np.median(f0s)) if f0s else 0.0


def _stretch(x: np.ndarray, factor: float, semitones: float, fine: bool = True) -> np.ndarray:
    """Rubber Band time stretch (``factor`` > 1 shortens) and pitch shift, formants kept;
    ``fine=False`` uses the faster short-window mode (per-syllable clips)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = time_stretch(
            x[None, :].astype(np.float32),
            SAMPLE_RATE,
            stretch_factor=factor,
            pitch_shift_in_semitones=semitones,
            high_quality=fine,
            use_long_fft_window=None if fine else False,
            preserve_formants=True,
        )
    return y[0]


def formant_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Move the spectral envelope by ``semitones`` while keeping pitch and duration."""
    if abs(semitones) < 0.05:
        return x
    ratio = 2.0 ** (semitones / 12.0)
    # resampling to rate/ratio and playing at rate raises pitch and formants by ``ratio``
    y = soxr.resample(x, SAMPLE_RATE, SAMPLE_RATE / ratio).astype(np.float32)
    out = _stretch(y, len(y) / len(x), -semitones)
    return _fit(out, len(x))


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    out[: min(n, len(x))] = x[:n]
    return out


def _place(track: np.ndarray, clip: np.ndarray, start: float, fade_s: float = 0.008) -> None:
    i = round(start * SAMPLE_RATE)
    if i >= len(track) or len(clip) == 0:
        return
    clip = clip[: len(track) - i].copy()
    f = min(int(fade_s * SAMPLE_RATE), len(clip) // 2)
    if f > 0:
        clip[:f] *= np.linspace(0, 1, f, dtype=np.float32)
        clip[-f:] *= np.linspace(1, 0, f, dtype=np.float32)
    track[i : i + len(clip)] += clip


# --- sinsy -----------------------------------------------------------------------------------
_STEPS = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
_ALTER = (0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0)


def _score_xml(
    notes: list[Note], syllables: list[str], step_s: float, steps_per_bar: int, n_bars: int
) -> str:
    """MusicXML of ``notes`` on a 16th grid (divisions = 4 per quarter); notes crossing a bar
    line are shortened to it, gaps become rests."""
    tempo = 60.0 / (4 * step_s)
    grid = {}
    for note, syl in zip(notes, syllables, strict=True):
        s = round(note.start / step_s)
        d = max(1, round(note.dur / step_s))
        grid[s] = (d, note.pitch, syl)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<score-partwise>",
        '<part-list><score-part id="P1"><part-name>V</part-name></score-part></part-list>',
        '<part id="P1">',
    ]
    for bar in range(n_bars):
        attrs = ""
        if bar == 0:
            attrs = (
                f"<attributes><divisions>4</divisions><time><beats>{steps_per_bar // 4}"
                f"</beats><beat-type>4</beat-type></time></attributes>"
                f'<sound tempo="{tempo:.3f}"/>'
            )
        out.append(f'<measure number="{bar + 1}">{attrs}')
        s, end = bar * steps_per_bar, (bar + 1) * steps_per_bar
        while s < end:
            if s in grid:
                d, p, syl = grid[s]
                nxt = min([k for k in grid if k > s] + [end])
                d = max(1, min(d, nxt - s, end - s))
                alter = f"<alter>{_ALTER[p % 12]}</alter>" if _ALTER[p % 12] else ""
                out.append(
                    f"<note><pitch><step>{_STEPS[p % 12]}</step>{alter}<octave>"
                    f"{p // 12 - 1}</octave></pitch><duration>{d}</duration>"
                    f"<lyric><text>{syl}</text></lyric></note>"
                )
            else:
                nxt = min([k for k in grid if k > s] + [end])
                d = nxt - s
                out.append(f"<note><rest/><duration>{d}</duration></note>")
            s += d
        out.append("</measure>")
    out.append("</part></score-partwise>")
    return "\n".join(out)


@functools.lru_cache(maxsize=1)
def _sinsy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pysinsy  # imports pkg_resources: setuptools<81 pinned in the train extra
    engine = pysinsy.sinsy.Sinsy()
    if not engine.setLanguages("j", pysinsy.get_default_dic_dir()):
        raise RuntimeError("pysinsy: cannot load its Japanese dictionary")
    if not engine.loadVoices(pysinsy.get_default_htsvoice()):
        raise RuntimeError("pysinsy: cannot load its bundled voice")
    return engine


def sing_sinsy(
    notes: list[Note],
    rng: np.random.Generator,
    step_s: float,
    steps_per_bar: int,
    n: int,
    syllables: list[str] | None = None,
) -> np.ndarray:
    if not notes:
        return np.zeros(n, np.float32)
    syllables = syllables or [KANA[int(rng.integers(len(KANA)))] for _ in notes]
    bars = int(np.ceil(n / SAMPLE_RATE / (steps_per_bar * step_s))) + 1
    xml = _score_xml(notes, syllables, step_s, steps_per_bar, bars)
    engine = _sinsy()
    with tempfile.TemporaryDirectory(prefix="stemplay-sinsy-") as tmp:
        path = Path(tmp, "score.xml")
        path.write_text(xml, encoding="utf-8")
        if not engine.loadScoreFromMusicXML(str(path)):
            raise RuntimeError("pysinsy rejected the score")
        wav, rate = engine.synthesize()
        engine.clearScore()
    x = np.asarray(wav, np.float64) / 32768.0
    x = soxr.resample(x, rate, SAMPLE_RATE).astype(np.float32)
    return _fit(x, n)


# --- espeak-ng -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _espeak(voice: str, text: str, monotone: bool, speed: int = 150) -> np.ndarray:
    ssml = (
        f'<speak><prosody range="0" pitch="50">{text}</prosody></speak>'
        if monotone
        else f"<speak>{text}</speak>"
    )
    with tempfile.TemporaryDirectory(prefix="stemplay-espeak-") as tmp:
        wav = Path(tmp, "s.wav")
        proc = subprocess.run(
            ["espeak-ng", "-m", "-v", voice, "-s", str(speed), "-w", str(wav), ssml],
            check=False,
            capture_output=True,
            timeout=60,
        )
        if proc.returncode != 0 or not wav.exists():
            raise RuntimeError(f"espeak-ng failed for voice {voice}: {proc.stderr[-200:]!r}")
        x, rate = sf.read(str(wav), dtype="float32")
    x = soxr.resample(x, rate, SAMPLE_RATE).astype(np.float32)
    idx = np.nonzero(np.abs(x) > 0.01 * (np.abs(x).max() + 1e-9))[0]  # trim silence
    return x[idx[0] : idx[-1] + 1] if len(idx) else x


def sing_espeak(
    notes: list[Note],
    voice: Voice,
    rng: np.random.Generator,
    n: int,
    words: list[str] | None = None,
) -> np.ndarray:
    """Tune one monotone espeak syllable per note. All syllables go through ONE Rubber Band
    call with per-sample stretch and pitch arrays (per-call set-up dominates otherwise); each
    syllable sits between silent guards so that its parameters settle before it starts."""
    track = np.zeros(n, np.float32)
    words = words or [WORDS[int(rng.integers(len(WORDS)))] for _ in notes]
    guard = 4096
    pieces, factors, shifts, spans = [], [], [], []
    out_pos = 0.0
    for note, word in zip(notes, words, strict=True):
        clip = _espeak(voice.name, word, True)
        f0 = _f0_cached(voice.name, word)
        if f0 <= 0 or len(clip) < 256:
            continue
        semis = float(12.0 * np.log2(midi_hz(note.pitch) / f0))
        length = max(0.08, note.dur) * SAMPLE_RATE
        factor = len(clip) / length
        seg = np.concatenate([np.zeros(guard, np.float32), clip, np.zeros(guard, np.float32)])
        pieces.append(seg)
        factors.append(np.concatenate([np.ones(guard), np.full(len(clip), factor), np.ones(guard)]))
        shifts.append(np.full(len(seg), semis))
        spans.append((out_pos + guard, length, note))
        out_pos += 2 * guard + length
    if not pieces:
        return track
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = time_stretch(
            np.concatenate(pieces)[None, :],
            SAMPLE_RATE,
            stretch_factor=np.concatenate(factors),
            pitch_shift_in_semitones=np.concatenate(shifts),
            high_quality=False,
            use_long_fft_window=False,
            preserve_formants=True,
        )[0]
    drift = len(y) / out_pos if out_pos else 1.0  # spread any length error evenly
    for start, length, note in spans:
        a = round(start * drift) - 512
        seg = y[max(0, a) : a + int(length) + 1024]
        _place(track, seg * (note.vel / 110.0), max(0.0, note.start - 512 / SAMPLE_RATE), 0.012)
    return track


@functools.lru_cache(maxsize=4096)
def _f0_cached(voice: str, word: str) -> float:
    return estimate_f0(_espeak(voice, word, True), SAMPLE_RATE)


def rap_espeak(
    phrases: list[list[Note]], voice: Voice, rng: np.random.Generator, n: int
) -> np.ndarray:
    track = np.zeros(n, np.float32)
    for phrase in phrases:
        if not phrase:
            continue
        k = max(3, len(phrase))
        start = int(rng.integers(len(RAP_WORDS)))
        line = " ".join(RAP_WORDS[(start + i) % len(RAP_WORDS)] for i in range(k))
        clip = _espeak(voice.name, line, False, int(rng.integers(150, 210)))
        span = phrase[-1].start + phrase[-1].dur - phrase[0].start
        factor = float(np.clip(len(clip) / (span * SAMPLE_RATE), 0.6, 1.8))
        y = _stretch(clip, factor, float(rng.uniform(-2, 2)))
        _place(track, y, phrase[0].start, 0.01)
    return track


def sing(
    notes: list[Note],
    voice: Voice,
    rng: np.random.Generator,
    step_s: float,
    steps_per_bar: int,
    n: int,
) -> np.ndarray:
    """Sing ``notes`` with ``voice`` (its formant setting applied): ``(samples=n,)``."""
    if voice.engine == "sinsy":
        x = sing_sinsy(notes, rng, step_s, steps_per_bar, n)
    else:
        x = sing_espeak(notes, voice, rng, n)
    return formant_shift(x, voice.formant)
