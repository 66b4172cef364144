"""The real-music bank (training/data/realmusic.py) on tiny generated packages: never the real
Debian packages, never the network (apt-get is a stub script on PATH)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.config import SAMPLE_RATE
from training.data import realmusic as rm
from training.data import realmusic_build as rmb
from training.data import realmusic_screen as rms

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: toy

Files: *
Copyright: someone
License: GPL-2+

Files:
 base/music/loud.ogg
Copyright: someone else
License: CC-BY-SA-3.0

Files: debian/*
License: GPL-2+
"""

PROSE = """This package was debianized by somebody.

The songs are Copyright (c) 2009 A Band and are licenced under the terms of the
Creative Commons Attribution ShareAlike licence 3.0.

The Debian packaging is licensed under the GNU General Public License version 2.
"""


def tone(seconds: float, rate: int, channels: int = 2, f0: float = 330.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def write_audio(path: Path, seconds: float, rate: int = SAMPLE_RATE, channels: int = 2,
                fmt: str = "OGG", subtype: str = "VORBIS") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(seconds, rate, channels), rate, format=fmt, subtype=subtype)
    return path


def make_packages(root: Path) -> tuple[rm.PackageSpec, ...]:
    """Two unpacked toy packages under ``root/pkgs``: plain files and a .pk3 zip archive.

    ``toy-music``: a 12 s stereo Ogg, a 12 s mono 48 kHz Opus, a 2 s Ogg (too short) and a
    file of garbage named .ogg. ``toy-pk3``: a zip holding two 11 s Ogg files.
    """
    a = root / "pkgs" / "toy-music"
    music = a / "usr/share/games/toy/music"
    write_audio(music / "calm.ogg", 12.0)
    write_audio(music / "album" / "wide.opus", 12.0, rate=48000, channels=1, subtype="OPUS")
    write_audio(music / "jingle.ogg", 2.0)
    (music / "broken.ogg").write_bytes(b"OggS" + bytes(range(256)) * 20)
    (a / "usr/share/doc/toy-music").mkdir(parents=True)
    (a / "usr/share/doc/toy-music/copyright").write_text(PROSE)
    (a / ".unpacked").write_text("toy\n")

    b = root / "pkgs" / "toy-pk3"
    (b / "usr/share/games/toy/base").mkdir(parents=True)
    with zipfile.ZipFile(b / "usr/share/games/toy/base/music.pk3", "w") as zf:
        for name in ("loud", "soft"):
            tmp = write_audio(root / "tmpsrc" / f"{name}.ogg", 11.0)
            zf.write(tmp, f"music/{name}.ogg")
            zf.writestr("textures/readme.txt", "not music") if name == "soft" else None
    shutil.rmtree(root / "tmpsrc")
    (b / "usr/share/doc/toy-pk3").mkdir(parents=True)
    (b / "usr/share/doc/toy-pk3/copyright").write_text(DEP5)
    (b / ".unpacked").write_text("toy\n")
    return (rm.PackageSpec("toy-music", ("usr/share/games/toy/music/**/*.ogg",
                                         "usr/share/games/toy/music/**/*.opus")),
            rm.PackageSpec("toy-pk3", ("music/*.ogg",),
                           archive="usr/share/games/toy/base/music.pk3"))


@pytest.fixture
def bank(tmp_path: Path) -> tuple[Path, tuple[rm.PackageSpec, ...]]:
    root = tmp_path / "bank"
    return root, make_packages(root)


def build(root: Path, specs: tuple[rm.PackageSpec, ...], listing: Path | None = None
          ) -> rm.Manifest:
    return rmb.build(root, specs, do_fetch=False, screen=False, screening_list=listing)


