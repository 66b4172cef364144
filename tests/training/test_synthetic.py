"""The generated songs' loader (any MUSDB-style folder): layout discovery (WAV, FLAC, mono, other rates, .stem.mp4), excerpt
shapes, the mixture = sum of stems contract and each augmentation setting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.config import DEFAULT_STEMS, SAMPLE_RATE
from engine.decode import read_all
from engine.errors import StemplayError
from training.data import synthetic
from training.data.augment import AugmentConfig

SECONDS = 3.0


def _stem_signal(k: int, n: int, rate: int) -> np.ndarray:
    """Distinct stereo content per stem: a sine of (220 * (k+1)) Hz, L and R in different
    phase so that a channel swap is visible; ``(samples, 2)``."""
    t = np.arange(n) / rate
    f = 220.0 * (k + 1)
    return 0.2 * np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], 1)


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("musdb")
    n = int(SECONDS * SAMPLE_RATE)
    a = root / "train" / "song_wav"  # 44.1 kHz stereo WAV; vocals silent in the first half
    a.mkdir(parents=True)
    for k, s in enumerate(DEFAULT_STEMS):
        x = _stem_signal(k, n, SAMPLE_RATE)
        if s == "vocals":
            x[: n // 2] = 0.0
        sf.write(a / f"{s}.wav", x, SAMPLE_RATE, subtype="FLOAT")
    b = root / "train" / "song_flac"  # 22.05 kHz FLAC, mono vocals
    b.mkdir()
    for k, s in enumerate(DEFAULT_STEMS):
        x = _stem_signal(k, int(SECONDS * 22050), 22050)
        sf.write(b / f"{s}.flac", x[:, :1] if s == "vocals" else x, 22050, subtype="PCM_24")
    (root / "test" / "other_song").mkdir(parents=True)
    for k, s in enumerate(DEFAULT_STEMS):
        sf.write(
            root / "test" / "other_song" / f"{s}.wav", _stem_signal(k, n, SAMPLE_RATE), SAMPLE_RATE
        )
    return root


def test_find_tracks_reads_the_split_folders(musdb_root: Path) -> None:
    train = synthetic.find_tracks(musdb_root, "train")
    assert [t.name for t in train] == ["song_flac", "song_wav"]
    assert [t.name for t in synthetic.find_tracks(musdb_root, "test")] == ["other_song"]
    assert len(synthetic.find_tracks(musdb_root)) == 3
    assert abs(train[0].samples - SECONDS * SAMPLE_RATE) <= 2
    with pytest.raises(StemplayError):
        synthetic.find_tracks(musdb_root / "missing")


def test_flac_mono_and_22k_are_resampled_to_stereo_44k(musdb_root: Path) -> None:
    track = synthetic.find_tracks(musdb_root, "train")[0]
    start = SAMPLE_RATE  # one second in
    x = track.read(DEFAULT_STEMS, start, 4410)
    assert x.shape == (4, 2, 4410) and x.dtype == np.float32
    ref = _stem_signal(1, 2 * SAMPLE_RATE, SAMPLE_RATE)[start : start + 4410].T  # drums
    assert np.max(np.abs(x[1] - ref)) < 2e-3  # resampled, not just relabelled
    np.testing.assert_array_equal(x[0, 0], x[0, 1])  # mono vocals doubled


def _make_stem_mp4(folder: Path) -> Path:
    n = int(2.0 * SAMPLE_RATE)
    freqs = {"mixture": 200, "drums": 400, "bass": 600, "other": 800, "vocals": 1000}
    inputs = []
    for name, f in freqs.items():
        t = np.arange(n) / SAMPLE_RATE
        x = 0.3 * np.sin(2 * np.pi * f * t)
        sf.write(folder / f"{name}.wav", np.stack([x, x], 1), SAMPLE_RATE)
        inputs += ["-i", str(folder / f"{name}.wav")]
    out = folder / "tiny.stem.mp4"
    maps = [a for k in range(5) for a in ("-map", str(k))]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, *maps, "-c:a", "aac", "-b:a", "128k", str(out)],
        check=True,
        timeout=120,
    )
    return out


def test_stem_mp4_stream_order(tmp_path: Path) -> None:
    _make_stem_mp4(tmp_path)
    (track,) = [t for t in synthetic.find_tracks(tmp_path) if t.is_mp4]
    x = track.read(("vocals", "drums", "bass", "other"), 22050, 44100)
    assert x.shape == (4, 2, 44100)
    for stem, want in zip(x, (1000, 400, 600, 800), strict=True):
        spectrum = np.abs(np.fft.rfft(stem[0]))
        assert abs(np.argmax(spectrum) * SAMPLE_RATE / 44100 - want) <= 2  # Hz


def test_dataset_items_have_the_requested_shape_and_exact_mix(musdb_root: Path) -> None:
    ds = synthetic.SyntheticDataset(musdb_root, "train", seconds=1.0, samples_per_epoch=5, seed=3)
    assert len(ds) == 5
    mix, stems = ds[0]
    assert tuple(mix.shape) == (2, SAMPLE_RATE) and tuple(stems.shape) == (4, 2, SAMPLE_RATE)
    assert str(mix.dtype) == "torch.float32"
    assert np.array_equal(mix.numpy(), stems.numpy().sum(axis=0))
    again = ds[0][1].numpy()
    np.testing.assert_array_equal(again, stems.numpy())  # deterministic in (seed, epoch, i)
    ds.set_epoch(1)
    assert not np.array_equal(ds[0][1].numpy(), stems.numpy())


def _find_in(track_signal: np.ndarray, excerpt: np.ndarray) -> bool:
    """Whether ``excerpt`` (2, m) is a slice of ``track_signal`` (2, n) within 1e-6."""
    m = excerpt.shape[1]
    for s in range(track_signal.shape[1] - m + 1):
        if np.max(np.abs(track_signal[:, s : s + m] - excerpt)) < 1e-6:
            return True
    return False


@pytest.mark.parametrize("swap,flip", [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
def test_augmentation_settings_are_respected(musdb_root: Path, swap: float, flip: float) -> None:
    cfg = AugmentConfig(
        remix_prob=0.0,
        gain_db=(0.0, 0.0),
        channel_swap_prob=swap,
        polarity_flip_prob=flip,
        vocal_redraws=0,
    )
    ds = synthetic.SyntheticDataset(musdb_root / "test", seconds=0.01, samples_per_epoch=3, augment=cfg)
    drums = read_all(musdb_root / "test" / "other_song" / "drums.wav")
    want_sign = -1.0 if flip else 1.0
    for i in range(3):
        x = ds.example(i)[1]  # drums
        seen = x[::-1] if swap else x
        assert _find_in(drums, want_sign * seen)


def test_gain_range_is_applied(musdb_root: Path) -> None:
    cfg = AugmentConfig(
        remix_prob=0.0,
        gain_db=(6.0, 6.0),
        channel_swap_prob=0.0,
        polarity_flip_prob=0.0,
        vocal_redraws=0,
    )
    plain = synthetic.SyntheticDataset(musdb_root / "test", seconds=0.5, augment=AugmentConfig.none())
    loud = synthetic.SyntheticDataset(musdb_root / "test", seconds=0.5, augment=cfg)
    ratio = np.abs(loud.example(0)).max() / np.abs(plain.example(0)).max()
    assert ratio == pytest.approx(10 ** (6 / 20), rel=1e-4)


def test_silence_aware_sampling_avoids_silent_vocals(musdb_root: Path) -> None:
    """Vocals of song_wav are silent for the first half: plain sampling lands there often,
    silence-aware sampling rarely."""

    def silent_share(cfg: AugmentConfig) -> float:
        ds = synthetic.SyntheticDataset(
            musdb_root / "train" / "song_wav", seconds=0.5, samples_per_epoch=40, augment=cfg
        )
        return float(np.mean([np.abs(ds.example(i)[0]).max() < 1e-4 for i in range(40)]))

    plain = silent_share(AugmentConfig.none())
    aware = silent_share(
        AugmentConfig(
            remix_prob=0.0,
            gain_db=(0.0, 0.0),
            channel_swap_prob=0,
            polarity_flip_prob=0,
            vocal_redraws=4,
            silent_vocals_keep_prob=0.0,
        )
    )
    assert plain > 0.3 and aware < 0.1


def test_speed_change_keeps_the_length_and_moves_pitch(musdb_root: Path) -> None:
    cfg = AugmentConfig(
        remix_prob=0.0,
        gain_db=(0.0, 0.0),
        channel_swap_prob=0,
        polarity_flip_prob=0,
        speed_prob=1.0,
        speed_range=(1.06, 1.06),
        vocal_redraws=0,
    )
    ds = synthetic.SyntheticDataset(musdb_root / "test", seconds=1.0, augment=cfg)
    x = ds.example(0)
    assert x.shape == (4, 2, SAMPLE_RATE)
    peak_hz = np.argmax(np.abs(np.fft.rfft(x[1, 0]))) * SAMPLE_RATE / x.shape[-1]
    assert peak_hz == pytest.approx(440 * 1.06, abs=3)
