"""Issue 11: never lose a file, never emit garbage, never drop out.

Each test asserts what a user notices: an earlier export still there, no NaN or full-scale
step in a file or at the sound card, no hidden ``.part`` file after a kill, one line and the
documented exit status instead of a traceback, stems that do not clip.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import export as ex
from engine.cli import main
from engine.errors import ExportError, ModelError
from engine.export import OutputExistsError, export_file, unique_folders
from engine.levels import MAX_GAIN_DB, db_to_gain
from engine.mixer import Mixer, MixSettings, Source
from engine.model import load_model
from engine.player import Engine, EngineConfig
from engine.ring import StemRing
from tests import tinymodels as tm
from tests.engine.drive import ManualOutput, wait_for

ROOT = Path(__file__).resolve().parents[2]
SR = 44100
BLOCK = 512


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("stemplay: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


# --------------------------------------------------------------------- 1. earlier exports
def test_reexport_refuses_to_overwrite_unless_asked(
    tmp_path: Path, song_wav: Path, band_split_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = export_file(song_wav, tmp_path, model=band_split_path, stems=["vocals", "bass"])
    before = snapshot(first)
    with pytest.raises(OutputExistsError, match="exists already.*--overwrite"):
        export_file(song_wav, tmp_path, model=band_split_path, stems=["vocals", "bass"],
                    subtype="PCM_16")
    assert snapshot(first) == before  # untouched, still 24-bit
    argv = ["export", str(song_wav), "-o", str(tmp_path), "--model", str(band_split_path),
            "--stems", "vocals,bass", "--subtype", "PCM_16", "-q"]
    assert main(argv) == 1
    assert "--overwrite" in one_error_line(capsys.readouterr().err)
    assert snapshot(first) == before
    assert main([*argv, "--overwrite"]) == 0
    assert [sf.info(p).subtype for p in first] == ["PCM_16", "PCM_16"]
    assert not [p for p in files_under(tmp_path) if p.name.endswith(".part")]


@pytest.mark.parametrize("how", ["cancel", "disk full"])
def test_failed_or_cancelled_overwrite_keeps_the_earlier_files(
    tmp_path: Path, song_wav: Path, band_split_path: Path, monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    out = tmp_path / "out"
    first = export_file(song_wav, out, model=band_split_path)
    before = snapshot(first)
    cancel = threading.Event()
    calls = {"n": 0}
    real = ex._write_block

    def write(handle: sf.SoundFile, data: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            if how == "cancel":
                cancel.set()  # the user presses Cancel half-way
            else:
                raise OSError(28, "No space left on device")
        real(handle, data)

    monkeypatch.setattr(ex, "_write_block", write)
    if how == "cancel":
        assert export_file(song_wav, out, model=band_split_path, overwrite=True,
                           subtype="FLOAT", cancel=cancel) == []
    else:
        with pytest.raises(ExportError, match="no space left"):
            export_file(song_wav, out, model=band_split_path, overwrite=True, subtype="FLOAT")
    assert calls["n"] >= 6
    assert snapshot(first) == before
    assert files_under(out) == sorted(first)


# --------------------------------------------------------------------- 2. non-finite audio
def test_nan_and_inf_in_the_input_become_silence_not_full_scale(
    tmp_path: Path, music: np.ndarray, band_split_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = music.copy()
    broken[:, 100_000:100_010] = np.nan
    broken[0, 150_000] = np.inf
    broken[1, 150_001] = -np.inf
    path = tmp_path / "broken.wav"
    sf.write(path, broken.T, SR, subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        out = export_file(path, tmp_path / "out", model=band_split_path, subtype="FLOAT")
    warnings = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert len(warnings) == 1 and "broken.wav" in warnings[0]
    stems = np.stack([sf.read(p, dtype="float32")[0].T for p in out])
    assert np.isfinite(stems).all()
    assert np.abs(stems).max() < 2 * np.abs(music).max()  # no step to full scale
    pcm = export_file(path, tmp_path / "pcm", model=band_split_path, stems=["vocals"])
    audio = sf.read(pcm[0], dtype="float32")[0]
    assert np.abs(audio).max() < 2 * np.abs(music).max()  # not 4.5 s of constant -1.0


def test_a_model_that_outputs_nan_gives_finite_stems_that_sum_to_the_mix(
    tmp_path: Path, song_wav: Path, music: np.ndarray, models_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = tm.gain_model(models_dir / "nan.onnx", gains=(math.nan, 0.5, 0.25, 0.25))
    with caplog.at_level(logging.WARNING):
        out = export_file(song_wav, tmp_path, model=model, subtype="FLOAT")
    assert any("nan.onnx" in r.getMessage() and "non-finite" in r.getMessage()
               for r in caplog.records)
    stems = np.stack([sf.read(p, dtype="float32")[0].T for p in out])
    assert np.isfinite(stems).all()
    err = stems.sum(axis=0) - music
    assert 10 * np.log10(np.mean(err**2) / np.mean(music**2)) < -60


def make_mix_mixer(audio: np.ndarray) -> Mixer:
    mixer = Mixer()
    ring = StemRing(1, audio.shape[1] + 10)
    ring.reset(1, 0)
    ring.write(audio[None])
    mixer.mix_ring = ring
    mixer.settings = MixSettings(source="mix")
    mixer.seek_request = (1, 0)
    mixer.play_request = True
    return mixer


def test_the_sound_card_never_receives_nan_inf_or_more_than_full_scale() -> None:
    n = 8 * BLOCK
    audio = np.full((2, n), 0.1, dtype=np.float32)
    audio[:, 3 * BLOCK + 7] = np.nan
    audio[0, 5 * BLOCK + 1] = np.inf
    audio[1, 6 * BLOCK : 6 * BLOCK + 20] = 50.0
    mixer = make_mix_mixer(audio)
    out = np.empty((n, 2), dtype=np.float32)
    for i in range(8):
        mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    assert mixer.non_finite == 2 and mixer.errors == 0


def test_an_infinite_or_huge_gain_is_capped() -> None:
    assert db_to_gain(math.inf) == db_to_gain(1000.0) == pytest.approx(10 ** (MAX_GAIN_DB / 20))
    stems = np.full((4, 2, 4 * BLOCK), 0.01, dtype=np.float32)
    mixer = make_mix_mixer(stems.sum(axis=0))
    ring = StemRing(4, stems.shape[2] + 10)
    ring.reset(1, 0)
    ring.write(stems)
    mixer.sources = {"A": Source(ring, ("vocals", "drums", "bass", "other"))}
    mixer.settings = MixSettings(source="A").with_gain_db("vocals", math.inf)
    out = np.empty((4 * BLOCK, 2), dtype=np.float32)
    for i in range(4):
        mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def test_play_refuses_a_gain_above_24_db(song_wav: Path, band_split_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for gain in ("vocals=inf", "vocals=1000"):
        assert main(["play", str(song_wav), "--model", str(band_split_path), "--gain", gain,
                     "--device", "null"]) == 2
        assert "at most +24 dB" in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------- 3. SIGTERM / SIGHUP
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_during_export_leave_no_partial_file(
    tmp_path: Path, song_wav: Path, band_split_path: Path, sig: str
) -> None:
    out = tmp_path / "out"
    code = (
        "import os, signal, sys\n"
        "from engine import export as ex\n"
        "from engine.cli import main\n"
        "real = ex._write_block\n"
        "calls = [0]\n"
        "def write(handle, data):\n"
        "    calls[0] += 1\n"
        f"    if calls[0] == 5:\n        os.kill(os.getpid(), signal.{sig})\n"
        "    real(handle, data)\n"
        "ex._write_block = write\n"
        f"sys.exit(main(['export', {str(song_wav)!r}, '-o', {str(out)!r}, '--model', "
        f"{str(band_split_path)!r}, '-q']))\n"
    )
    # the export honours `nohup` (an ignored SIGHUP stays ignored): give the child the default
    # disposition so the test does not depend on how pytest itself was started
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))

    assert done.returncode == 128 + getattr(signal, sig), done.stderr
    assert f"stopped by {sig}" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()  # no .part files, and the folder it made is gone too


# --------------------------------------------------------------------- 4. same titles
def test_inputs_with_the_same_title_get_their_own_folders(
    tmp_path: Path, song_wav: Path, music: np.ndarray, band_split_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = tmp_path / "b" / "song.flac"
    other.parent.mkdir()
    sf.write(other, (0.5 * music).T, SR)
    assert main(["export", str(song_wav), str(other), "-o", str(tmp_path / "out"), "--model",
                 str(band_split_path), "--stems", "vocals", "-q"]) == 0
    written = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert len(set(written)) == len(written) == 2
    assert [p.parent.name for p in written] == ["song", "song (2)"]
    quiet = sf.read(written[1], dtype="float32")[0]
    loud = sf.read(written[0], dtype="float32")[0]
    assert np.abs(quiet).max() == pytest.approx(0.5 * np.abs(loud).max(), rel=0.01)
    assert unique_folders([".", "..", "A", "a"]) == ["_", "_ (2)", "A", "a (2)"]


# --------------------------------------------------------------------- 6. / 7. tracebacks
@pytest.mark.parametrize("args", [["--start", "nan"], ["--duration", "nan"],
                                  ["--start", "inf"], ["--duration", "-1"],
                                  ["--latency", "0"], ["--latency", "nan"]])
def test_play_with_nan_times_is_a_usage_error(song_wav: Path, args: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["play", str(song_wav), "--device", "null", *args]) == 2
    err = capsys.readouterr().err
    assert "stemplay: error:" in err and "Traceback" not in err


def test_engine_seek_to_nan_raises_a_value_error(song_wav: Path) -> None:
    with Engine(EngineConfig(device="null", model=None)) as eng:
        eng.open(song_wav)
        with pytest.raises(ValueError, match="cannot seek"):
            eng.seek(math.nan)


def test_a_model_declaring_a_million_frames_is_refused_at_load(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tm.band_split_model(models_dir / "huge.onnx", frames="dynamic",
                               metadata={"frames": "1000000"})
    with pytest.raises(ModelError, match="huge.onnx.*'frames' is 1000000"):
        load_model(path)
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert "huge.onnx" in err and "huge" not in out


@pytest.mark.parametrize("model", ["nope", "{corrupt}"])
def test_play_with_a_bad_model_exits_1_with_one_line(
    tmp_path: Path, song_wav: Path, models_dir: Path, capsys: pytest.CaptureFixture[str],
    model: str,
) -> None:
    corrupt = tm.corrupt_model(tmp_path / "corrupt.onnx")
    assert main(["play", str(song_wav), "--model", model.format(corrupt=corrupt),
                 "--device", "null"]) == 1
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert "nope" in line or "corrupt.onnx" in line
    assert "default model" not in err and "warning" not in err.lower()


# --------------------------------------------------------------------- 8. clipping
@pytest.fixture
def square(tmp_path: Path) -> tuple[Path, np.ndarray]:
    t = np.arange(3 * SR) / SR
    x = np.sign(np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    x[x == 0] = 1.0
    audio = np.stack([x, x])
    path = tmp_path / "square.wav"
    sf.write(path, audio.T, SR, subtype="FLOAT")
    return path, audio


def test_pcm24_stems_do_not_clip_and_still_sum_to_the_mix(
    tmp_path: Path, square: tuple[Path, np.ndarray], band_split_path: Path
) -> None:
    path, audio = square
    floats = export_file(path, tmp_path / "float", model=band_split_path, subtype="FLOAT")
    raw = np.stack([sf.read(p, dtype="float32")[0].T for p in floats])
    assert np.abs(raw).max() > 1.1  # the stems of a full-scale square wave overshoot
    notes: list[str] = []
    out = export_file(path, tmp_path / "pcm", model=band_split_path, report=notes.append)
    stems = np.stack([sf.read(p, dtype="float32")[0].T for p in out])
    assert np.abs(stems).max() <= 1.0
    gain = (1 - 2**-15) / np.abs(raw).max()
    np.testing.assert_allclose(stems, gain * raw, atol=1e-5)  # one common gain
    err = stems.sum(axis=0) - gain * audio
    assert 10 * np.log10(np.mean(err**2) / np.mean((gain * audio) ** 2)) < -60
    assert len(notes) == 1 and "dB quieter so none clips" in notes[0]
    clipped = export_file(path, tmp_path / "clip", model=band_split_path, clipping="clip")
    hard = np.stack([sf.read(p, dtype="float32")[0].T for p in clipped])
    err = hard.sum(axis=0) - audio
    assert 10 * np.log10(np.mean(err**2) / np.mean(audio**2)) > -40  # what "clip" costs


def test_cli_clipping_option_and_note(tmp_path: Path, square: tuple[Path, np.ndarray],
                                      band_split_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = square
    assert main(["export", str(path), "-o", str(tmp_path / "a"), "--model",
                 str(band_split_path), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("stemplay: note:") == 1 and "none clips" in err
    assert main(["export", str(path), "-o", str(tmp_path / "b"), "--model",
                 str(band_split_path), "-q", "--clipping", "clip"]) == 0
    assert "note" not in capsys.readouterr().err


# --------------------------------------------------------------------- 9. messages
def test_full_disk_reported_by_the_sound_library_says_so(
    tmp_path: Path, song_wav: Path, band_split_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_statvfs = os.statvfs

    def write(handle: sf.SoundFile, data: np.ndarray) -> None:
        raise RuntimeError("System error.")  # what libsndfile says on ENOSPC

    class Full:
        f_bavail, f_frsize = 0, 4096

    monkeypatch.setattr(ex, "_write_block", write)
    monkeypatch.setattr(os, "statvfs", lambda p: Full())
    with pytest.raises(ExportError, match="no space left on device"):
        export_file(song_wav, tmp_path / "out", model=band_split_path)
    monkeypatch.setattr(os, "statvfs", real_statvfs)
    with pytest.raises(ExportError, match="System error"):  # not full: the library's words
        export_file(song_wav, tmp_path / "out", model=band_split_path)
    assert not (tmp_path / "out").exists()


def test_unreadable_model_says_permission_denied(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tm.band_split_model(models_dir / "locked.onnx")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: simulate the refusal
            real_open = Path.open

            def refuse(self: Path, *args, **kw):
                if self == path:
                    raise PermissionError(13, "Permission denied", str(path))
                return real_open(self, *args, **kw)

            monkeypatch.setattr(Path, "open", refuse)
        with pytest.raises(ModelError, match="locked.onnx: cannot read the file "
                                             r"\(permission denied\)"):
            load_model(path)
    finally:
        path.chmod(0o644)


def test_mix_and_stems_together_write_both(tmp_path: Path, song_wav: Path, music: np.ndarray,
                                           band_split_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(song_wav), "-o", str(tmp_path), "--model", str(band_split_path),
                 "--stems", "vocals", "--mix", "vocals=-inf", "--subtype", "FLOAT", "-q"]) == 0
    written = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert [p.name for p in written] == ["song - vocals.wav", "song - mix.wav"]
    vocals, mix = (sf.read(p, dtype="float32")[0].T for p in written)
    np.testing.assert_allclose(vocals + mix, music, atol=1e-4)


def test_two_exports_creating_the_same_folder_at_once_both_succeed(
    tmp_path: Path, song_wav: Path, band_split_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = Path.mkdir

    def raced(self: Path, *args, **kw) -> None:
        os.mkdir(self)  # the other export made it between our check and our mkdir
        real_mkdir(self, *args, **kw)

    monkeypatch.setattr(Path, "mkdir", raced)
    out = export_file(song_wav, tmp_path / "new", model=band_split_path, stems=["bass"])
    assert [p.name for p in out] == ["song - bass.wav"] and out[0].is_file()


# --------------------------------------------------------------------- 10. mono
def lopsided_model(path: Path) -> Path:
    """Stems of the left channel at 0.75/0.25 of the mixture, of the right at 0.25/0.75: a
    model that treats left and right differently."""
    factors = np.zeros((1, 2, 4, 1, 1), dtype=np.float32)
    factors[0, 0, 0:2], factors[0, 0, 2:4] = 0.75, 0.25
    factors[0, 1, 0:2], factors[0, 1, 2:4] = 0.25, 0.75
    return tm._write(path, factors, ("vocals", "other"), 1024, 192, "lopsided", None, "mix",
                     "stems", None)


@pytest.fixture
def mono_song(tmp_path: Path, music: np.ndarray) -> Path:
    path = tmp_path / "mono.wav"
    sf.write(path, music[0], SR, subtype="FLOAT")
    return path


def test_a_mono_song_exports_mono_stems(tmp_path: Path, mono_song: Path, models_dir: Path,
                                        music: np.ndarray) -> None:
    model = lopsided_model(models_dir / "lopsided.onnx")
    out = export_file(mono_song, tmp_path / "out", model=model, subtype="FLOAT")
    for p in out:
        audio = sf.read(p, dtype="float32")[0]
        np.testing.assert_array_equal(audio[:, 0], audio[:, 1])
    total = sum(sf.read(p, dtype="float32")[0][:, 0] for p in out)
    np.testing.assert_allclose(total, music[0], atol=1e-4)


def test_a_mono_song_plays_mono_stems(mono_song: Path, models_dir: Path) -> None:
    model = lopsided_model(models_dir / "lopsided.onnx")
    with Engine(EngineConfig(device="null", model=None, ahead_s=2.0)) as eng:
        eng.attach_output(ManualOutput())
        eng.set_model("A", model)
        eng.open(mono_song)
        eng.set_solo("vocals", True)
        wait_for(lambda: "A" in eng.mixer.sources
                 and eng.mixer.sources["A"].ring.available(1, 0) >= 40 * BLOCK)
        eng.play()
        out = np.zeros((40 * BLOCK, 2), dtype=np.float32)
        for i in range(40):
            eng.mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
        assert eng.status().separated and np.abs(out).max() > 0.01
        np.testing.assert_array_equal(out[:, 0], out[:, 1])


# --------------------------------------------------------------------- 5. under load
def test_late_stems_fall_back_to_the_mix_without_silence_and_say_so() -> None:
    n = 6 * BLOCK
    stems = np.full((4, 2, n), 0.05, dtype=np.float32)
    mixer = make_mix_mixer(stems.sum(axis=0))
    ring = StemRing(4, n + 10)
    ring.reset(1, 0)
    ring.write(stems[:, :, : 3 * BLOCK])  # the separation is 3 blocks ahead, then stalls
    mixer.sources = {"A": Source(ring, ("vocals", "drums", "bass", "other"))}
    mixer.settings = MixSettings(source="A").with_mute("vocals", True)
    out = np.empty((n, 2), dtype=np.float32)
    for i in range(6):
        mixer.callback(out[i * BLOCK : (i + 1) * BLOCK], BLOCK)
    assert (np.abs(out[2 * BLOCK :]) > 0.1).all()  # never silent: the mix (0.2) takes over
    assert mixer.late == 1 and mixer.underruns == 0 and mixer.behind
    from engine.player import EngineStatus

    st = EngineStatus(playing=True, source="A", behind=True, separated=False)
    assert "behind" in Engine.describe(st) and "plain mix" in Engine.describe(st)


def test_slot_b_yields_until_the_heard_slot_is_comfortably_ahead(
    song_wav: Path, band_split_path: Path
) -> None:
    from engine.worker import YIELD_S

    with Engine(EngineConfig(device="null", model=None, ahead_s=8.0)) as eng:
        eng.attach_output(ManualOutput())  # nothing plays: A's lead only grows
        eng.set_model("A", band_split_path)
        eng.set_model("B", band_split_path)
        eng.open(song_wav)
        seen = []

        def sample() -> bool:
            srcs = eng.mixer.sources
            if "A" not in srcs or "B" not in srcs:
                return False
            b = srcs["B"].ring.available(1, 0)  # B first: A's lead can only have grown since
            a = srcs["A"].ring.available(1, 0)
            seen.append((a, b))
            return b > 0 and srcs["B"].ring.eof != -1

        wait_for(sample, timeout=60)
        assert all(a >= YIELD_S * SR for a, b in seen if b > 0), seen[:5]