def test_build_decodes_every_readable_track_to_441_stereo_int16(bank) -> None:
    root, specs = bank
    manifest = build(root, specs)
    files = sorted(t.file for t in manifest.tracks)
    assert files == ["usr/share/games/toy/base/music.pk3:music/loud.ogg",
                     "usr/share/games/toy/base/music.pk3:music/soft.ogg",
                     "usr/share/games/toy/music/album/wide.opus",
                     "usr/share/games/toy/music/calm.ogg"]
    for t in manifest.tracks:
        arr = rm.open_track(t, root)
        assert isinstance(arr, np.memmap), "the cache must be memory-mapped, not loaded"
        assert arr.dtype == np.int16 and arr.shape[0] == 2
        expected = 12.0 if "toy/music" in t.file else 11.0
        assert abs(arr.shape[1] / SAMPLE_RATE - expected) < 0.02, (t.file, arr.shape)
        assert t.duration_s == pytest.approx(expected, abs=0.02)
        assert t.verdict == "pending"
        # the content survives: a 330 Hz tone of RMS 0.3 * 0.663 / sqrt(2) = 0.141
        x = np.asarray(arr[0], dtype=np.float64) / 32768
        spec = np.abs(np.fft.rfft(x))
        assert np.argmax(spec) * SAMPLE_RATE / len(x) == pytest.approx(330, abs=2)
        assert np.sqrt(np.mean(x[SAMPLE_RATE:-SAMPLE_RATE] ** 2)) == pytest.approx(0.141,
                                                                                 rel=0.1)
    opus = next(t for t in manifest.tracks if t.file.endswith(".opus"))
    assert opus.source_rate == 48000
    arr = rm.open_track(opus, root)
    assert np.array_equal(arr[0, :44100], arr[1, :44100]), "mono must become dual mono"


def test_licences_come_from_debian_copyright(bank) -> None:
    root, specs = bank
    manifest = build(root, specs)
    lic = {t.file.rsplit("/", 1)[-1]: t.licence for t in manifest.tracks}
    assert lic["loud.ogg"] == "CC-BY-SA-3.0"  # its own DEP-5 stanza, inside the archive
    assert lic["soft.ogg"] == "GPL-2+"  # the "Files: *" stanza
    assert lic["calm.ogg"] == "CC-BY-SA-3.0"  # prose: the music's licence comes first


@pytest.mark.parametrize(("text", "expected"), [
    (("This program is free software under the GNU General Public License as published by "
     "the FSF; either version 2 of the License, or (at your option) any later version."),
     "GPL-2+"),
    (("Permission is hereby granted, free of charge, to any person ... Packaging: GNU General "
     "Public License"), "Expat"),
    ("CREATIVE COMMONS PUBLIC LICENSE ... this License: Attribution, ShareAlike ... 3.0",
     "CC-BY-SA-3.0"),
    ("no licence words here", "unknown"),
])
def test_prose_licences(text: str, expected: str) -> None:
    assert rmb.licence_of(text, "usr/share/x/music/a.ogg") == expected


def test_unreadable_and_short_files_are_warned_and_skipped(bank, caplog) -> None:
    root, specs = bank
    with caplog.at_level(logging.WARNING, logger=rmb.__name__):
        manifest = build(root, specs)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("broken.ogg" in w and "\n" not in w for w in warnings), warnings
    assert any("jingle.ogg" in w and "shorter than an excerpt" in w for w in warnings), warnings
    assert len(warnings) == 2, warnings
    skipped = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in manifest.skipped}
    assert set(skipped) == {"broken.ogg", "jingle.ogg"}
    assert skipped["jingle.ogg"].startswith("too short")
    assert skipped["broken.ogg"].startswith("unreadable")
    cached = sorted(p.name for p in (root / "audio").rglob("*.npy"))
    assert len(cached) == 4, cached  # nothing left behind for the skipped files
    assert not list(root.glob(".tmp.*")), "temporary folder left behind"


def test_build_is_idempotent(bank, monkeypatch) -> None:
    root, specs = bank
    first = build(root, specs)
    before = (root / rm.MANIFEST).read_text()
    stamps = {p: p.stat().st_mtime_ns for p in (root / "audio").rglob("*.npy")}

    def boom(*args, **kwargs):
        raise AssertionError("a done file was decoded again")

    monkeypatch.setattr(rmb, "decode_track", boom)
    second = build(root, specs)
    assert (root / rm.MANIFEST).read_text() == before
    assert {p: p.stat().st_mtime_ns for p in (root / "audio").rglob("*.npy")} == stamps
    assert [t.key for t in second.tracks] == [t.key for t in first.tracks]


def test_build_resumes_after_a_lost_array(bank) -> None:
    root, specs = bank
    manifest = build(root, specs)
    victim = manifest.tracks[0]
    (root / victim.path).unlink()
    again = build(root, specs)
    assert (root / victim.path).exists()
    assert len(again.tracks) == len(manifest.tracks)


