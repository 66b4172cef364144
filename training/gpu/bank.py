"""Training audio held on one device (a GPU, or the CPU for tests) and the mixes drawn from it.

Owns ``Bank`` (every decoded source of a pack as tensors on the device) and ``Mixer``, which draws
a batch of training items on the device — real multitracks and generated songs (remixed across
songs), real voices produced over them, real instrumental music with partial labels — with the
level balance of real songs. Nothing here reads files: ``training.gpu.pack`` decodes them.
Runs in the training process of ``training.gpu.run`` (one per model).

Shapes: an item is ``stems (4 stems, 2 channels, samples)`` plus ``known (4,)`` (which stems are
exact; unknown ones are only known as their sum) and the mixture is always the exact sum of the
stems. Stem order: vocals, drums, bass, other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.config import SAMPLE_RATE

VOCALS, DRUMS, BASS, OTHER = range(4)

#: Sources and their default share of a batch (``Mixer`` normalises the weights).
DEFAULT_PROPORTIONS = {
    "real_multitrack": 0.14,  # real songs, stems remixed across songs half the time
    "synthetic": 0.16,  # generated songs, likewise
    "vocals_over_multitrack": 0.14,  # a real voice over real or generated accompaniment (full)
    "vocals_over_music": 0.30,  # a real voice over real instrumental music (partial)
    "music_only": 0.12,  # real instrumental music alone: vocals silent, rest as a sum
    "drums_over_music": 0.14,  # real drums over drum-free real music: bass + other as a sum
}


@dataclass
class Bank:
    """Decoded sources on one device.

    songs: real multitracks ``(4, 2, samples)``; synth: generated songs, same layout;
    voices: mono real singing ``(samples,)`` with ``voice_weight`` (speech clips lower);
    music: stereo instrumental recordings ``(2, samples)`` with ``music_drums`` flags.
    """

    songs: list[torch.Tensor] = field(default_factory=list)
    synth: list[torch.Tensor] = field(default_factory=list)
    voices: list[torch.Tensor] = field(default_factory=list)
    voice_weight: list[float] = field(default_factory=list)
    music: list[torch.Tensor] = field(default_factory=list)
    music_drums: list[bool] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Minutes per source."""

        def minutes(xs: list[torch.Tensor]) -> float:
            return round(sum(x.shape[-1] for x in xs) / SAMPLE_RATE / 60, 1)

        return {
            "real_multitrack_min": minutes(self.songs),
            "synthetic_min": minutes(self.synth),
            "voices_min": minutes(self.voices),
            "music_min": minutes(self.music),
            "music_drumless_min": minutes(
                [m for m, d in zip(self.music, self.music_drums) if not d]
            ),
        }


def db(x: float | torch.Tensor) -> float | torch.Tensor:
    """dB to a linear amplitude factor."""
    return 10.0 ** (x / 20.0)


def active_rms(x: torch.Tensor, block: int = 2048, range_db: float = 40.0) -> torch.Tensor:
    """RMS of ``x (..., samples)`` (channels pooled) over its blocks within ``range_db`` of the
    loudest one: a voice's level while it sings, not diluted by its pauses. 0 for silence."""
    p = x.pow(2).reshape(-1, x.shape[-1]).mean(0)
    n = p.shape[-1] // block * block
    if n == 0:
        return p.mean().sqrt()
    e = p[:n].reshape(-1, block).mean(-1)
    on = (e > e.max() * 10 ** (-range_db / 10)) & (e > 1e-12)
    return ((e * on).sum() / on.sum().clamp_min(1)).sqrt()


