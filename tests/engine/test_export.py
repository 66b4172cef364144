"""engine.export: formats, naming, karaoke mix, progress/cancel, atomic failure handling."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import export as ex
from engine.errors import ExportError
from engine.export import export_file
from tests import tinymodels as tm


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def rms_db(x: np.ndarray, ref: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(ref.astype(np.float64) ** 2))


@pytest.mark.parametrize(
    ("fmt", "subtype", "want"),
    [("wav", None, "PCM_24"), ("wav", "PCM_16", "PCM_16"), ("wav", "FLOAT", "FLOAT"),
     ("flac", None, "PCM_24"), ("flac", "PCM_16", "PCM_16")],
)
def test_lossless_formats_sum_to_the_mix(
    tmp_path: Path, song_wav: Path, music: np.ndarray, band_split_path: Path,
    fmt: str, subtype: str | None, want: str,
) -> None:
    out = export_file(song_wav, tmp_path / "out", model=band_split_path, fmt=fmt,
                      subtype=subtype)
    names = [p.name for p in out]
    assert names == [f"song - {s}.{fmt}" for s in ("vocals", "drums", "bass", "other")]
    assert all(p.parent == tmp_path / "out" / "song" for p in out)
    stems = np.stack([sf.read(p, dtype="float32")[0].T for p in out])
    assert sf.info(out[0]).subtype == want and sf.info(out[0]).samplerate == 44100
    assert stems.shape == (4, 2, music.shape[1])
    assert rms_db(stems.sum(axis=0) - music, music) < -60
    np.testing.assert_allclose(stems, tm.expected_band_split(music), atol=1e-4)


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_lossy_formats(tmp_path: Path, song_wav: Path, band_split_path: Path, fmt: str) -> None:
    out = export_file(song_wav, tmp_path, model=band_split_path, fmt=fmt, stems=["vocals"])
    assert [p.name for p in out] == [f"song - vocals.{fmt}"]
    audio, rate = sf.read(out[0], dtype="float32")
    assert rate == 44100 and abs(audio.shape[0] - 6 * 44100) < 44100 * 0.1
    assert np.sqrt(np.mean(audio**2)) > 0.01  # the vocals band holds the loud low tones


@pytest.mark.parametrize(
    ("fmt", "subtype", "reason"),
    [("flac", "FLOAT", "does not support subtype FLOAT"), ("ogg", "PCM_16", "lossy"),
     ("aac", None, "unknown format")],
)
def test_bad_format_or_subtype(tmp_path: Path, song_wav: Path, band_split_path: Path,
                               fmt: str, subtype: str | None, reason: str) -> None:
    with pytest.raises(ExportError, match=reason):
        export_file(song_wav, tmp_path / "out", model=band_split_path, fmt=fmt,
                    subtype=subtype)
    assert not (tmp_path / "out").exists()


def test_naming_template_and_stem_subset(tmp_path: Path, song_wav: Path,
                                         band_split_path: Path) -> None:
    out = export_file(song_wav, tmp_path, model=band_split_path, stems=["bass", "drums"],
                      name="{stem}_{model}_{track}.{ext}", fmt="flac")
    assert [p.name for p in out] == ["bass_bandsplit_song.flac", "drums_bandsplit_song.flac"]
    assert files_under(tmp_path / "song") == sorted(out)


def test_exported_files_are_readable_like_other_new_files(
    tmp_path: Path, song_wav: Path, band_split_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        out = export_file(song_wav, tmp_path, model=band_split_path, stems=["vocals"])
    finally:
        os.umask(old)
    # not the private 0600 of a temporary file: other programs and users can open the stems
    assert [p.stat().st_mode & 0o777 for p in out] == [0o644]


@pytest.mark.parametrize(
    ("template", "reason"),
    [("{track} - {title}.{ext}", "unknown field {title}"),
     ("{track}.{ext}", "same name to several stems"),
     ("{stem}/{track}.{ext}", "plain file name")],
)
def test_bad_template_leaves_nothing(tmp_path: Path, song_wav: Path, band_split_path: Path,
                                     template: str, reason: str) -> None:
    with pytest.raises(ExportError, match=reason):
        export_file(song_wav, tmp_path / "out", model=band_split_path, name=template)
    assert not (tmp_path / "out").exists()


def test_karaoke_mix_is_one_file_without_vocals(tmp_path: Path, song_wav: Path,
                                                music: np.ndarray,
                                                band_split_path: Path) -> None:
    out = export_file(song_wav, tmp_path, model=band_split_path,
                      mix={"vocals": float("-inf"), "drums": -6.0}, subtype="FLOAT")
    assert [p.name for p in out] == ["song - mix.wav"]
    got = sf.read(out[0], dtype="float32")[0].T
    _, d, b, o = tm.expected_band_split(music)
    np.testing.assert_allclose(got, 10 ** (-6 / 20) * d + b + o, atol=1e-5)
    with pytest.raises(ExportError, match="unknown stem 'guitar'"):
        export_file(song_wav, tmp_path, model=band_split_path, mix={"guitar": 0.0})


def test_progress_and_cancel(tmp_path: Path, song_wav: Path, band_split_path: Path) -> None:
    seen: list[float] = []
    export_file(song_wav, tmp_path / "a", model=band_split_path, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2

    cancel = threading.Event()

    def progress(fraction: float) -> None:
        if fraction > 0.2:
            cancel.set()

    assert export_file(song_wav, tmp_path / "b", model=band_split_path, progress=progress,
                       cancel=cancel) == []
    assert not (tmp_path / "b").exists()


def test_read_only_folder(tmp_path: Path, song_wav: Path, band_split_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ro"
    (target / "song").mkdir(parents=True)
    (target / "song").chmod(0o555)
    if os.access(target / "song", os.W_OK):  # root ignores permissions: simulate the mount
        def refuse(folder: Path, name: str) -> Path:
            raise OSError(errno.EROFS, "Read-only file system", str(folder))

        monkeypatch.setattr(ex, "_make_temp", refuse)
    try:
        with pytest.raises(ExportError, match="read-only file system|permission denied"):
            export_file(song_wav, target, model=band_split_path)
        assert files_under(target) == []
    finally:
        (target / "song").chmod(0o755)


def test_disk_full_leaves_no_partial_files(tmp_path: Path, song_wav: Path,
                                           band_split_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = ex._write_block

    def write_then_fill_up(handle: sf.SoundFile, data: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle, data)

    monkeypatch.setattr(ex, "_write_block", write_then_fill_up)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="no space left on device"):
        export_file(song_wav, tmp_path / "out", model=band_split_path)
    assert calls["n"] > 5
    assert files_under(tmp_path / "out") == [tmp_path / "out" / "keep.txt"]
    assert not (tmp_path / "out" / "song").exists()


def test_no_model_available(tmp_path: Path, song_wav: Path, models_dir: Path) -> None:
    with pytest.raises(ExportError, match="no separation model"):
        export_file(song_wav, tmp_path)