def test_manifest_round_trip(tmp_path: Path) -> None:
    tracks = [rm.Track("p", "a/b.ogg", "GPL-2+", 61.5, "audio/p/a_b.npy", 44100, -17.2, "keep",
                       "auto", 0.01, False, -25.0),
              rm.Track("p", "c.pk3:m/d.ogg", "CC-BY-3.0", 30.0, "audio/p/m_d.npy")]
    skipped = [{"package": "p", "file": "e.ogg", "reason": "too short: 3.0 s < 10 s"}]
    rm.save_manifest(tmp_path, rm.Manifest(tracks, skipped))
    back = rm.load_manifest(tmp_path)
    assert sorted(back.tracks, key=lambda t: t.key) == sorted(tracks, key=lambda t: t.key)
    assert back.skipped == skipped
    data = json.loads((tmp_path / rm.MANIFEST).read_text())
    assert data["sample_rate"] == SAMPLE_RATE
    assert not list(tmp_path.glob(".manifest.*")), "temporary manifest left behind"


def test_screening_list_round_trip_and_build_applies_it(bank, tmp_path: Path) -> None:
    root, specs = bank
    manifest = build(root, specs)
    for i, t in enumerate(sorted(manifest.tracks, key=lambda t: t.key)):
        t.vocal_fraction = 0.1 * i
        t.has_drums = i % 2 == 0
        t.drum_db = -5.0 - i
        t.verdict = "drop" if i == 1 else "keep"
        t.reason = "choir from 1:10, checked on the spectrogram" if i == 1 else "instrumental"
    listing = rm.write_screening(manifest.tracks, tmp_path / "screening.csv")
    rows = rm.read_screening(listing)
    assert len(rows) == 4
    for t in manifest.tracks:
        row = rows[t.key]
        assert row["verdict"] == t.verdict and row["reason"] == t.reason
        assert float(row["duration_s"]) == pytest.approx(t.duration_s, abs=0.05)
    # a fresh build (from nothing) takes the reviewed verdicts instead of pending ones
    shutil.rmtree(root / "audio")
    (root / rm.MANIFEST).unlink()
    rebuilt = build(root, specs, listing)
    by_key = {t.key: t for t in manifest.tracks}
    for t in rebuilt.tracks:
        ref = by_key[t.key]
        assert (t.verdict, t.reason, t.has_drums) == (ref.verdict, ref.reason, ref.has_drums)
        assert t.vocal_fraction == pytest.approx(ref.vocal_fraction, abs=1e-3)
    kept = rm.kept_tracks(root)
    assert len(kept) == 3
    assert {t.key for t in rm.kept_tracks(root, drums=False)} == {
        t.key for t in manifest.tracks if t.verdict == "keep" and not t.has_drums}


