"""engine.decode: formats, rates, channels, seeking, bad inputs, bounded memory."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.decode import downmix_matrix, open_audio, read_all, read_window
from engine.errors import DecodeError

SR = 44100
ROOT = Path(__file__).resolve().parents[2]


def tone(rate: int, seconds: float, freq: float = 440.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * freq * t))[:, None], channels, axis=1)


def expected_tone(n: int, freq: float = 440.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / SR)


@pytest.mark.parametrize(
    ("rate", "channels", "fmt", "subtype", "tol"),
    [
        (44100, 2, "WAV", "PCM_16", 1e-4),
        (8000, 1, "WAV", "PCM_16", 1e-3),  # 8 kHz mono → 44.1 kHz dual mono
        (96000, 2, "WAV", "PCM_24", 1e-4),  # 96 kHz 24-bit
        (48000, 2, "FLAC", "PCM_16", 1e-3),
        (22050, 2, "AIFF", "PCM_16", 1e-3),
        (44100, 2, "WAV", "FLOAT", 1e-6),
        (44100, 1, "OGG", "VORBIS", 5e-2),
    ],
)
def test_formats_rates_channels(
    tmp_path: Path, rate: int, channels: int, fmt: str, subtype: str, tol: float
) -> None:
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, tone(rate, 1.0, channels=channels), rate, format=fmt, subtype=subtype)
    with open_audio(path) as reader:
        info = reader.info
    assert (info.source_rate, info.source_channels, info.samples) == (rate, channels, SR)
    assert info.duration_s == pytest.approx(1.0, abs=1e-3)
    assert info.format == f"{fmt} {subtype}"
    audio = read_all(path)
    assert audio.shape == (2, SR) and audio.dtype == np.float32
    mid = slice(2000, SR - 2000)  # resampler edges
    np.testing.assert_allclose(audio[0, mid], expected_tone(SR)[mid], atol=tol)
    np.testing.assert_allclose(audio[1], audio[0], atol=1e-6 if channels == 1 else tol)


def test_six_channels_downmix(tmp_path: Path) -> None:
    n = SR // 2
    data = np.zeros((n, 6), np.float32)
    data[:, 2] = 0.5  # centre only → equally in both channels
    data[:, 3] = 0.9  # LFE → dropped
    data[:, 4] = 0.25  # left surround → left only
    path = tmp_path / "surround.wav"
    sf.write(path, data, SR, subtype="FLOAT")
    audio = read_all(path)
    m = downmix_matrix(6)
    assert m.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert audio[0, 100] == pytest.approx(m[0, 2] * 0.5 + m[0, 4] * 0.25, abs=1e-6)
    assert audio[1, 100] == pytest.approx(m[1, 2] * 0.5, abs=1e-6)
    assert audio[0, 100] > audio[1, 100] > 0


@pytest.mark.parametrize("rate", [44100, 8000])
def test_seek_is_sample_exact(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, tone(rate, 2.0, freq=300.0), rate, subtype="FLOAT")
    whole = read_all(path)
    with open_audio(path) as reader:
        for pos in (SR + 123, 7, SR // 2):
            reader.seek(pos)
            assert reader.position == pos
            np.testing.assert_allclose(reader.read(2000), whole[:, pos : pos + 2000], atol=1e-5)


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_read_window_is_the_same_samples_as_the_whole_file(tmp_path: Path, rate: int) -> None:
    """The training datasets read excerpts with read_window: each is exactly that stretch of
    the whole decoded file (also when resampled), zero-padded past the end; mono is doubled."""
    rng = np.random.default_rng(rate)
    path = tmp_path / "noise.flac"
    sf.write(path, 0.3 * rng.standard_normal((rate * 2, 1)), rate, subtype="PCM_24")
    whole = read_all(path)
    assert whole.shape == (2, 2 * SR)
    np.testing.assert_array_equal(whole[0], whole[1])
    for start in (0, 12345, SR + 7):
        window = read_window(path, start, 30000)
        np.testing.assert_allclose(window, whole[:, start : start + 30000], atol=1e-5)
    tail = read_window(path, 2 * SR - 100, 1000)
    np.testing.assert_allclose(tail[:, :100], whole[:, -100:], atol=1e-5)
    assert tail.shape == (2, 1000) and not tail[:, 100:].any()
    assert read_window(path, 10 * SR, 50).shape == (2, 50)


def test_reads_in_blocks_and_ends_cleanly(song_wav: Path, music: np.ndarray) -> None:
    with open_audio(song_wav) as reader:
        parts = []
        while (block := reader.read(12345)).shape[1]:
            parts.append(block)
        assert all(p.shape[1] == 12345 for p in parts[:-1])
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), music)


def _write_bad(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "nothing.wav"
    if kind == "empty":
        (tmp_path / "empty.wav").write_bytes(b"")
        return tmp_path / "empty.wav"
    if kind == "text":
        (tmp_path / "notes.wav").write_text("these are my notes, not audio\n" * 20)
        return tmp_path / "notes.wav"
    if kind == "zero-samples":
        sf.write(tmp_path / "zero.wav", np.zeros((0, 2)), SR)
        return tmp_path / "zero.wav"
    if kind == "header-only":
        sf.write(tmp_path / "full.flac", tone(SR, 1.0), SR)
        (tmp_path / "head.flac").write_bytes((tmp_path / "full.flac").read_bytes()[:60])
        return tmp_path / "head.flac"
    if kind == "folder":
        return tmp_path
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "file not found"),
        ("empty", "file is empty"),
        ("text", "not an audio file"),
        ("zero-samples", "contains no audio samples"),
        ("header-only", "cannot decode"),
        ("folder", "is a folder"),
    ],
)
def test_bad_inputs_give_one_line_decode_errors(tmp_path: Path, kind: str, reason: str) -> None:
    path = _write_bad(tmp_path, kind)
    with pytest.raises(DecodeError) as err:
        open_audio(path)
    assert reason in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_truncated_file_plays_what_is_there(tmp_path: Path, fmt: str) -> None:
    full = tmp_path / f"full.{fmt}"
    sf.write(full, tone(SR, 3.0), SR, subtype="PCM_16")
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    audio = read_all(cut)
    assert SR // 2 < audio.shape[1] <= 3 * SR
    n = min(audio.shape[1], SR)
    np.testing.assert_allclose(audio[0, :n], expected_tone(n), atol=1e-4)


def test_one_hour_file_decodes_with_bounded_memory(tmp_path: Path) -> None:
    """A 1-hour 16-bit WAV (a sparse file: cheap to make) is read start to end in a subprocess;
    its peak RSS may not grow by more than 64 MiB past the first seconds (the decoded hour
    would be 1.2 GiB as float32)."""
    n = SR * 3600
    path = tmp_path / "hour.wav"
    data_bytes = n * 4
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE")
        fh.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, SR, SR * 4, 4, 16))
        fh.write(b"data" + struct.pack("<I", data_bytes))
        fh.truncate(44 + data_bytes)
    code = (
        "import resource, sys\n"
        "from engine.decode import open_audio\n"
        "r = open_audio(sys.argv[1]); total = 0\n"
        "for _ in range(20): total += r.read(1 << 16).shape[1]\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "while (b := r.read(1 << 16)).shape[1]: total += b.shape[1]\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(total, r.info.samples, peak - base)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    total, frames, growth_kib = (int(v) for v in done.stdout.split())
    assert total == frames == n
    assert growth_kib < 64 * 1024
