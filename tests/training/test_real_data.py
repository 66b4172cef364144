"""Real-data readers, the real validation split and the mix dataset, on tiny fixtures built here.

Nothing here reads ../shared/data/real: every file is written into a tmp folder by the test, with
odd sample rates, mono sources and both WAV and FLAC.
"""

from __future__ import annotations

from dataclasses import replace as dataclasses_replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.errors import DecodeError, StemplayError
from training.data.audiofiles import AudioCache, read_audio
from training.data.augment import AugmentConfig, rms_db
from training.data.banks import VocalBank, VocalClip, activity
from training.data.levels import LevelConfig, active_rms_db
from training.data.mix import REAL_MUSIC_SOURCES, SOURCES, MixConfig, MixDataset
from training.data.multitrack import MultitrackBank, find_multitracks
from training.data.splits import REAL_VALID_SONGS, real_tracks, write_valid_folder
from training.data.voices import VocalProduction, voice_window

# stem → tone frequency (Hz) of the fixture songs, so a stem can be recognised by its spectrum
TONES = {"vocals": 660.0, "drums": 150.0, "bass": 55.0, "other": 1320.0}


def _tone(freq: float, seconds: float, rate: int, amp: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _voice(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A 'sung' line: harmonic tones of 0.4 s with 0.2 s pauses, vibrato, mono."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(180, 400) * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    gate = (t % 0.6) < 0.4
    return (0.2 * x * gate).astype(np.float32)


def _write_song(
    folder: Path, seconds: float, rate: int, ext: str, mono: bool, silent_vocals: bool = False
) -> None:
    folder.mkdir(parents=True)
    stems = []
    for name, freq in TONES.items():
        x = _tone(freq, seconds, rate) * (0.0 if silent_vocals and name == "vocals" else 1.0)
        data = x if mono else np.stack([x, 0.5 * x], axis=1)
        sf.write(str(folder / f"{name}{ext}"), data, rate)
        stems.append(data)
    sf.write(str(folder / f"mixture{ext}"), np.sum(stems, axis=0), rate)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real-data folder: multitrack/ with 4 songs (one a validation song, one
    instrumental; WAV and FLAC, 44.1/48/22.05 kHz, mono and stereo) and vocals/ with clips of
    several rates and formats, plus a silent clip that must be skipped."""
    root = tmp_path_factory.mktemp("real")
    multi = root / "multitrack" / "set"
    _write_song(multi / "SongA", 3.0, 44100, ".wav", mono=False)
    _write_song(multi / "SongB", 2.5, 48000, ".flac", mono=True)
    _write_song(multi / "SongInstr", 2.0, 22050, ".flac", mono=False, silent_vocals=True)
    _write_song(multi / REAL_VALID_SONGS[0], 2.0, 44100, ".flac", mono=False)
    incomplete = multi / "NotASong"
    incomplete.mkdir()
    sf.write(str(incomplete / "vocals.wav"), _tone(440, 1.0, 44100), 44100)
    vocals = root / "vocals" / "singer"
    vocals.mkdir(parents=True)
    sf.write(str(vocals / "a.flac"), _voice(3.0, 22050, 1), 22050)
    sf.write(str(vocals / "b.wav"), np.stack([_voice(2.0, 48000, 2)] * 2, axis=1), 48000)
    sf.write(str(vocals / "c.ogg"), _voice(2.5, 16000, 3), 16000)
    sf.write(str(vocals / "silent.flac"), np.zeros(44100, dtype=np.float32), 44100)
    (vocals / "notes.txt").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    _write_song(root / "song_000", 3.0, 44100, ".wav", mono=False)
    _write_song(root / "song_001", 3.0, 44100, ".wav", mono=False)
    return root


def _config(real_root: Path, synth_dir: Path, **kw: object) -> MixConfig:
    base: dict = {
        "synthetic_dirs": (str(synth_dir),),
        "real_root": str(real_root),
        "cache_dir": None,
        "seconds": 1.0,
        "samples_per_epoch": 20,
        "seed": 5,
    }
    base.update(kw)
    return MixConfig(**base)


# ------------------------------------------------------------------------- readers


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_read_audio_resamples_to_44k1_and_keeps_pitch(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "tone.flac"
    sf.write(str(path), _tone(1000.0, 1.0, rate), rate)
    x = read_audio(path)
    assert x.dtype == np.float32 and x.shape[0] == 2
    assert abs(x.shape[1] - SAMPLE_RATE) <= 2  # one second stays one second
    np.testing.assert_array_equal(x[0], x[1])  # mono became identical stereo
    spectrum = np.abs(np.fft.rfft(x[0, 4410:-4410]))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / (x.shape[1] - 8820)
    assert abs(peak_hz - 1000.0) < 3.0


def test_read_audio_mono_downmix_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    sf.write(str(path), np.stack([np.full(100, 0.5), np.full(100, -0.1)], axis=1), 44100)
    np.testing.assert_allclose(read_audio(path, channels=1), np.full((1, 100), 0.2), atol=1e-4)
    with pytest.raises(DecodeError, match="missing.flac: file not found"):  # the engine's words
        read_audio(tmp_path / "missing.flac")
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(DecodeError):
        read_audio(tmp_path / "bad.wav")


def test_find_multitracks_accepts_wav_and_flac_and_skips_incomplete(real_root: Path) -> None:
    names = [p.name for p in find_multitracks([real_root / "multitrack"])]
    assert names == sorted(["SongA", "SongB", "SongInstr", REAL_VALID_SONGS[0]])


def test_multitrack_bank_makes_stereo_44k1_stems(real_root: Path) -> None:
    bank = MultitrackBank(find_multitracks([real_root / "multitrack"]), DEFAULT_STEMS)
    by_name = {s.name: s for s in bank.songs}
    song_b = by_name["SongB"]  # mono FLAC at 48 kHz
    assert song_b.stems.shape[:2] == (4, 2)
    assert abs(song_b.samples - int(2.5 * SAMPLE_RATE)) <= 2
    np.testing.assert_array_equal(song_b.stems[:, 0], song_b.stems[:, 1])
    instr = by_name["SongInstr"]
    assert not instr.has_stem(0) and instr.has_stem(1)
    # drawing a song with vocals never returns the instrumental one
    rng = np.random.default_rng(0)
    assert all(bank.draw(rng, with_stem=0).name != "SongInstr" for _ in range(50))


def test_vocal_bank_reads_any_rate_and_format_and_skips_silence(real_root: Path) -> None:
    bank = VocalBank([real_root / "vocals"])
    names = sorted(Path(c.name).name for c in bank.clips)
    assert names == ["a.flac", "b.wav", "c.ogg"]
    lengths = {Path(c.name).name: len(c.audio) / SAMPLE_RATE for c in bank.clips}
    assert lengths["a.flac"] == pytest.approx(3.0, abs=1e-3)
    assert lengths["c.ogg"] == pytest.approx(2.5, abs=1e-3)
    for clip in bank.clips:
        assert clip.audio.ndim == 1 and clip.audio.dtype == np.float32
        # pauses of 0.2 s in every 0.6 s: about two thirds active
        assert 0.5 < clip.active_fraction < 0.85


def test_audio_cache_reuses_decoded_file(real_root: Path, tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache")
    src = real_root / "vocals" / "singer" / "a.flac"
    first = cache.load(src, channels=1)
    files = list((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 1
    second = cache.load(src, channels=1)
    assert isinstance(second, np.memmap)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    assert not list((tmp_path / "cache").glob("*.tmp"))


# ------------------------------------------------------------------------- splits


def test_validation_songs_are_never_in_the_training_split(real_root: Path) -> None:
    train = {p.name for p in real_tracks("train", real_root)}
    valid = {p.name for p in real_tracks("valid", real_root)}
    assert valid == {REAL_VALID_SONGS[0]}
    assert train == {"SongA", "SongB", "SongInstr"}
    assert real_tracks("train", real_root / "does-not-exist") == []
    with pytest.raises(ValueError):
        real_tracks("test", real_root)


def test_write_valid_folder_is_musdb_style_with_exact_mixture(
    real_root: Path, tmp_path: Path
) -> None:
    folders = write_valid_folder(tmp_path / "valid", real_root)
    assert [f.name for f in folders] == [REAL_VALID_SONGS[0]]
    files = {p.name for p in folders[0].iterdir()}
    assert files == {f"{s}.wav" for s in ("mixture", *DEFAULT_STEMS)}
    stems = [sf.read(str(folders[0] / f"{s}.wav"), dtype="float32")[0] for s in DEFAULT_STEMS]
    mix, rate = sf.read(str(folders[0] / "mixture.wav"), dtype="float32")
    assert rate == SAMPLE_RATE and mix.shape[1] == 2
    np.testing.assert_allclose(mix, np.sum(stems, axis=0), atol=1e-6)
    with pytest.raises(StemplayError, match="no real validation songs"):
        write_valid_folder(tmp_path / "v2", tmp_path / "nothing")


# ------------------------------------------------------------------------- mix dataset


def test_mix_items_have_shapes_exact_sum_and_no_clipping(real_root: Path, synth_dir: Path) -> None:
    ds = MixDataset(_config(real_root, synth_dir))
    seen = set()
    for i in range(len(ds)):
        mix, stems, source = ds.example(i)
        seen.add(source)
        assert mix.shape == (2, SAMPLE_RATE) and stems.shape == (4, 2, SAMPLE_RATE)
        assert mix.dtype == np.float32 and stems.dtype == np.float32
        np.testing.assert_allclose(mix, stems.sum(axis=0), rtol=0, atol=1e-6)
        assert np.abs(mix).max() <= 0.99 + 1e-6 and np.abs(stems).max() <= 0.99 + 1e-6
        assert rms_db(mix) > -40.0  # never a silent example
    assert seen == set(SOURCES) - set(REAL_MUSIC_SOURCES)  # the default proportions
    mix_t, stems_t, known_t = ds[0]
    assert known_t.dtype == torch.bool and bool(known_t.all())  # these sources know every stem
    assert stems_t.shape == (4, 2, SAMPLE_RATE)
    assert isinstance(mix_t, torch.Tensor) and mix_t.dtype == torch.float32
    assert torch.equal(mix_t, torch.from_numpy(ds.example(0)[0]))


def test_mix_proportions_are_exact_per_epoch(real_root: Path, synth_dir: Path) -> None:
    props = {"synthetic": 0.5, "real_multitrack": 0.25, "vocals_over_real": 0.25}
    ds = MixDataset(_config(real_root, synth_dir, proportions=props, samples_per_epoch=40))
    counts = {s: 0 for s in SOURCES}
    for i in range(len(ds)):
        counts[ds.source_of(i)] += 1
    assert counts == {
        "synthetic": 20,
        "real_multitrack": 10,
        "real_remix": 0,
        "vocals_over_synthetic": 0,
        "vocals_over_real": 10,
        "vocals_over_real_music": 0,
        "real_music_only": 0,
        "drums_over_real_music": 0,
    }


def test_mix_is_deterministic_per_seed_and_epoch(real_root: Path, synth_dir: Path) -> None:
    a = MixDataset(_config(real_root, synth_dir))
    b = MixDataset(_config(real_root, synth_dir))
    for i in (0, 7):
        np.testing.assert_array_equal(a.example(i)[1], b.example(i)[1])
    before = [a.example(i)[1] for i in range(4)]
    a.set_epoch(1)
    after = [a.example(i)[1] for i in range(4)]
    assert any(
        x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(before, after, strict=True)
    )


def test_real_sources_never_use_validation_songs(real_root: Path, synth_dir: Path) -> None:
    ds = MixDataset(_config(real_root, synth_dir))
    assert ds.real is not None
    assert {s.name for s in ds.real.songs} == {"SongA", "SongB", "SongInstr"}
    assert REAL_VALID_SONGS[0] not in ds.describe()


def _tone_energy(x: np.ndarray, freq: float) -> float:
    mono = x.mean(axis=0)
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2  # power, windowed
    k = round(freq * x.shape[-1] / SAMPLE_RATE)
    return float(spec[k - 2 : k + 3].sum() / (spec.sum() + 1e-12))


def test_vocals_over_accompaniment_sit_in_the_mix(real_root: Path, synth_dir: Path) -> None:
    """The real voice replaces the song's own vocals, at the drawn level relative to the
    accompaniment, lead near the centre, with reverb tails in the vocal stem."""
    prod = VocalProduction(
        lead_level_db=(-6.0, -2.0),
        backing_prob=0.0,
        backing_only_prob=0.0,
        delay_prob=0.0,
        reverb_prob=1.0,
        entry_prob=0.0,
    )
    props = {"vocals_over_synthetic": 1.0, "vocals_over_real": 1.0}
    ds = MixDataset(
        _config(real_root, synth_dir, proportions=props, vocals=prod, samples_per_epoch=12)
    )
    for i in range(len(ds)):
        _, stems, _ = ds.example(i)
        vocals, accompaniment = stems[0], stems[1:].sum(axis=0)
        assert _tone_energy(vocals, TONES["vocals"]) < 0.2  # the song's own vocals are gone
        level = active_rms_db(vocals) - rms_db(accompaniment)
        assert -6.0 - 1.5 <= level <= -2.0 + 1.5
        balance = 10 * np.log10(np.sum(vocals[0] ** 2) / np.sum(vocals[1] ** 2))
        assert abs(balance) < 3.0  # a lead vocal sits near the centre
        assert not np.array_equal(vocals[0], vocals[1])  # stereo reverb, not pasted mono


def test_backing_vocals_are_placed_to_the_side(real_root: Path, synth_dir: Path) -> None:
    prod = VocalProduction(
        backing_only_prob=1.0,
        backing_prob=0.0,
        reverb_prob=0.0,
        delay_prob=0.0,
        entry_prob=0.0,
        harmony_prob=0.0,
    )
    ds = MixDataset(
        _config(
            real_root,
            synth_dir,
            proportions={"vocals_over_real": 1.0},
            vocals=prod,
            samples_per_epoch=8,
        )
    )
    balances = []
    for i in range(len(ds)):
        vocals = ds.example(i)[1][0]
        balances.append(abs(10 * np.log10(np.sum(vocals[0] ** 2) / np.sum(vocals[1] ** 2))))
    assert min(balances) > 2.5  # pan ≥ 0.3 of full side: ≥ 2.9 dB between channels


def test_remix_takes_stems_from_different_songs(real_root: Path, synth_dir: Path) -> None:
    ds = MixDataset(
        _config(
            real_root,
            synth_dir,
            proportions={"real_remix": 1.0},
            remix_silent_vocals_prob=0.0,
            remix_augment=AugmentConfig(speed_prob=0.0),
            samples_per_epoch=10,
        )
    )
    for i in range(len(ds)):
        _, stems, _ = ds.example(i)
        for k, name in enumerate(DEFAULT_STEMS):  # each stem is still its own instrument
            assert _tone_energy(stems[k], TONES[name]) > 0.5
        assert rms_db(stems[0]) > -50.0  # vocals drawn from a song that has them


def test_config_from_yaml_mapping_and_errors(real_root: Path, synth_dir: Path) -> None:
    import yaml

    text = f"""
    proportions: {{synthetic: 2, vocals_over_real: 1}}
    synthetic_dirs: [{synth_dir}]
    real_root: {real_root}
    cache_dir: null
    seconds: 0.5
    samples_per_epoch: 6
    vocals: {{lead_level_db: [-5, 0], backing_prob: 0.5}}
    remix_augment: {{speed_range: [0.9, 1.1]}}
    """
    cfg = MixConfig.from_dict(yaml.safe_load(text))
    assert cfg.vocals.lead_level_db == (-5, 0) and cfg.synthetic_dirs == (str(synth_dir),)
    assert cfg.remix_augment.speed_range == (0.9, 1.1) and cfg.remix_augment.speed_prob == 0.3
    assert MixConfig.from_dict(cfg.to_dict()) == cfg
    ds = MixDataset(cfg)
    assert ds.proportions["synthetic"] == pytest.approx(2 / 3)
    loader = torch.utils.data.DataLoader(ds, batch_size=3)
    mix, stems, known = next(iter(loader))
    assert known.shape == (3, 4)
    assert mix.shape == (3, 2, SAMPLE_RATE // 2) and stems.shape == (3, 4, 2, SAMPLE_RATE // 2)
    with pytest.raises(StemplayError, match="unknown mix config key"):
        MixConfig.from_dict({"sekonds": 3})
    with pytest.raises(StemplayError, match="unknown mix config remix_augment key"):
        MixConfig.from_dict({"remix_augment": {"speed": 1.1}})
    with pytest.raises(StemplayError, match="unknown mix source"):
        MixConfig.from_dict({"proportions": {"karaoke": 1}})


def test_a_source_with_weight_but_no_data_is_a_clear_error(real_root: Path, tmp_path: Path) -> None:
    cfg = MixConfig(
        proportions={"synthetic": 1.0},
        synthetic_dirs=(str(tmp_path),),
        real_root=str(real_root),
        cache_dir=None,
    )
    with pytest.raises(StemplayError, match="mix source synthetic has weight 1 but no data"):
        MixDataset(cfg)
    cfg = MixConfig(proportions={"real_multitrack": 1.0}, real_root=str(tmp_path), cache_dir=None)
    with pytest.raises(StemplayError, match="real_multitrack"):
        MixDataset(cfg)


def test_missing_sources_can_be_skipped(synth_dir: Path, tmp_path: Path) -> None:
    """The same config runs on a machine without the real data when told to skip."""
    cfg = MixConfig(
        proportions={"synthetic": 1.0, "real_multitrack": 1.0, "vocals_over_real": 1.0},
        synthetic_dirs=(str(synth_dir),),
        real_root=str(tmp_path / "absent"),
        cache_dir=None,
        seconds=0.5,
        samples_per_epoch=4,
        missing_sources="skip",
    )
    ds = MixDataset(cfg)
    assert ds.proportions["synthetic"] == 1.0
    assert {ds.example(i)[2] for i in range(len(ds))} == {"synthetic"}
    with pytest.raises(StemplayError, match="no mix source"):
        MixDataset(dataclasses_replace(cfg, proportions={"real_remix": 1.0}))


def test_multitrack_cache_gives_the_same_songs_memory_mapped(
    real_root: Path, tmp_path: Path
) -> None:
    tracks = find_multitracks([real_root / "multitrack"])
    plain = MultitrackBank(tracks)
    MultitrackBank(tracks, cache_dir=tmp_path)  # fills the cache
    cached = MultitrackBank(tracks, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == len(tracks)
    for a, b in zip(plain.songs, cached.songs, strict=True):
        assert isinstance(b.stems, np.memmap) and a.present == b.present
        np.testing.assert_array_equal(a.stems, np.asarray(b.stems))


@pytest.mark.parametrize("semitones", [-2.0, 0.0, 3.0])
def test_voice_transposition_moves_the_pitch(semitones: float) -> None:
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    x = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    clip = VocalClip("sine", x, activity(x))
    y = voice_window(clip, np.random.default_rng(0), SAMPLE_RATE, 2048, 0.0, semitones)
    assert y.shape == (SAMPLE_RATE + 2048,)
    body = y[4096:-4096]
    assert rms_db(body) == pytest.approx(rms_db(x), abs=0.5)  # no gap, no level change
    peak_hz = np.argmax(np.abs(np.fft.rfft(body))) * SAMPLE_RATE / len(body)
    assert peak_hz == pytest.approx(440.0 * 2 ** (semitones / 12), abs=2.0)


def test_extra_isolated_stems_widen_the_remix(
    real_root: Path, synth_dir: Path, tmp_path: Path
) -> None:
    """Isolated recordings (e.g. game guitar tracks) named by a glob stand in for a stem in
    real_remix, at that stem's typical level in the real songs."""
    for i, rate in enumerate((44100, 32000)):
        folder = tmp_path / f"band{i}"
        folder.mkdir()
        guitar = _tone(2000.0, 2.0, rate, amp=0.6)
        sf.write(str(folder / "guitar.ogg"), np.stack([guitar, guitar], axis=1), rate)
        sf.write(str(folder / "song.ogg"), np.stack([guitar, guitar], axis=1), rate)
    extra = {"other": [str(tmp_path / "*" / "guitar.ogg")]}
    cfg = _config(
        real_root,
        synth_dir,
        proportions={"real_remix": 1.0},
        extra_stems=extra,
        extra_stem_prob=1.0,
        remix_augment=AugmentConfig.none(),
        loudness_db=(-20.0, -20.0),
        levels=LevelConfig(prob=0.0),  # the stems' own levels, not redrawn ones
    )
    ds = MixDataset(cfg)
    assert len(ds.extras[3]) == 2  # song.ogg is not taken
    assert "extra isolated other recordings" in ds.describe()
    for i in range(6):
        _, stems, _ = ds.example(i)
        assert _tone_energy(stems[3], 2000.0) > 0.5 and _tone_energy(stems[3], 1320.0) < 0.05
        # the loud guitar is brought to the median level of the songs' own 'other' stems
        # (that of the stereo songs), not 9.5 dB above it; the vocals come from a stereo
        # song (same level) or from the mono one (+2 dB, both channels at full level)
        assert -2.5 <= rms_db(stems[3]) - rms_db(stems[0]) <= 0.5
    with pytest.raises(StemplayError, match="no audio file matches"):
        MixDataset(
            _config(
                real_root,
                synth_dir,
                proportions={"real_remix": 1.0},
                extra_stems={"other": [str(tmp_path / "nope*.ogg")]},
            )
        )
    # a real voice over a remixed real accompaniment uses the extras as well
    over = _config(
        real_root,
        synth_dir,
        proportions={"vocals_over_real": 1.0},
        extra_stems=extra,
        extra_stem_prob=1.0,
        vocals_over_remix_prob=1.0,
        remix_augment=AugmentConfig.none(),
        samples_per_epoch=3,
    )
    over_ds = MixDataset(over)
    for i in range(3):
        stems = over_ds.example(i)[1]
        assert _tone_energy(stems[3], 2000.0) > 0.5
        assert _tone_energy(stems[0], TONES["vocals"]) < 0.2
    skip = _config(
        real_root,
        synth_dir,
        proportions={"real_remix": 1.0},
        extra_stems={"other": [str(tmp_path / "nope*.ogg")]},
        missing_sources="skip",
    )
    assert MixDataset(skip).extras == {}  # runs without the extras where they are absent
    with pytest.raises(StemplayError, match="extra_stems names 'piano'"):
        MixDataset(
            _config(
                real_root,
                synth_dir,
                proportions={"real_remix": 1.0},
                extra_stems={"piano": [str(tmp_path)]},
            )
        )


def test_remix_speed_change_moves_every_stem_in_pitch(real_root: Path, synth_dir: Path) -> None:
    aug = AugmentConfig(speed_prob=1.0, speed_range=(1.2, 1.2), gain_db=(0.0, 0.0))
    ds = MixDataset(
        _config(
            real_root,
            synth_dir,
            proportions={"real_remix": 1.0},
            remix_silent_vocals_prob=0.0,
            remix_augment=aug,
            samples_per_epoch=4,
        )
    )
    for i in range(len(ds)):
        _, stems, _ = ds.example(i)
        for k, name in enumerate(DEFAULT_STEMS):
            assert _tone_energy(stems[k], TONES[name] * 1.2) > 0.5
            assert _tone_energy(stems[k], TONES[name]) < 0.1


def test_listening_check_writes_musdb_folders(
    real_root: Path, synth_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from training.data.mix import main

    cfg = _config(real_root, synth_dir, samples_per_epoch=5, seconds=0.5)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"data": {"config": cfg.to_dict()}}))
    assert main([str(path), "-o", str(tmp_path / "out"), "--items", "3"]) == 0
    folders = sorted((tmp_path / "out").iterdir())
    assert len(folders) == 3 and "training mix:" in capsys.readouterr().out
    # the written folders are a MUSDB-style dataset: found again by the multitrack reader
    assert [t.path for t in find_multitracks([tmp_path / "out"])] == folders
    mix = sf.read(str(folders[0] / "mixture.wav"), dtype="float32")[0]
    stems = [sf.read(str(folders[0] / f"{s}.wav"), dtype="float32")[0] for s in DEFAULT_STEMS]
    np.testing.assert_allclose(mix, np.sum(stems, axis=0), atol=1e-6)
    (tmp_path / "bad.yaml").write_text("sekonds: 3\n")
    assert main([str(tmp_path / "bad.yaml"), "-o", str(tmp_path / "o2")]) == 1
    assert "unknown mix config key" in capsys.readouterr().err


def test_real_multitrack_favours_songs_with_vocals(real_root: Path, synth_dir: Path) -> None:
    def silent_vocals(any_song_prob: float) -> int:
        ds = MixDataset(
            _config(
                real_root,
                synth_dir,
                proportions={"real_multitrack": 1.0},
                multitrack_any_song_prob=any_song_prob,
                samples_per_epoch=20,
            )
        )
        return sum(rms_db(ds.example(i)[1][0]) < -50.0 for i in range(len(ds)))

    assert silent_vocals(0.0) == 0  # the instrumental song is never drawn
    assert silent_vocals(1.0) > 0  # drawn by length: about a quarter of the items