def test_screening_list_rejects_an_unknown_verdict(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(",".join(rm.SCREEN_COLUMNS) + "\np,f.ogg,12.0,0.5,maybe,?,no,-30\n")
    with pytest.raises(rm.RealMusicError, match="keep or drop"):
        rm.read_screening(path)


def test_screen_tracks_judges_pending_tracks(bank, monkeypatch) -> None:
    root, specs = bank
    build(root, specs)

    class FakeVocals:
        def __init__(self, threads: int = 2) -> None:
            pass

        def frame_energies(self, audio, every=4):
            n = 200
            voiced = audio.shape[1] > 11.5 * SAMPLE_RATE  # the 12 s tracks "sing" half the time
            e_v = np.where((np.arange(n) < n // 2) & voiced, 1.0, 1e-3)
            return e_v, np.ones(n)

    class FakeDrums:
        def __init__(self, threads: int = 2) -> None:
            pass

        def drum_db(self, audio) -> float:
            return -30.0

    monkeypatch.setattr(rms, "VocalDetector", FakeVocals)
    monkeypatch.setattr(rms, "DrumDetector", FakeDrums)
    manifest = rms.screen_tracks(root, screening_list=None)
    for t in manifest.tracks:
        assert t.has_drums is False
        if t.duration_s > 11.5:
            assert t.vocal_fraction == pytest.approx(0.5, abs=0.02)
            assert t.verdict == "drop" and "not reviewed" in t.reason
        else:
            assert t.vocal_fraction == 0.0 and t.verdict == "keep"


def test_vocal_fraction_ignores_silence_and_isolated_frames() -> None:
    n = 1000
    e_a = np.ones(n)
    e_v = np.full(n, 1e-3)
    assert rms.vocal_fraction(e_v, e_a) == 0.0
    e_v[::50] = 10.0  # isolated loud frames: a flute note, a cymbal
    assert rms.vocal_fraction(e_v, e_a) == 0.0
    e_v[:300] = 1.0  # 0 dB: voiced
    e_a[800:] = 0.0
    e_v[800:] = 0.0  # digital silence: not counted at all
    assert rms.vocal_fraction(e_v, e_a) == pytest.approx(300 / 800, abs=0.03)


def fake_apt(tmp_path: Path, debs: Path) -> Path:
    """An ``apt-get`` stub: ``download NAME`` copies ``debs/NAME_*.deb`` or fails like apt."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "apt-get"
    script.write_text(f"""#!/bin/sh
[ "$1" = download ] || exit 0
for f in {debs}/"$2"_*.deb; do
  [ -e "$f" ] || {{ echo "E: Unable to locate package $2" >&2; exit 100; }}
  cp "$f" .
done
""")
    script.chmod(0o755)
    return bindir


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fetch_unpacks_and_warns_about_a_missing_package(tmp_path: Path, monkeypatch,
                                                         caplog) -> None:
    tree = tmp_path / "tree"
    write_audio(tree / "usr/share/games/toy/music/calm.ogg", 12.0)
    (tree / "usr/share/doc/toy-music").mkdir(parents=True)
    (tree / "usr/share/doc/toy-music/copyright").write_text(PROSE)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        "Package: toy-music\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: toy\n")
    debs = tmp_path / "repo"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(tree), str(debs / "toy-music_1.0_all.deb")],
                   check=True, capture_output=True)
    monkeypatch.setenv("PATH", f"{fake_apt(tmp_path, debs)}:{__import__('os').environ['PATH']}")
    specs = (rm.PackageSpec("toy-music", ("usr/share/games/toy/music/*.ogg",)),
             rm.PackageSpec("no-such-music", ("*.ogg",)))
    root = tmp_path / "bank"
    with caplog.at_level(logging.WARNING, logger=rmb.__name__):
        manifest = rmb.build(root, specs, screen=False, screening_list=None)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no-such-music" in warnings[0], warnings
    assert [t.file for t in manifest.tracks] == ["usr/share/games/toy/music/calm.ogg"]
    assert manifest.tracks[0].licence == "CC-BY-SA-3.0"
    assert not list((root / "debs").glob("*.deb")), ".deb kept after unpacking"
    # a second fetch finds the package unpacked and downloads nothing
    monkeypatch.setenv("PATH", "/nonexistent")
    assert rmb.fetch(root, specs[:1]) == ["toy-music"]


def test_cli_list_prints_hours_per_package(bank, capsys) -> None:
    root, specs = bank
    build(root, specs)
    assert rm.main(["list", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "toy-music" in out and "toy-pk3" in out
    assert "skipped:" in out and "jingle.ogg" in out


def test_repeat_period_finds_a_rendered_loop_but_not_a_repeated_bar() -> None:
    rng = np.random.default_rng(3)
    rate = SAMPLE_RATE

    def noise(seconds: float) -> np.ndarray:  # band-limited (< ~1.4 kHz), like music's bulk
        x = rng.standard_normal(int(seconds * rate))
        return np.convolve(x, np.ones(32) / np.sqrt(32), mode="same")

    loop = (noise(100) * 3000).astype(np.int16)  # a 100 s "loop" rendered three times
    looped = np.tile(loop, 3)[None].repeat(2, axis=0)
    assert rmb.repeat_period(looped) == pytest.approx(100.0, abs=0.01)
    assert rmb.unique_seconds(looped) == pytest.approx(120.0, abs=0.1)
    # a 4 s bar repeated under fresh material: the track never repeats as a whole
    bar = np.tile(noise(4) * 3000, 75)
    fresh = noise(300) * 3000
    music = (bar + fresh).astype(np.int16)[None].repeat(2, axis=0)
    assert rmb.repeat_period(music) is None
    assert rmb.unique_seconds(music) == pytest.approx(300.0, abs=0.1)
