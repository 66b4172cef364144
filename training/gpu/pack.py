"""``python -m training gpupack [-o .gpupack] [--budget-mib 50] ...``: the training pack that
travels to a GPU machine with no network (its whole working tree may hold 64 MiB).

Owns the selection and Opus coding of the training audio for ``training.gpu.run``: the real
multitrack songs of the training split and the real validation songs (stems, stereo), the real
voices (mono, the speech clips marked as a rarer source), real instrumental music from the
screened Debian bank (``training.data.realmusic``'s manifest; verdict ``keep`` only, a spread of
excerpts over as many tracks as fit, with their drums flag) and generated songs
(``python -m training synth``). Opus (libopus through ffmpeg, 12 kHz band — the models see
0-11 kHz) makes an hour of stems a few MiB; the mixture is rebuilt on the GPU as the exact sum of
the decoded stems, so coding never breaks "mixture = sum of stems". Also downloads the wheels
the GPU machine lacks to decode them (soundfile + cffi + pycparser, soxr; CPython 3.12).

Writes ``index.json`` and ``pack.json`` (minutes and MiB per source). Runs on the CPU machine;
nothing in the pack is committed (``.gpupack/`` is ignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.config import DEFAULT_STEMS, SAMPLE_RATE

if TYPE_CHECKING:
    from training.data.multitrack import Multitrack

log = logging.getLogger(__name__)

WHEELS = ("soundfile==0.13.1", "cffi==1.17.1", "pycparser==2.22", "soxr==0.5.0.post1")
WHEEL_CACHE = Path("/work/data/wheels-cp312")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


def encode_opus(audio: np.ndarray, path: Path, kbps: int) -> None:
    """``audio (channels, samples)`` float32 at 44.1 kHz -> Ogg Opus file (atomic)."""
    channels = audio.shape[0]
    tmp = path.with_name(path.name + ".part")
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SAMPLE_RATE),
           "-ac", str(channels), "-i", "-", "-c:a", "libopus", "-b:a", f"{kbps}k",
           "-cutoff", "12000", "-f", "ogg", str(tmp)]
    data = np.ascontiguousarray(np.clip(audio, -1, 1).T, dtype="<f4").tobytes()
    subprocess.run(cmd, input=data, check=True)
    tmp.replace(path)


def fetch_wheels(dest: Path) -> list[Path]:
    """The decoder wheels for the GPU machine's CPython 3.12 (cached in ``WHEEL_CACHE``)."""
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    have = list(WHEEL_CACHE.glob("*.whl"))
    if len(have) < len(WHEELS):
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "-d", str(WHEEL_CACHE)]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        subprocess.run(cmd + list(WHEELS), check=True)
        have = list(WHEEL_CACHE.glob("*.whl"))
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for w in have:
        shutil.copy2(w, dest / w.name)
        out.append(dest / w.name)
    return out


def pack_init_weights(specs: Path, dest: Path) -> list[Path]:
    """Weights (no optimiser) of the checkpoints the runs of ``specs`` start from, as
    ``dest/NAME.pt``: what ``training.gpu.run`` loads for a run with ``init``. A checkpoint
    with a weight average (``train.ema``) gives the average: the weights that were exported."""
    import torch
    import yaml

    out = []
    for run in yaml.safe_load(specs.read_text())["runs"]:
        if not run.get("init"):
            continue
        state = torch.load(run["init"], map_location="cpu", weights_only=False)
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f"{run['name']}.pt"
        weights = state["average"]["model"] if "average" in state else state["model"]
        torch.save({"model": weights, "source": run["init"]}, path)
        out.append(path)
    return out


