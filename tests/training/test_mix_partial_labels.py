"""Partial-label mix sources over the real-music bank, drawn stem levels and voice augmentation.

Everything is built in tmp folders by the tests: a tiny real-music bank (int16 ``.npy`` tracks
and a ``manifest.json`` in the format of ``training/data/realmusic.py``), voices and speech as
WAV/Ogg files, drum loops, a toy synthetic song. Nothing reads the real packages, the data
cache or ../shared/data/real.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from engine.config import SAMPLE_RATE
from engine.errors import StemplayError
from training.data.augment import double_take, ride_level, rms_db, shift_voice
from training.data.banks import RealMusicBank, VocalClip, activity, split_voice_files
from training.data.levels import (
    VOCALS_DB,
    LevelConfig,
    balance_levels,
    draw_level,
    quantiles_of,
    stem_levels,
)
from training.data.mix import REAL_MUSIC_SOURCES, MixConfig, MixDataset
from training.data.voices import VocalProduction, voice_window

STEMS = ("vocals", "drums", "bass", "other")
# real-music tracks, each a pure tone so the test can tell which one an excerpt came from
MUSIC = {  # name: (tone Hz, verdict, has_drums)
    "drummy_a": (880.0, "keep", True),
    "drummy_b": (990.0, "keep", True),
    "drumless": (1210.0, "keep", False),
    "choir": (1500.0, "drop", False),  # screened out: must never be heard
    "unscreened": (1700.0, "pending", None),
}


def _tone(freq: float, seconds: float, rate: int = SAMPLE_RATE, amp: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _voice(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A 'sung' line: harmonic tones of 0.4 s with 0.2 s pauses, vibrato, mono."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(180, 400) * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.2 * x * ((t % 0.6) < 0.4)).astype(np.float32)


def _tone_energy(x: np.ndarray, freq: float, width: float = 30.0) -> float:
    """Share of the energy of ``x (channels, samples)`` within ``width`` Hz of ``freq``."""
    spec = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64).sum(0))) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / SAMPLE_RATE)
    return float(spec[np.abs(f - freq) < width].sum() / max(spec.sum(), 1e-20))


def write_music_bank(root: Path, seconds: float = 3.0) -> Path:
    """``root/audio/<pkg>/<name>.npy`` int16 (2, samples) + ``root/manifest.json``."""
    tracks = []
    for name, (freq, verdict, drums) in MUSIC.items():
        x = np.stack([_tone(freq, seconds), 0.7 * _tone(freq, seconds)])
        rel = f"audio/testpkg/{name}.npy"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / rel, np.round(x * 32767).astype(np.int16))
        tracks.append({"package": "testpkg", "file": f"music/{name}.ogg", "licence": "GPL-2+",
                       "duration_s": seconds, "path": rel, "verdict": verdict,
                       "has_drums": drums})
    tracks.append({"package": "testpkg", "file": "music/gone.ogg", "licence": "GPL-2+",
                   "duration_s": 9.0, "path": "audio/testpkg/gone.npy", "verdict": "keep",
                   "has_drums": True})  # listed but its array is missing: warned, skipped
    (root / "manifest.json").write_text(json.dumps({"version": 1, "tracks": tracks}))
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("partial")
    music = write_music_bank(base / "realmusic")
    real = base / "real"
    singer = real / "vocals" / "someset" / "singing"
    singer.mkdir(parents=True)
    sf.write(str(singer / "a.wav"), _voice(3.0, 22050, 1), 22050)
    sf.write(str(singer / "b.ogg"), _voice(2.5, 44100, 2), 44100)
    speech = real / "vocals" / "someset" / "speech"
    speech.mkdir(parents=True)
    sf.write(str(speech / "s.wav"), _voice(2.0, 16000, 3), 16000)
    (real / "multitrack").mkdir()
    loops = base / "loops"
    loops.mkdir()
    rng = np.random.default_rng(0)
    for i, period in enumerate((0.25, 0.4)):
        n = int(1.2 * SAMPLE_RATE)
        hits = np.zeros(n, dtype=np.float32)
        step = int(period * SAMPLE_RATE)
        for s in range(0, n, step):
            m = min(n - s, 3000)
            hits[s : s + m] += rng.standard_normal(m).astype(np.float32) * np.exp(
                -np.arange(m) / 500
            ).astype(np.float32)
        sf.write(str(loops / f"loop_{i}.wav"), np.stack([hits, hits], 1) * 0.3, SAMPLE_RATE)
    return {"music": music, "real": real, "loops": loops}


def _config(data: dict[str, Path], **kw: object) -> MixConfig:
    base: dict = {
        "real_root": str(data["real"]),
        "realmusic_root": str(data["music"]),
        "drum_loops": (str(data["loops"] / "*.wav"),),
        "cache_dir": None,
        "seconds": 1.0,
        "samples_per_epoch": 12,
        "seed": 3,
    }
    base.update(kw)
    return MixConfig(**base)


# ------------------------------------------------------------------------- the new sources


@pytest.mark.parametrize(
    ("source", "known"),
    [
        ("vocals_over_real_music", (True, False, False, False)),
        ("real_music_only", (True, False, False, False)),
        ("drums_over_real_music", (True, True, False, False)),
    ],
)
def test_real_music_items_are_exact_sums_with_the_right_known_mask(
    data: dict[str, Path], source: str, known: tuple[bool, ...]
) -> None:
    ds = MixDataset(_config(data, proportions={source: 1.0}))
    voiced = 0
    for i in range(len(ds)):
        mix_t, stems_t, known_t = ds[i]
        mix, stems = mix_t.numpy(), stems_t.numpy()
        assert stems.shape == (4, 2, SAMPLE_RATE) and mix.dtype == np.float32
        np.testing.assert_array_equal(mix, stems.sum(axis=0))  # exactly, in float32
        assert known_t.dtype == torch.bool and tuple(known_t.tolist()) == known
        assert not stems[1:3].any() or source == "drums_over_real_music"
        assert not stems[2].any()  # the unknown drums/bass/other sum sits in 'other'
        assert rms_db(stems[3]) > -50.0  # the real music is there
        if source == "vocals_over_real_music":
            voiced += rms_db(stems[0]) > -60.0
        else:
            assert not stems[0].any()  # known silence
        if source == "drums_over_real_music":
            assert rms_db(stems[1]) > -50.0
            # over the drum-free track only
            assert _tone_energy(stems[3], MUSIC["drumless"][0]) > 0.9
    if source == "vocals_over_real_music":
        assert voiced >= len(ds) - 2  # a few may be drawn vocal-free (silent_prob)


def test_screened_out_and_unscreened_tracks_are_never_used(data: dict[str, Path]) -> None:
    bank = RealMusicBank(data["music"])
    assert sorted(t.name.split("/")[-1] for t in bank.tracks) == [
        "drumless.ogg", "drummy_a.ogg", "drummy_b.ogg"
    ]
    assert [t.name for t in RealMusicBank(data["music"], drums=False).tracks] == [
        "music/drumless.ogg"
    ]
    ds = MixDataset(_config(data, proportions={"real_music_only": 1.0}, samples_per_epoch=30))
    heard = set()
    for i in range(len(ds)):
        other = ds.example(i)[1][3]
        for name, (freq, _, _) in MUSIC.items():
            if _tone_energy(other, freq) > 0.5:
                heard.add(name)
    assert heard == {"drummy_a", "drummy_b", "drumless"}


def test_loader_batches_mixed_sources_with_their_masks(data: dict[str, Path]) -> None:
    props = {"synthetic": 0.0, "vocals_over_real_music": 0.5, "drums_over_real_music": 0.5}
    ds = MixDataset(_config(data, proportions=props, samples_per_epoch=8))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=0)
    masks = []
    for mix, stems, known in loader:
        assert mix.shape == (4, 2, SAMPLE_RATE) and known.shape == (4, 4)
        torch.testing.assert_close(mix, stems.sum(1), rtol=0, atol=0)
        masks += [tuple(k) for k in known.tolist()]
    assert set(masks) == {(True, False, False, False), (True, True, False, False)}


def test_the_known_mask_follows_the_source(data: dict[str, Path]) -> None:
    ds = MixDataset(_config(data, proportions={"real_music_only": 1.0}))
    for source in ("synthetic", "real_multitrack", "real_remix", "vocals_over_real"):
        assert ds.known_mask(source).all()
    assert ds.known_mask("real_music_only").tolist() == [True, False, False, False]
    assert set(REAL_MUSIC_SOURCES) == {
        "vocals_over_real_music", "real_music_only", "drums_over_real_music"
    }


def test_a_missing_bank_is_a_clear_error_or_skipped(data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(StemplayError, match="real_music_only .* no data"):
        MixDataset(_config(data, proportions={"real_music_only": 1.0},
                           realmusic_root=str(tmp_path / "none")))
    ds = MixDataset(_config(
        data, proportions={"drums_over_real_music": 0.5, "real_music_only": 0.5},
        drum_loops=(), drum_stems_from_synthetic=False, missing_sources="skip",
    ))
    assert ds.proportions["drums_over_real_music"] == 0.0  # no drums to lay: skipped
    assert ds.proportions["real_music_only"] == 1.0


def test_generated_drum_stems_serve_as_real_drums(data: dict[str, Path], tmp_path: Path) -> None:
    song = tmp_path / "synth" / "song_000"
    song.mkdir(parents=True)
    drums = _tone(150.0, 2.0)
    for name in STEMS:
        x = drums if name == "drums" else _tone(300.0, 2.0) * 0.1
        sf.write(str(song / f"{name}.flac"), np.stack([x, x], 1), SAMPLE_RATE)
    cfg = _config(data, proportions={"drums_over_real_music": 1.0}, drum_loops=(),
                  synthetic_dirs=(str(tmp_path / "synth"),))
    ds = MixDataset(cfg)
    assert ds.drums is not None and len(ds.drums.songs) == 1 and not ds.drums.loops
    _, stems, _ = ds.example(0)
    assert _tone_energy(stems[1], 150.0) > 0.9


def test_config_takes_the_new_sources_and_levels_from_yaml(data: dict[str, Path]) -> None:
    raw = yaml.safe_load(
        """
        proportions: {vocals_over_real_music: 0.6, real_music_only: 0.4}
        levels: {prob: 0.3, vocals_db: [-20, -10, 0]}
        vocals: {lead_level_db: [-18, -12, -8, -4, 3], speech_prob: 0.2}
        """
    )
    cfg = MixConfig.from_dict(raw | {"realmusic_root": str(data["music"])})
    assert cfg.levels == LevelConfig(prob=0.3, vocals_db=(-20, -10, 0))
    assert cfg.vocals.lead_level_db == (-18, -12, -8, -4, 3)
    assert cfg.proportions["vocals_over_real_music"] == 0.6
    with pytest.raises(StemplayError, match="levels key"):
        MixConfig.from_dict({"levels": {"loud": 1}})


# ------------------------------------------------------------------------- voices


def test_speech_folders_are_a_rarer_source_and_new_singing_folders_count(
    data: dict[str, Path], tmp_path: Path
) -> None:
    singing, speech = split_voice_files([data["real"] / "vocals"])
    assert [p.name for p in singing] == ["a.wav", "b.ogg"]
    assert [p.name for p in speech] == ["s.wav"]
    # a new singing folder appears: picked up without any code change
    root = tmp_path / "real"
    new = root / "vocals" / "brand_new_corpus" / "take1"
    new.mkdir(parents=True)
    sf.write(str(new / "x.flac"), _voice(2.0, 48000, 9), 48000)
    (root / "vocals" / "speech").mkdir()
    sf.write(str(root / "vocals" / "speech" / "y.wav"), _voice(2.0, 16000, 8), 16000)
    singing, speech = split_voice_files([root / "vocals"])
    assert [p.name for p in singing] == ["x.flac"] and [p.name for p in speech] == ["y.wav"]
    ds = MixDataset(_config(
        data, proportions={"vocals_over_real_music": 1.0}, real_root=str(root),
        vocals=VocalProduction(speech_prob=1.0, silent_prob=0.0),
    ))
    assert ds.voices is not None and [c.name for c in ds.voices.clips] == [str(singing[0])]
    assert ds.speech is not None and len(ds.speech) == 1
    assert "real speech as a rarer voice" in ds.describe()


def _f0(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)[np.argmax(spec)])


@pytest.mark.parametrize("semitones", [-3.0, 3.0])
def test_formant_keeping_shift_moves_the_pitch_and_keeps_length(semitones: float) -> None:
    x = _tone(440.0, 1.5)
    y = shift_voice(x, semitones)
    assert y.shape == x.shape and np.isfinite(y).all()
    mid = slice(SAMPLE_RATE // 4, SAMPLE_RATE)
    assert _f0(y[mid]) == pytest.approx(440.0 * 2 ** (semitones / 12), abs=6.0)


@pytest.mark.parametrize(
    "augment",
    [
        lambda x, rng: shift_voice(x, 2.5, 1.07),
        lambda x, rng: shift_voice(x, -3.0, 0.93),
        lambda x, rng: shift_voice(x, 0.0, 1.05),
        lambda x, rng: ride_level(x, rng, 10.0),
        lambda x, rng: double_take(x, rng),
    ],
    ids=["shift_up_faster", "shift_down_slower", "stretch_only", "ride", "double"],
)
def test_voice_augmentations_keep_length_and_stay_finite(augment) -> None:
    rng = np.random.default_rng(1)
    x = _voice(2.0, SAMPLE_RATE, 4)
    y = augment(x, rng)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert -12.0 < rms_db(y) - rms_db(x) < 6.0  # still the voice, not silence or a blast


def test_level_riding_is_slow_and_bounded() -> None:
    rng = np.random.default_rng(2)
    x = np.full(4 * SAMPLE_RATE, 0.1, dtype=np.float32)
    y = ride_level(x, rng, 8.0, (1.0, 1.0))
    gain_db = 20 * np.log10(y / 0.1)
    assert gain_db.min() >= -4.0 - 1e-3 and gain_db.max() <= 4.0 + 1e-3
    assert np.abs(np.diff(gain_db)).max() < 8.0 * np.pi / SAMPLE_RATE  # no steps


def test_voice_window_with_stretch_and_shift_has_the_asked_length() -> None:
    voice = _voice(4.0, SAMPLE_RATE, 5)
    clip = VocalClip("v", voice, activity(voice))
    rng = np.random.default_rng(0)
    for formant, stretch in ((3.0, 1.0), (0.0, 0.92), (-2.0, 1.08)):
        y = voice_window(clip, rng, SAMPLE_RATE, 1000, 0.3, 0.0, formant, stretch)
        assert y.shape == (SAMPLE_RATE + 1000,) and np.isfinite(y).all()
        assert rms_db(y) > -40.0


# ------------------------------------------------------------------------- levels


def test_draw_level_follows_its_quantile_points() -> None:
    rng = np.random.default_rng(0)
    draws = np.array([draw_level(rng, VOCALS_DB) for _ in range(20000)])
    assert draws.min() >= -18.0 and draws.max() <= 3.0
    probs = (0.1, 0.25, 0.5, 0.75, 0.9)
    np.testing.assert_allclose(np.quantile(draws, probs), quantiles_of(VOCALS_DB, probs),
                               atol=0.3)
    assert np.median(draws) < -6.0  # weighted toward quiet voices
    uniform = np.array([draw_level(rng, (-8.0, 1.0)) for _ in range(5000)])
    assert uniform.min() >= -8.0 and uniform.max() <= 1.0 and abs(uniform.mean() + 3.5) < 0.2


def test_balance_levels_puts_each_stem_at_its_drawn_level() -> None:
    rng = np.random.default_rng(0)
    stems = np.stack([np.stack([_tone(f, 1.0)] * 2) for f in (660, 150, 55, 1320)])
    cfg = LevelConfig(prob=1.0, vocals_db=(-12.0,), drums_db=(-9.0,), bass_db=(-4.0,))
    balance_levels(stems, rng, STEMS, cfg)
    levels = stem_levels(stems, STEMS)
    assert levels["vocals"] == pytest.approx(-12.0, abs=0.05)
    assert levels["drums"] == pytest.approx(-9.0, abs=0.05)
    # bass was set first, against drums as they were: within a few dB of its target
    assert abs(levels["bass"] + 4.0) < 4.0
    silent = stems.copy()
    silent[0] = 0.0
    balance_levels(silent, rng, STEMS, cfg)
    assert not silent[0].any()  # a silent stem stays silent


def test_voices_over_real_music_sit_at_the_drawn_level(data: dict[str, Path]) -> None:
    prod = VocalProduction(lead_level_db=(-10.0,), backing_prob=0.0, backing_only_prob=0.0,
                           silent_prob=0.0, entry_prob=0.0, ride_prob=0.0, speech_prob=0.0)
    ds = MixDataset(_config(data, proportions={"vocals_over_real_music": 1.0}, vocals=prod,
                            samples_per_epoch=6, seconds=2.0))
    from training.data.levels import active_rms_db

    for i in range(len(ds)):
        _, stems, _ = ds.example(i)
        assert active_rms_db(stems[0]) - rms_db(stems[3]) == pytest.approx(-10.0, abs=0.1)


# ------------------------------------------------------------------------- training


@pytest.mark.parametrize("partial", [True, False], ids=["3-tuples", "2-tuples"])
def test_train_takes_partial_label_batches_and_plain_ones(
    data: dict[str, Path], tmp_path: Path, toy_dataset: Path, partial: bool
) -> None:
    from training import train
    from training.trainconfig import config_from_dict

    if partial:
        dataset = {
            "target": "training.data.mix.MixDataset",
            "config_target": "training.data.mix.MixConfig",
            "config": {"proportions": {"vocals_over_real_music": 0.5, "real_music_only": 0.5},
                       "real_root": str(data["real"]), "realmusic_root": str(data["music"]),
                       "cache_dir": None, "samples_per_epoch": 4},
        }
    else:  # a dataset of (mix, stems) pairs still trains
        dataset = {"target": "training.data.synthetic.SyntheticDataset",
                   "kwargs": {"root": str(toy_dataset), "samples_per_epoch": 4}}
    cfg = config_from_dict({
        "name": "tiny", "run_dir": str(tmp_path / "run"), "frames": 16, "data": dataset,
        "model": {"name": "hybrid", "dim": 16, "heads": 2, "ff": 32, "layers": 1,
                  "unet_base": 4, "unet_depth": 2},
        "valid": {"dirs": [str(toy_dataset)], "excerpts": 1, "frames": 16},
        "train": {"batch_size": 2, "epochs": 1, "warmup_steps": 1},
    })
    summary = train.train(cfg)
    assert summary["step"] == 2
    rows = (tmp_path / "run" / "train.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in rows[-1]
