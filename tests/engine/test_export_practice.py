"""Export at another tempo and pitch, a panned mix, and the CLI's usage errors for them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli import main
from engine.errors import ExportError
from engine.export import export_file
from tests import tinymodels as tm

SR = 44100


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """Three seconds of a 440 Hz tone (0.3) as ``tone.wav``."""
    t = np.arange(3 * SR) / SR
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([x, x], axis=1), SR, subtype="FLOAT")
    return path


def pitch_cents(x: np.ndarray, ref: float = 440.0) -> float:
    x = x[x.size // 3 : x.size // 3 + 32768].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), 1 << 18))
    f = np.fft.rfftfreq(1 << 18, 1 / SR)
    band = (f > 200) & (f < 1000)
    return 1200 * math.log2(float(f[band][np.argmax(spec[band])]) / ref)


@pytest.mark.parametrize(("tempo", "pitch"), [(0.5, 0.0), (1.0, 2.0), (1.25, -3.5)])
def test_export_stems_and_mix_at_another_tempo_and_pitch(
    tmp_path: Path, tone_wav: Path, band_split_path: Path, tempo: float, pitch: float,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(["export", str(tone_wav), "-o", str(tmp_path / "out"), "--model",
               str(band_split_path), "--stems", "vocals,drums,bass,other", "--mix", "drums=0",
               "--tempo", str(tempo), "--pitch", str(pitch), "--subtype", "FLOAT", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    written = [Path(line) for line in out.splitlines()]
    assert [p.name for p in written] == [f"tone - {s}.wav" for s in
                                         ("vocals", "drums", "bass", "other", "mix")]
    for path in written:
        assert sf.info(path).frames == round(3 * SR / tempo)
    mix = sf.read(written[-1], dtype="float32")[0][:, 0]
    assert pitch_cents(mix) == pytest.approx(100 * pitch, abs=3.0)
    assert np.sqrt(np.mean(mix[SR // 2 : -SR // 2] ** 2)) == pytest.approx(0.3 / math.sqrt(2),
                                                                             rel=0.1)


def test_export_mix_with_a_hard_left_stem(
    tmp_path: Path, song_wav: Path, music: np.ndarray, band_split_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(["export", str(song_wav), "-o", str(tmp_path), "--model", str(band_split_path),
               "--mix", "drums=0", "--pan", "vocals=-100", "--subtype", "FLOAT", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    (path,) = [Path(line) for line in out.splitlines()]
    got = sf.read(path, dtype="float32")[0].T
    stems = tm.expected_band_split(music)
    # right: every stem but the vocals; left: the others plus all of the vocals
    np.testing.assert_allclose(got[1], stems[1:, 1].sum(axis=0), atol=1e-5)
    np.testing.assert_allclose(got[0], stems[1:, 0].sum(axis=0)
                               + (stems[0, 0] + stems[0, 1]) / math.sqrt(2), atol=1e-5)


def test_export_stem_files_are_never_panned(
    tmp_path: Path, song_wav: Path, music: np.ndarray, band_split_path: Path
) -> None:
    out = export_file(song_wav, tmp_path, model=band_split_path, stems=["vocals"],
                      mix={"drums": 0.0}, pan={"vocals": 100.0}, subtype="FLOAT")
    vocals = sf.read(out[0], dtype="float32")[0].T
    np.testing.assert_allclose(vocals, tm.expected_band_split(music)[0], atol=1e-4)


def test_export_refuses_pan_without_a_mix_and_bad_values(
    tmp_path: Path, song_wav: Path, band_split_path: Path
) -> None:
    with pytest.raises(ExportError, match="pan applies to a mix"):
        export_file(song_wav, tmp_path / "o", model=band_split_path, pan={"vocals": -100})
    with pytest.raises(ExportError, match="unknown stem 'piano' to pan"):
        export_file(song_wav, tmp_path / "o", model=band_split_path, mix={},
                    pan={"piano": -100})
    with pytest.raises(ExportError, match="tempo"):
        export_file(song_wav, tmp_path / "o", model=band_split_path, tempo=3.0)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["export", "{song}", "--tempo", "2"], "outside 0.5..1.5"),
        (["export", "{song}", "--tempo", "fast"], "not a speed ratio"),
        (["export", "{song}", "--pitch", "7"], "outside -6..+6"),
        (["export", "{song}", "--pitch", "nan"], "outside -6..+6"),
        (["export", "{song}", "--mix", "vocals=0", "--pan", "vocals=-150"], "-100 (left)"),
        (["export", "{song}", "--mix", "vocals=0", "--pan", "vocals"], "STEM=PAN"),
        (["export", "{song}", "--pan", "vocals=-100"], "--pan applies to --mix"),
        (["play", "{song}", "--tempo", "0.25"], "outside 0.5..1.5"),
        (["play", "{song}", "--pitch", "-6.5"], "outside -6..+6"),
        (["play", "{song}", "--pan", "bass=left"], "not a number"),
    ],
)
def test_practice_usage_errors_exit_2_with_one_line(
    tmp_path: Path, song_wav: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
    reason: str,
) -> None:
    args = [a.format(song=song_wav) for a in argv] + (["-o", str(tmp_path / "out")]
                                                      if argv[0] == "export" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stemplay: error:")]
    assert len(lines) == 1 and reason in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