def _mib(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 2**20


def _song(track: Multitrack, out: Path, rel: str, kbps: int, seconds: float | None,
          rng: random.Random) -> tuple[dict, list[Path]]:
    """Encode the four stems of a MUSDB-style song (optionally one random excerpt)."""
    arrays = track.read(DEFAULT_STEMS)  # (stems, 2, samples), cut to the shortest stem
    n = arrays.shape[-1]
    start = 0
    if seconds is not None and n > seconds * SAMPLE_RATE:
        start = rng.randrange(0, n - int(seconds * SAMPLE_RATE))
        n = start + int(seconds * SAMPLE_RATE)
    (out / rel).mkdir(parents=True, exist_ok=True)
    files = []
    for s, a in zip(DEFAULT_STEMS, arrays):
        f = out / rel / f"{s}.opus"
        encode_opus(a[:, start:n], f, kbps)
        files.append(f)
    return {"name": track.name, "stems": [f"{rel}/{s}.opus" for s in DEFAULT_STEMS],
            "seconds": round((n - start) / SAMPLE_RATE, 1)}, files


def build(args: argparse.Namespace) -> dict:
    from training.data.audiofiles import find_audio_files, read_audio
    from training.data.splits import real_tracks, real_vocal_dirs

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = random.Random(args.seed)
    index: dict = {"songs": [], "synth": [], "valid": [], "voices": [], "music": []}
    report: dict = {}
    files: dict[str, list[Path]] = {k: [] for k in ("wheels", "init", *index)}

    if args.wheels:
        files["wheels"] = fetch_wheels(out / "wheels")
    files["init"] = pack_init_weights(Path(args.specs), out / "init")
    for group, split in (("valid", "valid"), ("songs", "train")):
        for i, track in enumerate(real_tracks(split)):
            item, fs = _song(track, out, f"{group}/{i:02d}", args.stem_kbps, None, rng)
            index[group].append(item)
            files[group] += fs
    (out / "voices").mkdir()
    for j, path in enumerate(find_audio_files(real_vocal_dirs())):
        weight = args.speech_weight if "speech" in path.parts else 1.0
        if True:
            try:
                voice = read_audio(path, channels=1)
            except Exception as err:  # noqa: BLE001 - one bad clip must not stop the pack
                log.warning("skipped voice %s: %s", path, err)
                continue
            rel = f"voices/{j:04d}.opus"
            encode_opus(voice, out / rel, args.voice_kbps)
            index["voices"].append({"file": rel, "weight": weight})
            files["voices"].append(out / rel)

    music_budget = args.music_minutes * 60
    manifest = Path(args.realmusic) / "manifest.json"
    if manifest.exists():
        tracks = [t for t in json.loads(manifest.read_text())["tracks"]
                  if t.get("verdict") == "keep"]
        rng.shuffle(tracks)
        per = max(20.0, music_budget / max(1, len(tracks)))
        used = 0.0
        for k, t in enumerate(tracks):
            if used >= music_budget:
                break
            arr = np.load(Path(args.realmusic) / t["path"], mmap_mode="r")
            # drum-free tracks are few and feed drums_over_music alone: longer excerpts
            share = per * (3 if t.get("has_drums") is False else 1)
            take = int(min(share, t["duration_s"]) * SAMPLE_RATE)
            start = rng.randrange(0, max(1, arr.shape[-1] - take))
            audio = np.asarray(arr[:, start : start + take], dtype=np.float32) / 32768.0
            (out / "music").mkdir(exist_ok=True)
            rel = f"music/{k:03d}.opus"
            encode_opus(audio, out / rel, args.stem_kbps)
            drums = t.get("has_drums")
            index["music"].append({"file": rel, "drums": True if drums is None else bool(drums),
                                   "package": t["package"], "source": t["file"]})
            files["music"].append(out / rel)
            used += take / SAMPLE_RATE
    else:
        log.warning("no real-music manifest at %s: the pack has no instrumental music", manifest)

    # generated songs fill what is left of the budget
    songs = sorted(p for p in Path(args.synth).glob("*") if (p / "other.flac").exists()
                   or (p / "other.wav").exists())
    rng.shuffle(songs)
    for i, song in enumerate(songs):
        total = sum(_mib(v) for v in files.values())
        if total >= args.budget_mib:
            break
        item, fs = _song(song, out, f"synth/{i:03d}", args.synth_kbps, args.synth_seconds, rng)
        index["synth"].append(item)
        files["synth"] += fs
    (out / "index.json").write_text(json.dumps(index, indent=1))

    def minutes(key: str) -> float:
        if key in ("songs", "synth", "valid"):
            return round(sum(s["seconds"] for s in index[key]) / 60, 1)
        return round(sum(float(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             str(out / e["file"])], capture_output=True, text=True, check=False).stdout or 0)
            for e in index[key]) / 60, 1)

    for key, fs in files.items():
        report[key] = {"mib": round(_mib(fs), 2), "files": len(fs),
                       **({"minutes": minutes(key)} if key not in ("wheels", "init") else {})}
    report["total_mib"] = round(sum(_mib(v) for v in files.values()), 2)
    report["drumless_music_files"] = sum(1 for m in index["music"] if not m["drums"])
    (out / "pack.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training gpupack", description=__doc__.split(
        "\n")[0])
    p.add_argument("-o", "--out", type=Path, default=Path(".gpupack"))
    p.add_argument("--budget-mib", type=float, default=50.0, help="stop adding generated songs "
                   "once the pack holds this much")
    p.add_argument("--music-minutes", type=float, default=75.0)
    p.add_argument("--realmusic", default="/work/data/realmusic")
    p.add_argument("--synth", default="/work/data/synth/train")
    p.add_argument("--synth-seconds", type=float, default=30.0, help="excerpt per generated song")
    p.add_argument("--stem-kbps", type=int, default=40)
    p.add_argument("--synth-kbps", type=int, default=32)
    p.add_argument("--voice-kbps", type=int, default=24)
    p.add_argument("--speech-weight", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--specs", default="training/configs/gpu.yaml",
                   help="the runs' file: the weights their `init` names travel in the pack")
    p.add_argument("--no-wheels", dest="wheels", action="store_false",
                   help="leave the decoder wheels out (the GPU machine then needs soundfile)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report = build(args)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
