"""``python3 -m training.gpu.run --pack .gpupack --out DIR [--minutes M] [--runs a,b]``.

Trains several models side by side on one GPU machine that has no network, from a pack built by
``python -m training gpupack`` (Opus-coded excerpts, the real voices, wheels for the decoder).
One command does everything: installs the carried wheels into ``/tmp/site`` when ``soundfile``
is missing, decodes the pack once (a process pool) into ``/tmp/gpupack-decoded``, starts one
training process per run (``worker`` sub-command) and waits. Each worker holds the whole bank
on the GPU, draws its batches there (``training.gpu.bank``), trains for the time it is given on
a time-based warm-up + cosine schedule, validates on the pack's real validation songs every
minute, and writes into ``DIR``: ``NAME.pt`` (weights, config, step, validation curve) and, for
runs marked ``resumable``, ``NAME.opt.pt`` (AdamW moments in bfloat16, schedule position) so the
CPU campaign can resume it (``python -m training gpu-import``). Files are rewritten atomically
every ``--checkpoint-s`` seconds, so a run cut short still returns its latest state.

Runs on the GPU machine (or, for tests, on the CPU with ``--device cpu``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any

import numpy as np

DECODED = Path(os.environ.get("STEMPLAY_GPUPACK_DECODED", "/tmp/gpupack-decoded"))
SITE = Path("/tmp/site")


@dataclass(frozen=True)
class RunSpec:
    """One model trained by a worker (from ``training/configs/gpu.yaml``)."""

    name: str
    config: str  # a training YAML: model, frames, loss, stems come from it
    proportions: dict[str, float] | None = None  # None: training.gpu.bank defaults
    batch: int = 24
    lr: float = 8e-4
    warmup_steps: int = 150
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    loss: dict[str, float] = field(default_factory=dict)  # overrides of the config's loss
    resumable: bool = False  # also write NAME.opt.pt
    init: str | None = None  # a checkpoint whose weights start the run (carried in the pack)
    seed: int = 0


def load_specs(path: Path, names: list[str] | None) -> list[RunSpec]:
    import yaml

    raw = yaml.safe_load(path.read_text())
    specs = [RunSpec(**r) for r in raw["runs"]]
    if names:
        known = {s.name for s in specs}
        missing = [n for n in names if n not in known]
        if missing:
            raise SystemExit(f"error: unknown runs {missing} in {path}")
        specs = [s for s in specs if s.name in names]
    return specs


# ----------------------------------------------------------------------------- set-up


def ensure_decoder(pack: Path) -> None:
    """Make ``import soundfile`` work: install the pack's wheels into /tmp/site if needed."""
    try:
        import soundfile

        return
    except (ImportError, OSError):
        pass
    wheels = sorted(str(p) for p in (pack / "wheels").glob("*.whl"))
    if not wheels:
        raise SystemExit("error: soundfile is missing and the pack carries no wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
         "--no-cache-dir", "--upgrade", "--target", str(SITE), *wheels],
        check=True,
    )
    sys.path.insert(0, str(SITE))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    import soundfile  # noqa: F401


def _decode_one(task: tuple[str, str, int]) -> tuple[str, int]:
    """Decode one pack file to float32 ``(channels, samples)`` at 44.1 kHz (``.npy``)."""
    import soundfile as sf
    import soxr

    src, dst, channels = task
    if Path(dst).exists():
        return dst, int(np.load(dst, mmap_mode="r").shape[-1])
    audio, rate = sf.read(src, dtype="float32", always_2d=True)  # (samples, ch)
    if rate != 44100:
        audio = soxr.resample(audio, rate, 44100, quality="HQ")
    audio = np.ascontiguousarray(audio.T[:channels], dtype=np.float32)
    tmp = dst + ".part.npy"
    np.save(tmp, audio)
    os.replace(tmp, dst)
    return dst, audio.shape[-1]


