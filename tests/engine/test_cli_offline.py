"""engine.cli: export and models commands, argument parsing, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli import main, parse_gains, parse_mix
from tests import tinymodels as tm

ROOT = Path(__file__).resolve().parents[2]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("stemplay: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_export_writes_stems_and_reports_progress(
    tmp_path: Path, song_wav: Path, band_split_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = tmp_path / "second.flac"
    sf.write(second, np.zeros((44100, 2)), 44100)
    rc = main(["export", str(song_wav), str(second), "-o", str(tmp_path / "out"),
               "--model", "bandsplit", "--stems", "vocals,other", "--format", "flac",
               "--subtype", "pcm_16"])
    out, err = capsys.readouterr()
    assert rc == 0
    written = [Path(line) for line in out.splitlines()]
    assert [p.name for p in written] == ["song - vocals.flac", "song - other.flac",
                                         "second - vocals.flac", "second - other.flac"]
    assert all(p.is_file() and sf.info(p).subtype == "PCM_16" for p in written)
    assert "[1/2] song.wav: 100%" in err and "[2/2] second.flac: 100%" in err


def test_export_karaoke_mix(tmp_path: Path, song_wav: Path, music: np.ndarray,
                            band_split_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["export", str(song_wav), "-o", str(tmp_path), "--model", str(band_split_path),
               "--mix", "vocals=-inf", "--subtype", "FLOAT", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    (path,) = [Path(line) for line in out.splitlines()]
    got = sf.read(path, dtype="float32")[0].T
    np.testing.assert_allclose(got, tm.expected_band_split(music)[1:].sum(axis=0), atol=1e-5)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["missing.wav"], "file not found"),
        (["{song}", "--model", "nope"], "model 'nope' not found"),
        (["{song}", "--format", "flac", "--subtype", "FLOAT"], "does not support subtype"),
        (["{song}", "--stems", "vocals,piano"], "unknown stem 'piano'"),
        (["{song}", "--name", "{{oops}}.{{ext}}"], "unknown field {oops}"),
    ],
)
def test_export_user_errors_exit_1_with_one_line(
    tmp_path: Path, song_wav: Path, band_split_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], reason: str,
) -> None:
    argv = ["export", *[a.format(song=song_wav) for a in args], "-o", str(tmp_path / "out")]
    assert main(argv) == 1
    assert reason in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_export_checks_every_file_before_writing(
    tmp_path: Path, song_wav: Path, band_split_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    assert main(["export", str(song_wav), str(bad), "-o", str(tmp_path / "out")]) == 1
    assert "notes.wav: not an audio file" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv",
    [["export"], ["export", "a.wav", "--format", "aac"], ["export", "a.wav", "--mix", "vocals"],
     ["export", "a.wav", "--mix", "vocals=loud"], ["play"], ["frobnicate"], []],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "stemplay: error:" in err and "Traceback" not in err


def test_parse_mix() -> None:
    assert parse_mix("vocals=-inf, drums=-6,bass=+3dB,other=mute") == {
        "vocals": -np.inf, "drums": -6.0, "bass": 3.0, "other": -np.inf}
    with pytest.raises(argparse.ArgumentTypeError):
        parse_mix("vocals")


def test_one_gain_rule_for_play_and_export(capsys: pytest.CaptureFixture[str]) -> None:
    # play --gain (a list of items) and export --mix (a comma list) read gains the same way
    assert parse_gains(["vocals=mute", "drums=+3dB", "bass=-inf", "other=24"]) == parse_mix(
        "vocals=off,drums=3,bass=-infinity,other=+24dB") == {
        "vocals": -np.inf, "drums": 3.0, "bass": -np.inf, "other": 24.0}
    assert parse_gains(None) == {}
    for bad, says in [("vocals=nan", "not a number of dB"), ("vocals=inf", "at most +24 dB"),
                      ("vocals=25", "at most +24 dB"), ("vocals=loud", "not a number of dB"),
                      ("vocals", "expected STEM=DB")]:
        with pytest.raises(ValueError, match=re.escape(says)):
            parse_gains([bad])
        assert main(["export", "a.wav", "--mix", bad]) == 2  # before any file is opened
        assert main(["play", "a.wav", "--gain", bad]) == 2  # before any device is opened
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("stemplay: error:")]
        assert len(lines) == 2 and all(says in line for line in lines), err
        assert "Traceback" not in err


def test_models_table_marks_default(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "no usable model" in capsys.readouterr().out
    tm.band_split_model(models_dir / "hybrid.onnx", name="hybrid")
    tm.gain_model(models_dir / "unet.onnx", frames="dynamic", name="unet")
    tm.corrupt_model(models_dir / "junk.onnx")
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line
            for line in out.splitlines()[1:] if line.strip() and not line.startswith("* def")}
    assert rows["hybrid"].startswith("*") and "vocals,drums,bass,other" in rows["hybrid"]
    assert not rows["unet"].startswith("*") and "dynamic" in rows["unet"]  # hybrid is the default
    assert "junk.onnx" in err


def test_play_devices_bench_are_parsed_and_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import playback_cli

    seen: dict[str, argparse.Namespace] = {}

    def recorder(name: str):
        def command(args: argparse.Namespace) -> int:
            seen[name] = args
            return 0

        return command

    for name in ("play_command", "devices_command", "bench_command"):
        monkeypatch.setattr(playback_cli, name, recorder(name))
    assert main(["play", "a.wav", "--model", "unet", "--mute", "vocals", "--mute", "bass",
                 "--solo", "drums", "--gain", "other=-3", "--start", "12.5",
                 "--duration", "4", "--device", "3", "--latency", "50"]) == 0
    play = seen["play_command"]
    assert (play.file, play.model, play.mute, play.solo, play.gain) == (
        "a.wav", "unet", ["vocals", "bass"], ["drums"], ["other=-3"])
    assert (play.start, play.duration, play.device) == (12.5, 4.0, "3")
    assert play.latency == 0.05  # milliseconds on the command line, seconds inside
    assert main(["devices"]) == 0 and "devices_command" in seen
    assert main(["bench", "b.wav", "--json"]) == 0
    assert (seen["bench_command"].file, seen["bench_command"].json) == ("b.wav", True)
    assert main(["bench", "--model", "hybrid", "--model-b", "unet"]) == 0
    assert (seen["bench_command"].model, seen["bench_command"].model_b) == ("hybrid", "unet")


def test_bench_with_a_missing_model_b_says_so_in_one_line(capsys, tmp_path) -> None:
    from engine.bench import run_bench
    from tests.tinymodels import band_split_model

    a = band_split_model(tmp_path / "a.onnx")
    assert run_bench(None, str(a), True, str(tmp_path / "nope.onnx")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.onnx" in err


def test_bench_on_cuda_where_cuda_cannot_run_says_why_instead_of_cpu_figures(
    capsys, tmp_path, monkeypatch
) -> None:
    from engine.bench import run_bench
    from engine.model import cuda_unusable_reason
    from tests.tinymodels import band_split_model

    reason = cuda_unusable_reason()
    if reason is None:
        pytest.skip("CUDA can run on this machine")
    monkeypatch.setenv("STEMPLAY_PROVIDER", "auto")  # restored after the bench overrides it
    a = band_split_model(tmp_path / "a.onnx")
    assert main(["bench", "--provider", "cuda", "--model", str(a), "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == f"stemplay bench: CUDA is not usable here: {reason}"
    assert run_bench(None, str(a), True, provider="cuda") == 1  # the same through the API


def test_one_registry_of_commands_for_stemplay_bench_and_launcher(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app import launcher
    from engine import bench
    from engine.cli import COMMAND_NAMES

    assert COMMAND_NAMES == {"play", "export", "models", "devices", "bench"}
    assert launcher.main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"    {name} " in listing for name in COMMAND_NAMES)
    for name in sorted(COMMAND_NAMES):  # every command's --help goes through the launcher
        assert launcher.main([name, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: stemplay {name} ")
    assert launcher.main(["bench", "--help"]) == 0
    stemplay_bench = capsys.readouterr().out
    with pytest.raises(SystemExit) as done:  # `python -m engine.bench`: the same options
        bench._main(["--help"])
    assert done.value.code == 0
    module_bench = capsys.readouterr().out
    assert "--rss-child" not in module_bench  # internal, not shown
    options = [line.split()[0] for line in stemplay_bench.splitlines() if line.startswith("  -")]
    assert options == ["-h,", "--model", "--model-b", "--provider", "--json"]
    assert options == [line.split()[0] for line in module_bench.splitlines()
                       if line.startswith("  -")]


def test_headless_commands_never_import_qt_or_torch(band_split_path: Path) -> None:
    code = (
        "import sys\n"
        "import engine\n"
        "from engine.cli import main\n"
        "rc = main(['models'])\n"
        "import engine.export, engine.separate, engine.decode, engine.dsp.stft\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'torch'))\n"
        "print('LOADED', bad, rc)\n"
    )
    env = {**os.environ, "STEMPLAY_MODELS": str(band_split_path.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True, env=env)
    assert "LOADED [] 0" in done.stdout


def test_bench_names_the_machine_its_figures_come_from() -> None:
    """Figures drift 2x between two machines sold under one name: the bench says which CPU,
    how many CPUs and which vector units produced them."""
    from engine.bench import machine_info

    text = ("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx2 avx512f "
            "avx512_bf16 avx512_vnni\nprocessor\t: 1\nmodel name\t: AMD EPYC 9R14\n")
    info = machine_info(text)
    assert info["cpu"] == "AMD EPYC 9R14" and info["cpus"] >= 1
    assert info["simd"] == ["avx2", "avx512f", "avx512_bf16", "avx512_vnni"]
    assert machine_info("flags\t: fpu sse2\n")["simd"] == []
    here = machine_info()
    assert here["cpu"] and here["cpus"] >= 1