class Mixer:
    """Draws training batches from a ``Bank`` on its device.

    ``draw(batch, samples) -> (mix (batch, 2, samples), stems (batch, 4, 2, samples),
    known (batch, 4) bool)``.
    """

    def __init__(
        self,
        bank: Bank,
        proportions: dict[str, float] | None = None,
        seed: int = 0,
        var_db: tuple[float, float] = (-18.0, 3.0),
    ) -> None:
        self.bank = bank
        props = dict(DEFAULT_PROPORTIONS if proportions is None else proportions)
        unknown = set(props) - set(DEFAULT_PROPORTIONS)
        if unknown:
            raise ValueError(f"unknown sources {sorted(unknown)}; known: {list(DEFAULT_PROPORTIONS)}")
        # drop sources whose material the bank lacks
        if not bank.songs and not bank.synth:
            for k in ("real_multitrack", "synthetic", "vocals_over_multitrack", "drums_over_music"):
                props.pop(k, None)
        if not bank.songs:
            props.pop("real_multitrack", None)
        if not bank.synth:
            props.pop("synthetic", None)
        if not bank.voices:
            props.pop("vocals_over_multitrack", None)
            props.pop("vocals_over_music", None)
        if not bank.music:
            for k in ("vocals_over_music", "music_only", "drums_over_music"):
                props.pop(k, None)
        if not any(not d for d in bank.music_drums):
            props.pop("drums_over_music", None)
        props = {k: v for k, v in props.items() if v > 0}
        if not props:
            raise ValueError("the bank holds no material for any source")
        self.sources = list(props)
        w = torch.tensor([props[k] for k in self.sources], dtype=torch.float64)
        self.weights = w / w.sum()
        self.var_db = var_db
        self.gen = torch.Generator().manual_seed(seed)
        self.device = (bank.songs or bank.synth or bank.music or bank.voices)[0].device
        self.drumless = [i for i, d in enumerate(bank.music_drums) if not d]
        vw = torch.tensor(bank.voice_weight or [1.0] * len(bank.voices), dtype=torch.float64)
        self.voice_p = vw / vw.sum() if len(vw) else vw
        # drum parts for drums_over_music: the drum stems of real and generated songs
        self.drum_sources = [(s, i) for s in ("songs", "synth") for i in range(len(getattr(bank, s)))]

    # ------------------------------------------------------------------ random helpers

    def _u(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=self.gen))

    def _coin(self, p: float) -> bool:
        return float(torch.rand((), generator=self.gen)) < p

    def _pick(self, n: int) -> int:
        return int(torch.randint(n, (), generator=self.gen))

    def _offset(self, length: int, samples: int) -> int:
        return self._pick(max(1, length - samples + 1))

    def _var_target(self) -> float:
        """A vocal-to-accompaniment level (dB): real songs put the lead voice about 4-14 dB
        under the band; the draw covers ``var_db`` weighted toward quiet."""
        lo, hi = self.var_db
        if self._coin(0.7):
            v = -8.0 + 4.5 * float(torch.randn((), generator=self.gen))
            return min(hi, max(lo, v))
        return self._u(lo, hi)

    # ------------------------------------------------------------------ pieces

    def _song_excerpt(self, pool: list[torch.Tensor], samples: int, remix: bool) -> torch.Tensor:
        """``(4, 2, samples)`` from one song, or each stem from its own song when ``remix``."""
        out = torch.zeros(4, 2, samples, device=self.device)
        song = pool[self._pick(len(pool))]
        start = self._offset(song.shape[-1], samples)
        for s in range(4):
            src, o = song, start
            if remix:
                src = pool[self._pick(len(pool))]
                o = self._offset(src.shape[-1], samples)
            x = src[s, :, o : o + samples]
            out[s, :, : x.shape[-1]] = x
        return out

    def _stem_gains(self, stems: torch.Tensor, lo: float = -6.0, hi: float = 3.0) -> torch.Tensor:
        g = torch.tensor([db(self._u(lo, hi)) for _ in range(stems.shape[0])], device=self.device)
        stems = stems * g.reshape(-1, 1, 1)
        for s in range(stems.shape[0]):
            if self._coin(0.5):
                stems[s] = stems[s].flip(0)  # channel swap
        return stems

    def _music(self, samples: int, drumless: bool = False) -> torch.Tensor:
        idx = self.drumless if drumless else range(len(self.bank.music))
        idx = list(idx)
        m = self.bank.music[idx[self._pick(len(idx))]]
        o = self._offset(m.shape[-1], samples)
        x = m[:, o : o + samples]
        if x.shape[-1] < samples:
            x = F.pad(x, (0, samples - x.shape[-1]))
        if self._coin(0.5):
            x = x.flip(0)
        return x * db(self._u(-4.0, 2.0))

    def _drums(self, samples: int) -> torch.Tensor:
        kind, i = self.drum_sources[self._pick(len(self.drum_sources))]
        song = getattr(self.bank, kind)[i]
        for _ in range(6):  # prefer a window where the drums play
            o = self._offset(song.shape[-1], samples)
            d = song[DRUMS, :, o : o + samples]
            if d.pow(2).mean() > 1e-6:
                break
        if d.shape[-1] < samples:
            d = F.pad(d, (0, samples - d.shape[-1]))
        return d

    def voice(self, samples: int) -> torch.Tensor:
        """A produced real voice ``(2, samples)``: a sung (or, rarely, spoken) take, pitch and
        tempo moved together by up to +-2 semitones, level riding, EQ, reverb, panning, and
        sometimes a double of the same take; sometimes only part of the window sings."""
        bank = self.bank
        i = int(torch.multinomial(self.voice_p, 1, generator=self.gen))
        clip = bank.voices[i]
        ratio = 2.0 ** (self._u(-2.0, 2.0) / 12.0) if self._coin(0.7) else 1.0
        need = math.ceil(samples * ratio) + 2
        best, best_e = None, -1.0
        for _ in range(5):  # a window where the voice is mostly active
            o = self._offset(clip.shape[-1], need)
            w = clip[o : o + need]
            e = float(w.pow(2).mean())
            if e > best_e:
                best, best_e = w, e
            if e > 1e-4:
                break
        w = best
        if w.shape[-1] < need:
            w = F.pad(w, (0, need - w.shape[-1]))
        if ratio != 1.0:  # tape-style: resample the take (pitch and tempo together)
            w = F.interpolate(w.reshape(1, 1, -1), size=int(need / ratio), mode="linear",
                              align_corners=False).reshape(-1)
        w = w[:samples]
        if w.shape[-1] < samples:
            w = F.pad(w, (0, samples - w.shape[-1]))
        # level riding: a slow random envelope of +-3 dB
        knots = torch.randn(8, generator=self.gen).to(self.device) * 3.0 / 2
        env = F.interpolate(db(knots).reshape(1, 1, -1), size=samples, mode="linear",
                            align_corners=True).reshape(-1)
        w = w * env
        if self._coin(0.3):  # only part of the window sings (quiet/vocal-free passages)
            a = self._pick(samples // 2)
            b = a + samples // 4 + self._pick(samples // 2)
            gate = torch.zeros(samples, device=self.device)
            gate[a:b] = 1.0
            w = w * gate
        pos = self._u(-0.4, 0.4)
        left, right = math.cos((pos + 1) * math.pi / 4), math.sin((pos + 1) * math.pi / 4)
        out = torch.stack([w * left * math.sqrt(2), w * right * math.sqrt(2)])
        if self._coin(0.2):  # a double: the same take a few ms later, slightly detuned, panned
            d = int(self._u(0.01, 0.03) * SAMPLE_RATE)
            dup = F.interpolate(w.reshape(1, 1, -1), size=int(samples * 1.003), mode="linear",
                                align_corners=False).reshape(-1)[:samples]
            dup = F.pad(dup, (d, 0))[:samples] * db(self._u(-9.0, -3.0))
            side = 0 if pos > 0 else 1
            out[side] = out[side] + dup
        return self._room(out)

    def _room(self, x: torch.Tensor) -> torch.Tensor:
        """EQ and reverb in one FFT convolution: a random smooth tilt/bell curve applied to an
        impulse response that is a direct path plus an exponentially decaying stereo tail."""
        n = x.shape[-1]
        rt60 = self._u(0.2, 2.0)
        length = int(min(1.0, rt60) * SAMPLE_RATE)
        t = torch.arange(length, device=self.device) / SAMPLE_RATE
        tail = torch.randn(2, length, generator=self.gen).to(self.device)
        tail = tail * torch.exp(-6.91 * t / rt60)
        tail = tail / tail.pow(2).sum(-1, keepdim=True).sqrt().clamp_min(1e-8)
        wet = db(self._u(-24.0, -8.0)) if self._coin(0.85) else 0.0
        pre = int(self._u(0.0, 0.03) * SAMPLE_RATE)
        ir = torch.zeros(2, length + pre + 1, device=self.device)
        ir[:, 0] = 1.0
        ir[:, pre + 1 :] = tail * wet
        size = 1 << math.ceil(math.log2(n + ir.shape[-1]))
        spec = torch.fft.rfft(x, size) * torch.fft.rfft(ir, size)
        # EQ: a smooth random curve over log frequency, +-6 dB at a few knots, low cut
        bins = spec.shape[-1]
        knots = torch.randn(6, generator=self.gen).to(self.device) * 3.0
        curve = F.interpolate(db(knots).reshape(1, 1, -1), size=bins, mode="linear",
                              align_corners=True).reshape(-1)
        freqs = torch.linspace(0, SAMPLE_RATE / 2, bins, device=self.device)
        cut = self._u(60.0, 200.0)
        curve = curve * (freqs / cut).clamp(max=1.0).pow(2)
        y = torch.fft.irfft(spec * curve, size)[:, :n]
        return y

    # ------------------------------------------------------------------ items

    def _set_var(self, stems: torch.Tensor) -> torch.Tensor:
        """Scale the vocals so their active level sits ``_var_target()`` dB from the rest."""
        v = active_rms(stems[VOCALS])
        a = active_rms(stems[1:].sum(0))
        if float(v) < 1e-5 or float(a) < 1e-5:
            return stems
        stems[VOCALS] = stems[VOCALS] * (a / v * db(self._var_target()))
        return stems

    def item(self, source: str, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One item of ``source``: ``(stems (4, 2, samples), known (4,) bool)``."""
        b = self.bank
        known = torch.ones(4, dtype=torch.bool)
        if source in ("real_multitrack", "synthetic"):
            pool = b.songs if source == "real_multitrack" else b.synth
            stems = self._stem_gains(self._song_excerpt(pool, samples, self._coin(0.5)))
            if self._coin(0.6):
                stems = self._set_var(stems)
        elif source == "vocals_over_multitrack":
            pools = [p for p in (b.songs, b.synth) if p]
            pool = pools[self._pick(len(pools))]
            stems = self._stem_gains(self._song_excerpt(pool, samples, self._coin(0.5)))
            stems[VOCALS] = self.voice(samples)
            stems = self._set_var(stems)
        elif source == "vocals_over_music":
            stems = torch.zeros(4, 2, samples, device=self.device)
            stems[OTHER] = self._music(samples)
            stems[VOCALS] = self.voice(samples)
            stems = self._set_var(stems)
            known = torch.tensor([True, False, False, False])
        elif source == "music_only":
            stems = torch.zeros(4, 2, samples, device=self.device)
            stems[OTHER] = self._music(samples)
            known = torch.tensor([True, False, False, False])
        elif source == "drums_over_music":
            stems = torch.zeros(4, 2, samples, device=self.device)
            stems[OTHER] = self._music(samples, drumless=True)
            stems[DRUMS] = self._drums(samples)
            rest = active_rms(stems[OTHER])
            d = active_rms(stems[DRUMS])
            if float(rest) > 1e-5 and float(d) > 1e-5:
                stems[DRUMS] = stems[DRUMS] * (rest / d * db(self._u(-10.0, 2.0)))
            known = torch.tensor([True, True, False, False])
        else:
            raise ValueError(f"unknown source {source!r}")
        # loudness of the whole mix like mastered and unmastered songs: -26..-10 dBFS RMS
        rms = stems.sum(0).pow(2).mean().sqrt()
        if float(rms) > 1e-6:
            stems = stems * (db(self._u(-26.0, -10.0)) / rms)
        return stems, known

    def draw(self, batch: int, samples: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch: ``mix (batch, 2, samples)``, ``stems (batch, 4, 2, samples)``,
        ``known (batch, 4)`` bool on the bank's device."""
        picks = torch.multinomial(self.weights, batch, replacement=True, generator=self.gen)
        items = [self.item(self.sources[int(p)], samples) for p in picks]
        stems = torch.stack([s for s, _ in items])
        known = torch.stack([k for _, k in items]).to(self.device)
        return stems.sum(1), stems, known