def decode_pack(pack: Path, jobs: int) -> dict[str, Any]:
    """Decode every file of ``pack/index.json``; returns the index with ``.npy`` paths."""
    index = json.loads((pack / "index.json").read_text())
    DECODED.mkdir(parents=True, exist_ok=True)
    tasks: list[tuple[str, str, int]] = []

    def plan(rel: str, channels: int) -> str:
        dst = str(DECODED / (rel.replace("/", "__") + ".npy"))
        tasks.append((str(pack / rel), dst, channels))
        return dst

    out: dict[str, Any] = {"songs": [], "synth": [], "valid": [], "voices": [], "music": []}
    for group in ("songs", "synth", "valid"):
        for song in index.get(group, []):
            out[group].append({"name": song["name"],
                               "stems": [plan(f, 2) for f in song["stems"]]})
    for v in index.get("voices", []):
        out["voices"].append({"file": plan(v["file"], 1), "weight": v.get("weight", 1.0)})
    for m in index.get("music", []):
        out["music"].append({"file": plan(m["file"], 2), "drums": bool(m.get("drums", True))})
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_decode_one, tasks, chunksize=4))
    print(f"decoded {len(tasks)} files in {time.time() - t0:.1f} s", flush=True)
    (DECODED / "decoded.json").write_text(json.dumps(out))
    return out


# ----------------------------------------------------------------------------- worker


def build_bank(decoded: dict[str, Any], device: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """The training bank and the validation songs ``[(name, stems (4, 2, samples))]``."""
    import torch

    from training.gpu.bank import Bank

    def stereo_song(paths: list[str]) -> torch.Tensor:
        arrays = [np.load(p) for p in paths]
        n = min(a.shape[-1] for a in arrays)
        return torch.from_numpy(np.stack([a[:, :n] for a in arrays])).to(device)

    bank = Bank()
    for s in decoded["songs"]:
        bank.songs.append(stereo_song(s["stems"]))
    for s in decoded["synth"]:
        bank.synth.append(stereo_song(s["stems"]))
    for v in decoded["voices"]:
        bank.voices.append(torch.from_numpy(np.load(v["file"])[0]).to(device))
        bank.voice_weight.append(float(v["weight"]))
    for m in decoded["music"]:
        bank.music.append(torch.from_numpy(np.load(m["file"])).to(device))
        bank.music_drums.append(bool(m["drums"]))
    valid = [(s["name"], stereo_song(s["stems"])) for s in decoded["valid"]]
    return bank, valid


def validate(model: Any, valid: list[tuple[str, Any]], frames: int, bins: int) -> dict[str, float]:
    """Global SDR per stem over each validation song's whole-segment excerpts (the model's band),
    averaged over the songs where the stem is audible; plus their ``mean``."""
    import torch

    from training import spec
    from training.losses import sdr
    from training.validation import to_batch

    n = spec.samples_for(frames)
    names = ("vocals", "drums", "bass", "other")
    per: dict[str, list[float]] = {s: [] for s in names}
    model.eval()
    with torch.no_grad():
        for _, stems in valid:
            count = stems.shape[-1] // n
            if count == 0:
                continue
            chunk = stems[..., : count * n].reshape(4, 2, count, n).permute(2, 0, 1, 3)
            x, _, ref_wave = to_batch(chunk.sum(1), chunk, frames, bins)
            est = torch.cat([model(x[i : i + 8]).float() for i in range(0, count, 8)])
            est_wave = spec.istft(spec.from_model(est), n)
            e = est_wave.transpose(0, 1).reshape(4, -1)
            r = ref_wave.transpose(0, 1).reshape(4, -1)
            values = sdr(e, r)
            for i, s in enumerate(names):
                if float(r[i].pow(2).mean()) > 1e-7:
                    per[s].append(float(values[i]))
    model.train()
    scores = {s: round(float(np.mean(v)), 3) for s, v in per.items() if v}
    if scores:
        scores["mean"] = round(float(np.mean(list(scores.values()))), 3)
    return scores


def lr_at(step: int, progress: float, spec_: RunSpec) -> float:
    """Warm-up over ``warmup_steps`` steps, then a cosine over the time budget."""
    if step < spec_.warmup_steps:
        return (step + 1) / spec_.warmup_steps
    p = min(1.0, max(0.0, progress))
    return spec_.min_lr_ratio + (1 - spec_.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))


