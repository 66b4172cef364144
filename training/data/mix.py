"""The training Dataset that mixes synthetic songs with real recordings, in configured proportions.

Owns ``MixDataset`` (a PyTorch map-style dataset over a ``MixConfig``, the frozen YAML schema of
``training/data/mixconfig.py``, re-exported here for the configs), ``finish_example`` (the
item's channel swap, polarity, loudness and peak guard) and the listening-check command line.
Each item is one excerpt drawn from one of eight sources:

- ``synthetic``: a generated song (MUSDB-style folders from ``python -m training synth``);
- ``real_multitrack``: a real multitrack song of the training split, as it is;
- ``real_remix``: each stem from a different real song at its own random offset and gain
  (tempo-agnostic: nothing is aligned);
- ``vocals_over_synthetic`` / ``vocals_over_real``: an isolated real voice, produced as a lead
  and/or backing vocal (EQ, compression, stereo placement, delay, reverb — see
  ``training/data/voices.py``), over the drums, bass and other of a generated or real song, at
  a drawn level relative to that accompaniment. The vocal stem holds the voice with its effects.

Partial-label sources over the real instrumental music bank (``training/data/realmusic.py``:
screened game soundtracks, hours of them), whose drums / bass / other are known only as a sum:

- ``vocals_over_real_music``: a produced real voice over a real instrumental excerpt; vocals
  known, the excerpt (all of it in ``other``) stands for drums + bass + other;
- ``real_music_only``: an instrumental excerpt alone; vocals known (silent), the rest a sum;
- ``drums_over_real_music``: real drums (``sonic-pi-samples`` loops, drum stems of generated
  songs) over a track the screening found drum-free; vocals (silent) and drums known, bass +
  other a sum.

Each item says which stems are exact: ``dataset[i]`` is ``(mix, stems, known)`` and the loss
(``training/losses.py``) scores unknown stems only through their sum. Levels follow real songs
(``training/data/levels.py``; measured in ``training/DATA.md``, "Levels"): the voice from -18 to
+3 dB against the band, weighted toward quiet, and drums and bass of generated and re-mixed
items redrawn the same way. Voices are varied per item (``VocalProduction``): formant-keeping
pitch shift of ±3 semitones, small time stretch, level riding, doubles and harmonies of the
same take, and now and then real speech instead of singing.

The mixture is always the exact float32 sum of the returned stems. Items are deterministic in
``(config.seed, epoch, index)``; call ``set_epoch`` before each epoch for fresh excerpts.

Runs in the training process or in DataLoader worker processes (each worker holds a copy of
the dataset; the real audio is memory-mapped from the cache so the copies share RAM).

In a training config (``python -m training train``)::

    data:
      target: training.data.mix.MixDataset
      config_target: training.data.mix.MixConfig
      config:
        proportions: {synthetic: 0.22, real_multitrack: 0.1, real_remix: 0.1,
                      vocals_over_synthetic: 0.12, vocals_over_real: 0.08,
                      vocals_over_real_music: 0.2, real_music_only: 0.08,
                      drums_over_real_music: 0.1}
        synthetic_dirs: [/work/data/synth/train]
        samples_per_epoch: 4000
        missing_sources: skip        # same file on a machine without the real data

Listening check: ``python -m training.data.mix CONFIG.yaml -o OUT --items 8`` writes items as
MUSDB-style folders ``OUT/<nn>_<source>/{mixture,vocals,drums,bass,other}.wav`` (then
``python -m training preview OUT`` draws their spectrograms).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml
from torch.utils.data import Dataset

from engine.config import SAMPLE_RATE
from engine.errors import StemplayError
from training.data.audiofiles import expand_patterns
from training.data.augment import augment_stem, change_speed, channel_swap, polarity_flip, rms_db
from training.data.banks import (
    DrumBank,
    RealMusicBank,
    StemBank,
    VocalBank,
    default_realmusic_root,
    split_voice_files,
)
from training.data.levels import balance_levels, draw_level, set_level
from training.data.mixconfig import (
    REAL_MUSIC_SOURCES,
    SOURCES,
    VOICE_SOURCES,
    MixConfig,
)
from training.data.multitrack import MultitrackBank
from training.data.splits import default_real_root, real_tracks, real_vocal_dirs
from training.data.synthetic import SyntheticSongs
from training.data.voices import SILENT_DB, fit, vocal_stem

log = logging.getLogger(__name__)

#: Credit line for model cards whose training used the real sources (their licences ask it).
REAL_CREDITS = (
    "trained partly on real recordings: the MedleyDB 'MusicDelta' multitracks as distributed "
    "with MDB Drums (CC BY-NC-SA 4.0); SiSEC 2011 'The Ultimate NZ Tour' (remix by Michel "
    "Desnoues, Telecom ParisTech; CC BY-NC-SA 3.0); GTSinger and M4Singer demo clips "
    "(CC BY-NC-SA 4.0); vocadito (CC BY 4.0); Children's Song Dataset (CC BY-NC-SA 4.0)"
)

#: Credit line when real drum loops of Debian's sonic-pi-samples are laid over real music.
SONIC_PI_CREDITS = "real drum loops from Debian's sonic-pi-samples (Sonic Pi, CC0 / CC-BY)"

#: Credit line when the Frets on Fire guitar tracks from Debian are used as extra stems.
FOF_CREDITS = (
    "isolated guitar tracks from Debian's fretsonfire-songs-muldjord (Muldjord, CC BY-SA 3.0) "
    "and fretsonfire-songs-sectoid (Sectoid, MIT-style licence)"
)


def finish_example(
    stems: np.ndarray, rng: np.random.Generator, config: MixConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Channel swap, polarity flip, drawn loudness, peak guard; returns ``(mix, stems)``.

    ``stems``: ``(stems, 2, samples)``. Every step scales or permutes all stems alike, so the
    returned mixture ``(2, samples)`` is exactly ``stems.sum(0)`` in float32, with no sample
    of the mixture or of a stem beyond ±0.99.
    """
    stems = np.ascontiguousarray(stems, dtype=np.float32)
    stems = channel_swap(stems, rng, config.channel_swap_prob)
    stems = polarity_flip(stems, rng, config.polarity_flip_prob)
    level = rms_db(stems.sum(axis=0))
    if level > SILENT_DB:
        stems *= np.float32(10 ** ((rng.uniform(*config.loudness_db) - level) / 20))
    mix = stems.sum(axis=0)
    peak = max(float(np.abs(mix).max(initial=0.0)), float(np.abs(stems).max(initial=0.0)))
    if peak > 0.99:
        stems *= np.float32(0.99 / peak)
        mix = stems.sum(axis=0)
    return mix.astype(np.float32), stems


