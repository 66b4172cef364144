"""Synthetic song generator: layout, determinism, exact mixture, levels, split isolation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from training.synth import cli, production, song, sources

SECONDS = 5.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    for split, seed in (("train", 11), ("test", 12)):
        assert (
            cli.main(
                [
                    "-o",
                    str(out / split),
                    "--songs",
                    "1",
                    "--seconds",
                    str(SECONDS),
                    "--seed",
                    str(seed),
                    "--split",
                    split,
                    "--jobs",
                    "1",
                ]
            )
            == 0
        )
    return out


def _read(folder: Path, name: str) -> np.ndarray:
    data, rate = sf.read(folder / f"{name}.wav", dtype="int16", always_2d=True)
    assert rate == SAMPLE_RATE
    return data


def test_layout_rate_and_length(dataset: Path) -> None:
    folder = dataset / "train" / "train-00000"
    for name in ("mixture", *DEFAULT_STEMS):
        info = sf.info(folder / f"{name}.wav")
        assert (info.samplerate, info.channels) == (SAMPLE_RATE, 2)
        assert info.frames == int(SECONDS * SAMPLE_RATE)
    manifest = json.loads((dataset / "train" / "manifest.json").read_text())
    assert manifest["summary"]["songs"] == 1 and manifest["songs"][0]["seconds"] == SECONDS


def test_mixture_is_the_exact_sum_and_nothing_clips(dataset: Path) -> None:
    folder = dataset / "train" / "train-00000"
    stems = [_read(folder, s).astype(np.int32) for s in DEFAULT_STEMS]
    mix = _read(folder, "mixture").astype(np.int32)
    np.testing.assert_array_equal(mix, sum(stems))  # exact on the PCM grid
    ceiling = production.PEAK_CEILING * 32768 + 1
    assert max(int(np.abs(x).max()) for x in [mix, *stems]) <= ceiling


def test_every_stem_is_audible(dataset: Path) -> None:
    for split in ("train", "test"):
        folder = dataset / split / f"{split}-00000"
        for s in DEFAULT_STEMS:
            x = _read(folder, s).astype(np.float64) / 32768
            assert 10 * np.log10(np.mean(x**2) + 1e-20) > -45.0, (split, s)


def test_same_seed_gives_identical_stems(dataset: Path) -> None:
    meta = json.loads((dataset / "train" / "train-00000" / "meta.json").read_text())
    again = song.generate(meta["seed"], SECONDS, "train")
    ints, mix = production.quantise(again.stems, 16)
    folder = dataset / "train" / "train-00000"
    for s in DEFAULT_STEMS:
        np.testing.assert_array_equal(ints[s], _read(folder, s))
    np.testing.assert_array_equal(mix, _read(folder, "mixture"))


def test_test_split_shares_no_source_with_train(dataset: Path) -> None:
    train = json.loads((dataset / "train" / "manifest.json").read_text())["songs"]
    test = json.loads((dataset / "test" / "manifest.json").read_text())["songs"]
    used_train = set().union(*(cli.used_sources(m) for m in train))
    used_test = set().union(*(cli.used_sources(m) for m in test))
    assert used_test and not used_train & used_test
    assert {m["seed"] for m in train}.isdisjoint(m["seed"] for m in test)
    # the catalogues themselves are disjoint: kits, soundfonts, voice settings
    assert not {k.name for k in sources.drum_kits("train")} & {
        k.name for k in sources.drum_kits("test")
    }
    assert not set(sources.soundfonts("train")) & set(sources.soundfonts("test"))
    assert not {v.key for v in sources.voices("train")} & {v.key for v in sources.voices("test")}


def test_demo_song_has_silent_vocal_sections() -> None:
    """The committed demo (a generated song) has vocals in some sections only."""
    folder = Path(__file__).resolve().parents[2] / "assets" / "demo"
    if not (folder / "vocals.flac").exists():
        pytest.skip("assets/demo not generated")
    x, rate = sf.read(folder / "vocals.flac", dtype="float32")
    assert rate == SAMPLE_RATE and 40 <= len(x) / rate <= 50
    block = SAMPLE_RATE // 2
    env = np.sqrt(np.mean(x[: len(x) // block * block].reshape(-1, block, 2) ** 2, axis=(1, 2)))
    db = 20 * np.log10(env + 1e-9)
    assert np.mean(db < -60) > 0.1  # silent for at least 10 % of the song (intro, gaps)
    assert np.mean(db > -40) > 0.4  # and clearly present for much of it


def test_preview_writes_excerpts_and_spectrograms(toy_dataset: Path, tmp_path: Path) -> None:
    """``python -m training preview``: per song, each stem and the mixture as a short WAV
    (the stems sum to the mixture) and a spectrogram PNG, plus one overview sheet."""
    from PIL import Image

    from training.synth import preview

    out = tmp_path / "preview"
    assert preview.main([str(toy_dataset), "-o", str(out), "--songs", "1", "--seconds", "1"]) == 0
    (folder,) = sorted(out.iterdir())
    parts = {name: sf.read(folder / f"{name}.wav", dtype="float32")[0]
             for name in ("mixture", *DEFAULT_STEMS)}
    assert all(len(x) == SAMPLE_RATE for x in parts.values())
    np.testing.assert_allclose(sum(parts[s] for s in DEFAULT_STEMS), parts["mixture"], atol=4e-4)
    for name in ("mixture", *DEFAULT_STEMS, "overview"):
        with Image.open(folder / f"{name}.png") as img:
            assert img.width > 40 and img.height > 100  # ~43 STFT frames of 1 s, 256 rows
    assert preview.main([str(tmp_path / "nothing"), "-o", str(out)]) == 1