def save_atomic(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def worker(args: argparse.Namespace) -> int:
    import torch

    from training.checkpoint import model_kwargs
    from training.gpu.bank import Mixer
    from training.losses import LossConfig, SeparationLoss
    from training.models import build_model
    from training.trainconfig import config_to_dict, load_config
    from training.validation import to_batch

    spec_ = next(s for s in load_specs(Path(args.specs), [args.run]))
    device = torch.device(args.device)
    torch.manual_seed(spec_.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    cfg = load_config(spec_.config)
    cfg_dict = config_to_dict(cfg)
    loss_cfg = LossConfig(**{**cfg_dict["loss"], **spec_.loss})
    if loss_cfg.distill:  # the pack carries no teacher: say so instead of ignoring it
        raise ValueError(f"run {spec_.name}: loss.distill needs a teacher, which the GPU runner "
                         "does not load; set loss: {distill: 0} in its gpu.yaml entry")
    cfg_dict["loss"] = dict(loss_cfg.__dict__)
    frames, bins = cfg.frames, cfg.bins
    samples = (frames - 1) * 1024

    decoded = json.loads((DECODED / "decoded.json").read_text())
    bank, valid = build_bank(decoded, device)
    mixer = Mixer(bank, spec_.proportions, seed=spec_.seed)
    model = build_model(**model_kwargs(cfg_dict)).to(device)
    init = Path(args.pack) / "init" / f"{spec_.name}.pt"
    if spec_.init and not init.exists():
        raise SystemExit(f"error: run {spec_.name} starts from {spec_.init}, but the pack holds "
                         f"no {init} (rebuild it with python -m training gpupack)")
    if spec_.init:
        state = torch.load(init, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        print(f"[{spec_.name}] initialised from {init}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=spec_.lr, weight_decay=spec_.weight_decay)
    criterion = SeparationLoss(loss_cfg)
    amp = device.type == "cuda"
    out = Path(args.out)
    budget = 60.0 * args.minutes
    log: dict[str, Any] = {"run": spec_.name, "bank": bank.summary(), "sources": mixer.sources,
                           "batch": spec_.batch, "train": [], "valid": []}
    print(f"[{spec_.name}] bank {log['bank']} sources {mixer.sources}", flush=True)

    # batches are drawn on a side thread (own CUDA stream) while the model trains
    q: Queue = Queue(maxsize=3)
    stop = threading.Event()

    def producer() -> None:
        stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        while not stop.is_set():
            if stream is not None:
                with torch.cuda.stream(stream):
                    batch = mixer.draw(spec_.batch, samples)
                stream.synchronize()
            else:
                batch = mixer.draw(spec_.batch, samples)
            while not stop.is_set():
                try:
                    q.put(batch, timeout=0.5)
                    break
                except Full:
                    continue

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()

    def save(final: bool = False) -> None:
        elapsed = time.monotonic() - t0
        state = {"model": model.state_dict(), "config": cfg_dict, "step": step,
                 "elapsed_s": elapsed, "valid": log["valid"][-1] if log["valid"] else {},
                 "spec": spec_.__dict__, "final": final, "gpu": {
                     "device": torch.cuda.get_device_name(device) if amp else "cpu",
                     "excerpts": seen, "bank": log["bank"], "sources": mixer.sources}}
        save_atomic(state, out / f"{spec_.name}.pt")
        if spec_.resumable:
            moments = {
                "exp_avg": [opt.state[p]["exp_avg"].to(torch.bfloat16).cpu()
                            for p in model.parameters() if p in opt.state],
                "exp_avg_sq": [opt.state[p]["exp_avg_sq"].to(torch.bfloat16).cpu()
                               for p in model.parameters() if p in opt.state],
                "adam_step": step, "lr": spec_.lr, "weight_decay": spec_.weight_decay,
            }
            save_atomic(moments, out / f"{spec_.name}.opt.pt")
        (out / f"{spec_.name}.json").write_text(json.dumps(log))

    t0 = time.monotonic()
    step, seen, last_ckpt, last_valid, last_print = 0, 0, t0, t0, t0
    wait_s = 0.0
    model.train()
    while True:
        now = time.monotonic()
        progress = (now - t0) / budget
        if progress >= 1.0:
            break
        factor = lr_at(step, progress, spec_)
        for g in opt.param_groups:
            g["lr"] = spec_.lr * factor
        tw = time.monotonic()
        mix, stems, known = q.get()
        wait_s += time.monotonic() - tw
        if device.type == "cuda":  # made on the producer's stream: keep them alive for ours
            for t in (mix, stems, known):
                t.record_stream(torch.cuda.current_stream(device))
        x, ref_spec, ref_wave = to_batch(mix, stems, frames, bins)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            est = model(x)
        loss, parts = criterion(est.float(), ref_spec, ref_wave, known)
        if not torch.isfinite(loss):
            print(f"[{spec_.name}] non-finite loss at step {step}: batch skipped", flush=True)
            opt.zero_grad(set_to_none=True)
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = float(torch.nn.utils.clip_grad_norm_(model.parameters(), spec_.grad_clip))
        opt.step()
        step += 1
        seen += spec_.batch
        now = time.monotonic()
        if now - last_print >= 45 or step == 1:
            rate = seen / (now - t0)
            row = {"t": round(now - t0, 1), "step": step, "loss": round(float(loss.detach()), 4),
                   **{k: round(v, 4) for k, v in parts.items()}, "lr": spec_.lr * factor,
                   "grad_norm": round(gn, 3), "excerpts_per_s": round(rate, 1),
                   "data_wait_s": round(wait_s, 1)}
            log["train"].append(row)
            print(f"[{spec_.name}] {row}", flush=True)
            last_print = now
        if valid and now - last_valid >= args.valid_s:
            scores = validate(model, valid, frames, bins)
            log["valid"].append({"t": round(now - t0, 1), "step": step, **scores})
            print(f"[{spec_.name}] valid {log['valid'][-1]}", flush=True)
            last_valid = time.monotonic()
        if now - last_ckpt >= args.checkpoint_s:
            save()
            last_ckpt = time.monotonic()
    stop.set()  # the producer finishes its batch and ends (no CUDA thread killed at exit)
    thread.join(timeout=30)
    if valid:
        scores = validate(model, valid, frames, bins)
        log["valid"].append({"t": round(time.monotonic() - t0, 1), "step": step, **scores})
        print(f"[{spec_.name}] final valid {log['valid'][-1]}", flush=True)
    save(final=True)
    print(f"[{spec_.name}] done: {step} steps, {seen} excerpts", flush=True)
    return 0


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m training.gpu.run", description=__doc__.split(
        "\n")[0])
    p.add_argument("mode", nargs="?", default="all", choices=("all", "worker"))
    p.add_argument("--pack", type=Path, default=Path(".gpupack"))
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")))
    p.add_argument("--specs", default="training/configs/gpu.yaml")
    p.add_argument("--runs", default="", help="comma list of run names (default: all)")
    p.add_argument("--run", default="", help="worker: the run to train")
    p.add_argument("--minutes", type=float, default=7.0, help="training time of each run")
    p.add_argument("--device", default="cuda")
    p.add_argument("--jobs", type=int, default=min(16, os.cpu_count() or 1))
    p.add_argument("--valid-s", type=float, default=60.0)
    p.add_argument("--checkpoint-s", type=float, default=90.0)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == "worker":
        return worker(args)

    t0 = time.time()
    ensure_decoder(args.pack)
    decode_pack(args.pack, args.jobs)
    names = [n for n in args.runs.split(",") if n]
    specs = load_specs(Path(args.specs), names)
    procs = []
    for s in specs:
        cmd = [sys.executable, "-m", "training.gpu.run", "worker", "--run", s.name,
               "--specs", args.specs, "--out", str(args.out), "--minutes", str(args.minutes),
               "--device", args.device, "--valid-s", str(args.valid_s),
               "--checkpoint-s", str(args.checkpoint_s), "--pack", str(args.pack)]
        procs.append((s.name, subprocess.Popen(cmd)))
    codes = {name: proc.wait() for name, proc in procs}
    print(f"all runs finished in {time.time() - t0:.0f} s: exit codes {codes}", flush=True)
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