# --------------------------------------------------------------------------- dataset


def _real_excerpt(
    bank: MultitrackBank,
    rng: np.random.Generator,
    samples: int,
    vocal_index: int | None,
    instrumental_prob: float = 1.0,
) -> np.ndarray:
    """A coherent excerpt ``(stems, 2, samples)`` of one real training song. With ``vocal_index``
    set, a song with vocals is drawn unless a coin of ``instrumental_prob`` says any song (by
    length), and a window where the vocals are audible is preferred (up to 4 redraws)."""
    any_song = vocal_index is None or rng.random() < instrumental_prob
    song = bank.draw(rng, with_stem=None if any_song else vocal_index)
    want_vocals = vocal_index is not None and song.has_stem(vocal_index)
    out = np.zeros((len(bank.stems), 2, samples), dtype=np.float32)
    for attempt in range(4):
        start = int(rng.integers(0, max(song.samples - samples, 0) + 1))
        out = fit(song.stems, samples, start)
        if not want_vocals or rms_db(out[vocal_index]) > -50.0 or attempt == 3:
            break
    return out


class MixDataset(Dataset):
    """Training excerpts from synthetic and real sources in the proportions of ``MixConfig``.

    ``dataset[i]`` → ``(mix, stems, known)``: float32 tensors ``(channels=2, samples)`` and
    ``(stems, channels=2, samples)``, ``mix == stems.sum(0)`` exactly, and a bool tensor
    ``(stems,)`` saying which stems are exact (see ``known_mask``; the unknown ones hold their
    sum in ``other``). ``len`` is ``samples_per_epoch``; every epoch holds each source's share
    exactly (rounded). Raises ``StemplayError`` when a source has weight but no data.
    """

    def __init__(self, config: MixConfig) -> None:
        self.config = config
        self.stems = tuple(config.stems)
        self.vocal_index = self.stems.index("vocals") if "vocals" in self.stems else None
        weights = {s: float(config.proportions.get(s, 0.0)) for s in SOURCES}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise StemplayError("mix proportions must be non-negative and not all zero")
        needs_vocals = sum(weights[s] for s in VOICE_SOURCES) > 0
        needs_music = sum(weights[s] for s in REAL_MUSIC_SOURCES) > 0
        if (needs_vocals or needs_music) and self.vocal_index is None:
            raise StemplayError(
                "vocal and real-music mix sources need a 'vocals' stem in the config's stems"
            )
        if weights["drums_over_real_music"] > 0 and "drums" not in self.stems:
            raise StemplayError("drums_over_real_music needs a 'drums' stem in the config's stems")
        real_root = Path(config.real_root) if config.real_root else default_real_root()
        music_root = (
            Path(config.realmusic_root) if config.realmusic_root else default_realmusic_root()
        )
        # where the sum of the unknown stems of a real-music item goes
        self.rest_index = self.stems.index("other") if "other" in self.stems else len(self.stems) - 1

        self.synthetic: SyntheticSongs | None = None
        drum_stems_wanted = weights["drums_over_real_music"] > 0 and config.drum_stems_from_synthetic
        if weights["synthetic"] + weights["vocals_over_synthetic"] > 0 or drum_stems_wanted:
            self.synthetic = SyntheticSongs(
                config.synthetic_dirs,
                self.stems,
                config.seconds,
                config.synthetic_augment,
                config.seed,
            )
        self.real: MultitrackBank | None = None
        if weights["real_multitrack"] + weights["real_remix"] + weights["vocals_over_real"] > 0:
            self.real = MultitrackBank(
                real_tracks("train", real_root), self.stems, config.cache_dir
            )
        self.voices: VocalBank | None = None
        self.speech: VocalBank | None = None
        if needs_vocals:
            singing, spoken = split_voice_files(real_vocal_dirs(real_root))
            self.voices = VocalBank(singing, config.cache_dir)
            if spoken and config.vocals.speech_prob > 0:
                self.speech = VocalBank(spoken, config.cache_dir)
        # the real-music bank: all kept tracks, and the drum-free ones
        self.music: RealMusicBank | None = None
        if weights["vocals_over_real_music"] + weights["real_music_only"] > 0:
            self.music = RealMusicBank(music_root)
        self.drumless: RealMusicBank | None = None
        self.drums: DrumBank | None = None
        if weights["drums_over_real_music"] > 0:
            self.drumless = RealMusicBank(music_root, drums=False)
            songs = []
            if config.drum_stems_from_synthetic and self.synthetic is not None:
                songs = [
                    (t.files["drums"], t.samples)
                    for ds in self.synthetic.sets
                    for t in ds.tracks
                    if "drums" in t.files
                ]
            self.drums = DrumBank(
                expand_patterns(config.drum_loops), songs, config.cache_dir, config.drum_loop_prob
            )
        # stem index -> isolated extra recordings of that stem (used by _remix)
        self.extras: dict[int, StemBank] = {}
        if weights["real_remix"] + weights["vocals_over_real"] > 0:
            for name, patterns in config.extra_stems.items():
                if name not in self.stems:
                    raise StemplayError(f"extra_stems names {name!r}, not one of {self.stems}")
                files = expand_patterns(patterns)
                if not files:
                    message = f"extra_stems {name}: no audio file matches {', '.join(patterns)}"
                    if config.missing_sources != "skip":
                        raise StemplayError(message)
                    log.warning("%s: skipped", message)
                    continue
                self.extras[self.stems.index(name)] = StemBank(files, config.cache_dir)
        # stem index -> median RMS (dBFS) of that stem over the real songs where it plays
        self._stem_ref_db = {
            k: float(
                np.median(
                    [rms_db(np.asarray(s.stems[k])) for s in self.real.songs if s.present[k]]
                    or [-20.0]
                )
            )
            for k in self.extras
            if self.real is not None
        }

        have = {
            "synthetic": bool(self.synthetic and len(self.synthetic)),
            "real_multitrack": bool(self.real and len(self.real)),
            "real_remix": bool(self.real and len(self.real) > 1),
            "vocals_over_synthetic": bool(self.synthetic and len(self.synthetic) and self.voices),
            "vocals_over_real": bool(self.real and len(self.real) and self.voices),
            "vocals_over_real_music": bool(self.music and len(self.music) and self.voices),
            "real_music_only": bool(self.music and len(self.music)),
            "drums_over_real_music": bool(
                self.drumless and len(self.drumless) and self.drums and len(self.drums)
            ),
        }
        syn = ", ".join(config.synthetic_dirs) or "(no synthetic_dirs)"
        multi, voc = real_root / "multitrack", real_root / "vocals"
        where = {
            "synthetic": syn,
            "real_multitrack": f"{multi} (training split)",
            "real_remix": f"{multi} (training split, needs two songs)",
            "vocals_over_synthetic": f"{syn} and {voc}",
            "vocals_over_real": f"{multi} and {voc}",
            "vocals_over_real_music": f"{music_root} (screened 'keep' tracks) and {voc}",
            "real_music_only": f"{music_root} (screened 'keep' tracks)",
            "drums_over_real_music": (
                f"{music_root} (kept tracks without drums) and drum loops "
                f"({', '.join(config.drum_loops) or 'none'}) or synthetic drum stems"
            ),
        }
        if config.missing_sources not in ("error", "skip"):
            raise StemplayError(
                f"missing_sources must be error or skip, not {config.missing_sources!r}"
            )
        for s in SOURCES:
            if weights[s] > 0 and not have[s]:
                message = f"mix source {s} has weight {weights[s]:g} but no data in {where[s]}"
                if config.missing_sources == "error":
                    raise StemplayError(message)
                log.warning("%s: skipped", message)
                weights[s] = 0.0
        if sum(weights.values()) <= 0:
            raise StemplayError("no mix source with weight has any data")
        total = sum(weights.values())
        self.proportions = {s: weights[s] / total for s in SOURCES}
        self.epoch = 0
        self._plan = self._make_plan()

    # ------------------------------------------------------------------ epoch plan

    def _make_plan(self) -> np.ndarray:
        """Source index per item of the epoch: exact shares (largest remainder), shuffled."""
        n = self.config.samples_per_epoch
        p = np.array([self.proportions[s] for s in SOURCES])
        counts = np.floor(p * n).astype(int)
        rest = np.argsort(-(p * n - counts), kind="stable")[: n - counts.sum()]
        counts[rest] += 1
        plan = np.repeat(np.arange(len(SOURCES)), counts)
        return np.random.default_rng([self.config.seed, self.epoch, 7]).permutation(plan)

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of excerpts (same shares) for ``epoch``."""
        self.epoch = int(epoch)
        self._plan = self._make_plan()

    def __len__(self) -> int:
        return self.config.samples_per_epoch

    def source_of(self, index: int) -> str:
        return SOURCES[int(self._plan[index])]

    # ------------------------------------------------------------------ items

    def known_mask(self, source: str) -> np.ndarray:
        """Which stems an item of ``source`` gives exactly: bool ``(stems,)``. All of them,
        except over the real-music bank: vocals (and drums for ``drums_over_real_music``)."""
        known = np.ones(len(self.stems), dtype=bool)
        if source in REAL_MUSIC_SOURCES:
            known[:] = False
            if self.vocal_index is not None:
                known[self.vocal_index] = True
            if source == "drums_over_real_music":
                known[self.stems.index("drums")] = True
        return known

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """``(mix (2, samples), stems (stems, 2, samples), source name)`` as numpy float32;
        ``known_mask(source)`` says which stems are exact."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        source = self.source_of(index)
        rng = np.random.default_rng([self.config.seed, self.epoch, index])
        samples = self.config.samples
        levels = self.config.levels
        if source == "synthetic":
            assert self.synthetic is not None
            stems = self.synthetic.excerpt(rng)
            if rng.random() < levels.prob:
                balance_levels(stems, rng, self.stems, levels)
        elif source in REAL_MUSIC_SOURCES:
            stems = self._over_real_music(source, rng, samples)
        elif source == "real_multitrack":
            assert self.real is not None
            stems = _real_excerpt(
                self.real, rng, samples, self.vocal_index, self.config.multitrack_any_song_prob
            )
        elif source == "real_remix":
            stems = self._remix(rng, samples)
            if rng.random() < levels.prob:
                balance_levels(stems, rng, self.stems, levels)
        else:
            stems = self._vocals_over(source, rng, samples)
        mix, stems = finish_example(stems, rng, self.config)
        return mix, stems, source

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mix, stems, source = self.example(index)
        known = torch.from_numpy(self.known_mask(source))
        return torch.from_numpy(mix), torch.from_numpy(stems), known

    def _over_real_music(
        self, source: str, rng: np.random.Generator, samples: int
    ) -> np.ndarray:
        """``(stems, 2, samples)`` of a real-music item: the instrumental excerpt in ``other``
        (standing for drums + bass + other), plus a produced voice or real drums."""
        assert self.vocal_index is not None
        stems = np.zeros((len(self.stems), 2, samples), dtype=np.float32)
        if source == "drums_over_real_music":
            assert self.drumless is not None and self.drums is not None
            stems[self.rest_index] = self.drumless.excerpt(rng, samples)
            k = self.stems.index("drums")
            stems[k] = self.drums.excerpt(rng, samples)
            # drums against the music at a level drawn like real songs' drums against the band
            set_level(stems, k, draw_level(rng, self.config.levels.drums_db), [self.rest_index])
            return stems
        assert self.music is not None
        stems[self.rest_index] = self.music.excerpt(rng, samples)
        if source == "vocals_over_real_music":
            assert self.voices is not None
            stems[self.vocal_index] = vocal_stem(
                self.voices, rng, self.config.vocals, samples, rms_db(stems[self.rest_index]),
                self.speech,
            )
        return stems

    def _remix(self, rng: np.random.Generator, samples: int) -> np.ndarray:
        """Each stem from an independently drawn real song (or extra recording), at its own
        offset, gain, channel order, polarity and speed (nothing is aligned)."""
        assert self.real is not None
        aug = self.config.remix_augment
        out = np.zeros((len(self.stems), 2, samples), dtype=np.float32)
        for k in range(len(self.stems)):
            if k == self.vocal_index and rng.random() < self.config.remix_silent_vocals_prob:
                continue
            speed = float(rng.uniform(*aug.speed_range)) if rng.random() < aug.speed_prob else 1.0
            need = int(np.ceil(samples * speed)) + 8 if speed != 1.0 else samples
            if k in self.extras and rng.random() < self.config.extra_stem_prob:
                x = self.extras[k].excerpt(rng, need)
                # at the typical level of this stem in the real songs
                if rms_db(x) > SILENT_DB:
                    x = x * np.float32(10 ** ((self._stem_ref_db[k] - rms_db(x)) / 20))
            else:
                song = self.real.draw(rng, with_stem=k)
                x = np.zeros((2, need), dtype=np.float32)
                for attempt in range(4):  # prefer a window where this stem is audible
                    start = int(rng.integers(0, max(song.samples - need, 0) + 1))
                    x = fit(song.stems[k], need, start)
                    if rms_db(x) > aug.silent_stem_db or attempt == 3:
                        break
            x = change_speed(x[None], speed, samples)[0]
            out[k] = augment_stem(x, rng, aug)
        return out

    def _vocals_over(self, source: str, rng: np.random.Generator, samples: int) -> np.ndarray:
        """Accompaniment (generated or real, its own vocals removed) plus a produced real voice."""
        assert self.voices is not None and self.vocal_index is not None
        if source == "vocals_over_synthetic":
            assert self.synthetic is not None
            stems = self.synthetic.excerpt(rng)
        elif rng.random() < self.config.vocals_over_remix_prob:
            stems = self._remix(rng, samples)  # drums, bass, other from different real songs
        else:
            assert self.real is not None
            stems = _real_excerpt(self.real, rng, samples, None)
        stems[self.vocal_index] = 0.0
        if rng.random() < self.config.levels.prob:  # drums and bass like real songs
            balance_levels(stems, rng, self.stems, self.config.levels, vocals=False)
        accompaniment_db = rms_db(stems.sum(axis=0))
        stems[self.vocal_index] = vocal_stem(
            self.voices, rng, self.config.vocals, samples, accompaniment_db, self.speech
        )
        return stems

    # ------------------------------------------------------------------ reporting

    def describe(self) -> str:
        """A few lines for logs and model cards: proportions and amount of data per source."""
        lines = [
            "training mix: "
            + ", ".join(f"{s} {p:.0%}" for s, p in self.proportions.items() if p > 0)
        ]
        if self.synthetic is not None:
            lines.append(
                f"synthetic songs: {len(self.synthetic)} "
                f"({self.synthetic.lengths.sum() / SAMPLE_RATE / 60:.1f} min)"
            )
        if self.real is not None:
            lines.append(
                f"real multitrack training songs: {len(self.real)} "
                f"({self.real.seconds / 60:.1f} min): " + ", ".join(s.name for s in self.real.songs)
            )
        if self.voices is not None:
            lines.append(
                f"real isolated voices: {len(self.voices)} clips "
                f"({self.voices.seconds / 60:.1f} min)"
            )
        if self.speech is not None:
            lines.append(
                f"real speech as a rarer voice (p={self.config.vocals.speech_prob:g}): "
                f"{len(self.speech)} clips ({self.speech.seconds / 60:.1f} min)"
            )
        for label, music in (("instrumental", self.music), ("drum-free", self.drumless)):
            if music is not None:
                lines.append(
                    f"real {label} music (partial labels): {len(music)} tracks "
                    f"({music.seconds / 3600:.2f} h): "
                    + "; ".join(f"{p} ({lic})" for p, lic in music.licences().items())
                )
        if self.drums is not None:
            lines.append(
                f"real drums over drum-free music: {len(self.drums.loops)} loops, "
                f"{len(self.drums.songs)} generated drum stems ({self.drums.seconds / 60:.1f} min)"
            )
        for k, bank in self.extras.items():
            lines.append(
                f"extra isolated {self.stems[k]} recordings (in real remixes, "
                f"p={self.config.extra_stem_prob:g}): {len(bank)} ({bank.seconds / 60:.1f} min)"
            )
        if self.real is not None or self.voices is not None:
            lines.append(REAL_CREDITS)
        if any("fretsonfire" in c.name for b in self.extras.values() for c in b.clips):
            lines.append(FOF_CREDITS)
        if self.drums is not None and any("sonic-pi" in c.name for c in self.drums.loops):
            lines.append(SONIC_PI_CREDITS)
        return "\n".join(lines)


