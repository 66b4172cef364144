"""Streaming decode of an audio file to 44.1 kHz float32 stereo.

libsndfile (through soundfile) reads WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF (and the other
formats it knows) in blocks, so memory does not grow with the file's length; soxr's
``ResampleStream`` converts any sample rate to 44.1 kHz (a new stream after a seek, so the
filter state never mixes two positions). Integer and float sample formats come out as
float32 in [-1, 1).

Channels: mono is doubled (dual mono); stereo passes; 3 to 8 channels are downmixed with
ITU-R BS.775-style coefficients assuming the WAVE channel order (L, R, C, LFE, then the
surrounds): front L/R at 1, centre at 0.707 to both, LFE dropped, side/back surrounds at 0.707
to their side, a back centre at 0.5 to both; each output row is then normalised so its
coefficients sum to one (no clipping, like ffmpeg's default). More than 8 channels: plain
average of all channels into both.

Non-finite samples (NaN, Inf: a broken float file) are replaced by silence as they are read,
with one warning per file naming it, so they never reach a model, a speaker or an export.

Every failure a user can cause is a :class:`~engine.errors.DecodeError` with one line: missing
file, a folder, an empty (0-byte) file, a file with no samples, a corrupt or truncated file,
a text file named .wav, an unsupported format. A truncated file that libsndfile can partly
read plays what is there (read errors mid-stream end the stream, with a logged warning).

``read_window(path, start, samples)`` / ``read_all(path)`` read a stretch or the whole file in
one call: the one file reader of the player and of ``training/`` (same channel policy, same
samples as a seek and read; a short window at 44.1 kHz reads only that window).

Thread: the worker (playback), the export thread, a training DataLoader worker; one AudioReader
per thread.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import soundfile as sf
import soxr

from engine import config
from engine.errors import DecodeError

log = logging.getLogger(__name__)

SOURCE_BLOCK = 32768  # source frames per libsndfile read
_SQRT_HALF = 0.7071067811865476

# roles of the channels in WAVE order, per channel count
_LAYOUTS: dict[int, tuple[str, ...]] = {
    3: ("L", "R", "C"),
    4: ("L", "R", "Ls", "Rs"),
    5: ("L", "R", "C", "Ls", "Rs"),
    6: ("L", "R", "C", "LFE", "Ls", "Rs"),
    7: ("L", "R", "C", "LFE", "Cs", "Ls", "Rs"),
    8: ("L", "R", "C", "LFE", "Ls", "Rs", "Ls", "Rs"),
}
_ROLE_GAINS = {  # role -> (gain to left, gain to right)
    "L": (1.0, 0.0), "R": (0.0, 1.0), "C": (_SQRT_HALF, _SQRT_HALF), "LFE": (0.0, 0.0),
    "Ls": (_SQRT_HALF, 0.0), "Rs": (0.0, _SQRT_HALF), "Cs": (0.5, 0.5),
}


@dataclass(frozen=True)
class TrackInfo:
    """What the player shows about a file. ``samples``: its length in samples at 44.1 kHz."""

    path: Path
    title: str
    duration_s: float
    samples: int
    source_rate: int
    source_channels: int
    format: str  # e.g. "FLAC PCM_16", "WAV FLOAT", "MP3 MPEG_LAYER_III"


def downmix_matrix(channels: int) -> np.ndarray:
    """``(2, channels)`` float32 matrix taking ``(channels, n)`` to stereo (module docstring)."""
    if channels == 1:
        return np.ones((2, 1), dtype=np.float32)
    if channels == 2:
        return np.eye(2, dtype=np.float32)
    if channels in _LAYOUTS:
        m = np.array([_ROLE_GAINS[r] for r in _LAYOUTS[channels]], dtype=np.float64).T
        m /= m.sum(axis=1, keepdims=True)
        return m.astype(np.float32)
    return np.full((2, channels), 1.0 / channels, dtype=np.float32)


def _title(path: Path, handle: sf.SoundFile) -> str:
    try:
        tag = (handle.title or "").strip()
    except (AttributeError, RuntimeError):
        tag = ""
    if tag:
        return tag
    if path.stem.lower() == "mixture" and path.parent.name:  # MUSDB layout: the folder names it
        return path.parent.name
    return path.stem


def _open(path: Path) -> sf.SoundFile:
    if not path.exists():
        raise DecodeError(f"{path}: file not found")
    if path.is_dir():
        raise DecodeError(f"{path}: is a folder, not an audio file")
    if not os.access(path, os.R_OK):
        raise DecodeError(f"{path}: cannot read the file (permission denied)")
    if path.stat().st_size == 0:
        raise DecodeError(f"{path}: file is empty (0 bytes)")
    try:
        return sf.SoundFile(str(path))
    except sf.LibsndfileError as err:
        text = (err.error_string or str(err)).strip().rstrip(".").removeprefix("Error : ")
        if "not recognised" in text.lower() or "unknown format" in text.lower():
            raise DecodeError(f"{path}: not an audio file, or a format that cannot be read "
                              f"(supported: WAV, FLAC, OGG, Opus, MP3, AIFF)") from None
        raise DecodeError(f"{path}: cannot decode ({text})") from None
    except (OSError, RuntimeError, ValueError) as err:
        raise DecodeError(f"{path}: cannot open ({err})") from None


class AudioReader:
    """Sequential reader of one file at 44.1 kHz stereo float32, with seek.

    ``read(n)`` returns ``(2, n)`` except at the end of the stream (fewer, then 0 samples).
    """

    def __init__(self, path: Path, handle: sf.SoundFile) -> None:
        self._path = path
        self._f = handle
        self._rate = int(handle.samplerate)
        self._matrix = downmix_matrix(handle.channels)
        frames = max(0, int(handle.frames))
        out_samples = self._out_len(frames)
        self.info = TrackInfo(
            path=path,
            title=_title(path, handle),
            duration_s=out_samples / config.SAMPLE_RATE,
            samples=out_samples,
            source_rate=self._rate,
            source_channels=int(handle.channels),
            format=f"{handle.format} {handle.subtype}",
        )
        self._src_pos = 0  # source frames consumed since the last seek origin
        self._src_origin = 0
        self._out_origin = 0  # 44.1 kHz sample of the current stream's first output sample
        self._emitted = 0  # output samples produced since _out_origin (incl. pending)
        self._pending = np.zeros((2, 0), dtype=np.float32)
        self._eof = False
        self._resampler = self._new_resampler()
        self.non_finite = 0  # NaN/Inf source samples replaced by silence so far
        self._warned_non_finite = False

    # -- helpers ---------------------------------------------------------------------------

    def _out_len(self, src_frames: int) -> int:
        return (src_frames * config.SAMPLE_RATE + self._rate // 2) // self._rate

    def _new_resampler(self) -> soxr.ResampleStream | None:
        if self._rate == config.SAMPLE_RATE:
            return None
        return soxr.ResampleStream(self._rate, config.SAMPLE_RATE, 2, dtype="float32",
                                   quality="HQ")

    def _read_source(self, frames: int) -> np.ndarray:
        """The next ``frames`` (or fewer, at the end) of source audio as stereo ``(n, 2)``."""
        try:
            data = self._f.read(frames, dtype="float32", always_2d=True)
        # ValueError: soundfile asked numpy for a negative length, when a file (a chained Ogg
        # stream) decodes past the frame count its header gave (seen on a hyperrogue-music track)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            log.warning("%s: read error at %.1f s, stopping there (%s)", self._path,
                        (self._src_origin + self._src_pos) / self._rate, err)
            data = np.zeros((0, self._f.channels), dtype=np.float32)
        self._src_pos += data.shape[0]
        if data.size and not np.isfinite(data).all():
            data = self._silence_non_finite(data)
        if data.shape[1] == 2:
            return data  # soundfile's array is C-contiguous (n, 2) already
        return np.ascontiguousarray(data @ self._matrix.T)

    def _silence_non_finite(self, data: np.ndarray) -> np.ndarray:
        """``data`` with NaN/Inf samples set to 0; one warning per file (not per block)."""
        bad = ~np.isfinite(data)
        self.non_finite += int(bad.sum())
        if not self._warned_non_finite:
            self._warned_non_finite = True
            log.warning("%s: non-finite samples (NaN/Inf) near %.1f s replaced by silence",
                        self._path, (self._src_origin + self._src_pos) / self._rate)
        data = np.array(data, dtype=np.float32)  # a writable copy
        data[bad] = 0.0
        return data

    def _fill(self, n: int) -> None:
        parts = [self._pending]
        have = self._pending.shape[1]
        while have < n and not self._eof:
            # without resampling, no more than asked for (a short window costs a short read);
            # blocks, not one big read: a truncated file then gives what it holds
            want = SOURCE_BLOCK if self._resampler is not None else min(SOURCE_BLOCK, n - have)
            src = self._read_source(want)
            last = src.shape[0] < want
            if self._resampler is None:
                out = src
            else:
                out = self._resampler.resample_chunk(src, last=last)
            if last:
                self._eof = True
                # exact length: what the source really held, at 44.1 kHz
                target = self._out_len(self._src_origin + self._src_pos) - self._out_origin
                missing = target - (self._emitted + out.shape[0])
                if missing > 0:
                    out = np.concatenate([out, np.zeros((missing, 2), np.float32)])
                elif missing < 0:
                    out = out[: max(0, out.shape[0] + missing)]
            self._emitted += out.shape[0]
            block = np.ascontiguousarray(out.T, dtype=np.float32)
            parts.append(block)
            have += block.shape[1]
        if len(parts) > 1:
            parts = [p for p in parts if p.shape[1]] or parts[:1]
            self._pending = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    # -- public ------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """44.1 kHz index of the next sample :meth:`read` returns."""
        return self._out_origin + self._emitted - self._pending.shape[1]

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples ``(2, n)`` float32 (fewer only at the end of the file)."""
        self._fill(n)
        out, self._pending = self._pending[:, :n], self._pending[:, n:]
        return out

    def seek(self, sample: int) -> None:
        """Continue reading from 44.1 kHz sample ``sample`` (clamped to the file)."""
        sample = max(0, int(sample))
        src = min(int(sample * self._rate // config.SAMPLE_RATE), max(0, self._f.frames))
        resampled = self._rate != config.SAMPLE_RATE
        if resampled:
            # restart the resampler a little earlier (its start-up transient is dropped), on a
            # source sample that falls exactly on a 44.1 kHz sample, so the grids stay aligned
            grid = self._rate // math.gcd(self._rate, config.SAMPLE_RATE)
            src = max(0, src - self._rate // 50) // grid * grid
        try:
            self._f.seek(src)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise DecodeError(f"{self._path}: cannot seek ({err})") from None
        self._src_origin, self._src_pos = src, 0
        self._out_origin = self._out_len(src) if resampled else src  # <= sample
        self._emitted = 0
        self._pending = np.zeros((2, 0), dtype=np.float32)
        self._eof = False
        self._resampler = self._new_resampler()
        skip = sample - self._out_origin  # the pre-roll (and a fraction of a source sample)
        if skip > 0:
            self._fill(skip)
            self._pending = self._pending[:, skip:]

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_audio(path: str | os.PathLike[str]) -> AudioReader:
    """Open ``path`` for streaming decode; :class:`DecodeError` with one line if it cannot."""
    path = Path(path).expanduser()
    handle = _open(path)
    try:
        if handle.frames <= 0:
            raise DecodeError(f"{path}: contains no audio samples")
        reader = AudioReader(path, handle)
        probe = reader.read(1)  # a header without decodable data fails here, not later
        if probe.shape[1] == 0:
            raise DecodeError(f"{path}: no audio could be decoded (corrupt or truncated file)")
        reader._pending = np.concatenate([probe, reader._pending], axis=1)  # unread: at 0 again
        return reader
    except BaseException:
        handle.close()
        raise


def read_all(path: str | os.PathLike[str]) -> np.ndarray:
    """The whole file at 44.1 kHz: ``(2, N)`` float32."""
    return read_window(path)


def read_window(
    path: str | os.PathLike[str], start: int = 0, samples: int | None = None
) -> np.ndarray:
    """``(2, samples)`` float32 at 44.1 kHz from 44.1 kHz sample ``start`` (sample-exact, as
    :meth:`AudioReader.seek`), zero-padded where the file ends; ``samples=None``: to the end.
    The one file reader of the player and of ``training/`` (same channel policy)."""
    with open_audio(path) as reader:
        if start:
            reader.seek(start)
        if samples is not None:
            out = reader.read(samples)
            if out.shape[1] < samples:
                out = np.pad(out, ((0, 0), (0, samples - out.shape[1])))
            return np.ascontiguousarray(out)
        blocks = []
        while True:
            block = reader.read(1 << 18)
            if block.shape[1] == 0:
                break
            blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0), np.float32)