def write_items(dataset: MixDataset, out_dir: str | Path, items: int) -> list[Path]:
    """Write the first ``items`` examples as MUSDB-style WAV folders (float, exact sums)."""
    out = Path(out_dir)
    folders = []
    for i in range(min(items, len(dataset))):
        mix, stems, source = dataset.example(i)
        folder = out / f"{i:03d}_{source}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, x in [("mixture", mix), *zip(dataset.stems, stems, strict=True)]:
            sf.write(str(folder / f"{name}.wav"), x.T, SAMPLE_RATE, subtype="FLOAT")
        folders.append(folder)
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data.mix",
        description="Write a few items of the training mix as MUSDB-style folders to listen to.",
    )
    parser.add_argument(
        "config",
        type=Path,
        help="YAML: a MixConfig mapping or a training config whose data.config is one",
    )
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--items", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        raw = yaml.safe_load(args.config.read_text()) or {}
        if isinstance(raw.get("data"), dict) and "config" in raw["data"]:
            raw = raw["data"]["config"] or {}
        dataset = MixDataset(MixConfig.from_dict(raw))
    except (OSError, yaml.YAMLError, StemplayError, TypeError) as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 1
    print(dataset.describe())
    for folder in write_items(dataset, args.out, args.items):
        mix = sf.read(str(folder / "mixture.wav"), dtype="float32")[0].T
        levels = " ".join(
            f"{s} {rms_db(sf.read(str(folder / f'{s}.wav'), dtype='float32')[0]):6.1f}"
            for s in dataset.stems
        )
        print(f"{folder}  mix {rms_db(mix):6.1f} dBFS  {levels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

