"""Soak benchmark: minutes of A+B playback through a real-time-paced device under CPU load.

The real main window (offscreen Qt) plays a song with model A and model B both separating, into
the capture device of ``tests/audiosink.py`` (ALSA ``file`` plugin behind a private dummy JACK
server: consumed at real speed, every emitted frame kept in a WAV), while ``--burn`` other
processes each keep one core busy. A scripted user loops the whole song (Shift+drag over the
waveform) and, every ``--every`` seconds, moves a fader, mutes or solos a stem with the keys,
clicks a preset, seeks (waveform click, ←/→) or flips A/B with Tab, for the whole duration.

Reported: the engine's ``underruns`` (the output had nothing to play: the plain-mix ring ran
dry, or PortAudio reported an output underflow because the callback came too late), with how
many of them happened while seconds of mix were decoded ahead (then the rings were fine and
the callback was starved of CPU), and how much shorter the capture is than the time played
(the file only holds what the player wrote; a starved dummy JACK clock also slips, so this is
an upper bound of the time the device got nothing); ``late`` (the heard stems fell behind and
the plain mix took over: a fallback, no gap) and the seconds the mix stood in for them
(``behind``); ``non_finite`` blocks, callback errors, model failures; from the captured audio
the runs of digital silence after the first sound (the device-priming lead and the closing
pause excluded), split into those after a fade-out (a seek: fade-out, one silent jump block,
the wait for the mix at the new place) and those where the sound was cut (dropouts); and the
longest gap between the GUI's 30 Hz status polls (a frozen window). Usage::

    .venv/bin/python benchmarks/soak.py [--minutes 5] [--burn 1] [--json]
        [--song FILE] [--model-a unet] [--model-b hybrid] [--every 1.5] [--keep DIR]
    .venv/bin/python benchmarks/soak.py --from DIR [--json]     # analyse a kept run again

``--keep DIR`` keeps the WAV and the full JSON (every action and every counter change with its
time). ``--latency low|high|SECONDS`` is a diagnostic: the app's engine with another output
latency than the app asks for (the granted one is reported).

Exit status 0 when the run completed (whatever the figures), 1 when it could not run. The
player runs in a subprocess (this file with ``--drive``) because PortAudio reads the ALSA
configuration once, when it initialises; the GUI scenario runs on that process's GUI thread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SR = 44100
#: A frame is silent when both channels are below this (−140 dBFS; ``tests.audiosink``'s
#: first-sound threshold): the output of a muted or paused mixer is exact zeros.
SILENCE = 1e-7
#: Silent runs shorter than this are not counted (two channels of music can cross zero
#: together for a sample or two).
MIN_GAP_FRAMES = 64
#: A silent run belongs to a seek (or pause) when the block before it fades out: its last
#: quarter's RMS is below this fraction of its first quarter's (see :func:`faded_out`).
FADE_RATIO = 0.35
FADER_TICKS = 12  # a fader drag: one value per 30 Hz poll, ~0.4 s


# ------------------------------------------------------------------------------------------
# the scripted user (runs in the player subprocess, GUI thread)


def scenario(w: Any, golden: Iterator[float]) -> list[tuple[str, Callable[[], Iterator[None]]]]:
    """One cycle of user actions (each a generator: one step per status poll). It ends with the
    mix as it started (all stems at 0 dB, nothing muted or soloed) and slot A heard."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from app.mixstate import db_to_fader

    shift = Qt.KeyboardModifier.ShiftModifier

    def key(k: Qt.Key, mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier):
        def act() -> Iterator[None]:
            QTest.keyClick(w, k, mod)
            yield

        return act

    def drag(stem: str, db_from: float, db_to: float):
        def act() -> Iterator[None]:
            fader = w.strips.strips[stem].fader
            a, b = db_to_fader(db_from), db_to_fader(db_to)
            for i in range(1, FADER_TICKS + 1):
                fader.setValue(round(a + (b - a) * i / FADER_TICKS))
                yield

        return act

    def double_click_fader(stem: str):
        def act() -> Iterator[None]:
            QTest.mouseDClick(w.strips.strips[stem].fader, Qt.MouseButton.LeftButton)
            yield

        return act

    def preset(name: str):
        def act() -> Iterator[None]:
            QTest.mouseClick(w.preset_buttons[name], Qt.MouseButton.LeftButton)
            yield

        return act

    def click_waveform():
        def act() -> Iterator[None]:
            wf = w.waveform
            x = round(next(golden) * (wf.width() - 1))
            QTest.mouseClick(
                wf,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
                QPoint(x, wf.height() // 2),
            )
            yield

        return act

    return [
        ("fader vocals 0 → -12 dB", drag("vocals", 0.0, -12.0)),
        ("mute drums (2)", key(Qt.Key.Key_2)),
        ("A/B (Tab)", key(Qt.Key.Key_Tab)),
        ("fader vocals -12 → 0 dB", drag("vocals", -12.0, 0.0)),
        ("unmute drums (2)", key(Qt.Key.Key_2)),
        ("seek: click on the waveform", click_waveform()),
        ("A/B (Tab)", key(Qt.Key.Key_Tab)),
        ("solo bass (Shift+3)", key(Qt.Key.Key_3, shift)),
        ("fader bass 0 → -6 dB", drag("bass", 0.0, -6.0)),
        ("unsolo bass (Shift+3)", key(Qt.Key.Key_3, shift)),
        ("seek +5 s (→)", key(Qt.Key.Key_Right)),
        ("A/B (Tab)", key(Qt.Key.Key_Tab)),
        ("mute other (4)", key(Qt.Key.Key_4)),
        ("fader drums 0 → -20 dB", drag("drums", 0.0, -20.0)),
        ("unmute other (4)", key(Qt.Key.Key_4)),
        ("seek -5 s (←)", key(Qt.Key.Key_Left)),
        ("A/B (Tab)", key(Qt.Key.Key_Tab)),
        ("preset Drumless", preset("Drumless")),
        ("bass fader to 0 dB (double-click)", double_click_fader("bass")),
        ("preset All", preset("All")),
    ]


def drive(
    song: str,
    settings_path: str,
    report_path: str,
    seconds: float,
    model_a: str,
    model_b: str,
    every: float,
    latency: str = "",
) -> int:
    """Open the window, load A and B, loop the song, play for ``seconds`` of wall clock while
    the scenario runs, pause, write the JSON report. Player subprocess, GUI thread."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPoint, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.main import engine_factory
    from app.main_window import MainWindow
    from app.settings import AppSettings

    app = QApplication([])
    theme.apply_theme(app, "dark")
    factory: Callable[[Any], Any] = engine_factory
    if latency:  # a diagnostic: the app's engine (see app.main.engine_factory), another latency

        def factory(settings: Any) -> Any:
            from engine.player import Engine, EngineConfig

            value: str | float = latency if latency in ("low", "high") else float(latency)
            return Engine(
                EngineConfig(
                    device=settings.device,
                    blocksize=settings.blocksize,
                    threads=settings.threads,
                    model=None,
                    latency=value,
                )
            )

    w = MainWindow(AppSettings(settings_path), factory)
    w.resize(1000, 640)
    w.show()
    QTest.qWaitForWindowExposed(w)
    w.activateWindow()
    QTest.qWaitForWindowActive(w)
    w.load_initial_models()
    c = w.controller
    report: dict[str, Any] = {"ok": False, "events": [], "errors": []}
    if c.models["A"] != model_a and not w.choose_model("A", model_a):
        report["errors"] = ["model A: " + repr(w.presenter.history)]
    elif not w.choose_model("B", model_b) or not w.open_path(song):
        report["errors"] = ["model B or song: " + repr(w.presenter.history)]
    if report["errors"]:
        Path(report_path).write_text(json.dumps(report))
        return 1
    # loop the whole song the way a user does: Shift+drag across the waveform
    QTest.qWait(200)  # the waveform learns the duration from the first status poll
    wf = w.waveform
    QTest.mousePress(
        wf,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        QPoint(0, wf.height() // 2),
    )
    QTest.mouseRelease(
        wf,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        QPoint(wf.width() - 1, wf.height() // 2),
    )
    report["loop"] = c.loop
    report["loop_enabled"] = c.loop_enabled

    # seek targets spread over the song without repeating (golden-ratio sequence)
    golden = ((0.1 + 0.6180339887 * i) % 1.0 for i in itertools.count())
    cycle = itertools.cycle(scenario(w, golden))
    ticks: list[float] = []
    state: dict[str, Any] = {
        "t0": None,
        "sound": None,
        "next": every,
        "action": None,
        "last": None,
        "phase": "start",
        "last_action": None,
        "last_seek": 0.0,
        "min_mix_ahead_s": 1e9,
        "behind_s": 0.0,
        "mix_s": 0.0,
        "playing_s": 0.0,
        "t_prev": None,
    }

    def t() -> float:
        return time.monotonic() - state["t0"] if state["t0"] is not None else 0.0

    def mix_ahead_s() -> float:
        """Seconds of plain mix decoded ahead of the playhead (what plays when all else fails;
        read-only look at the engine's ring)."""
        ring = c.engine.mixer.mix_ring
        return ring.ahead() / SR if ring is not None else 0.0

    def event(kind: str, **extra: Any) -> None:
        """``t``: seconds since the Space press (the analysis subtracts ``sound_t``)."""
        report["events"].append(
            {"t": round(t(), 3), "kind": kind, "pos": round(c.position_s, 3), **extra}
        )

    def on_tick() -> None:
        now = time.monotonic()
        ticks.append(now)
        st = c.status
        if state["phase"] == "start":
            state["t0"] = now
            state["phase"] = "play"
            QTest.keyClick(w, Qt.Key.Key_Space)
            report["play_took_s"] = time.monotonic() - now
            return
        if st is None:
            return
        last = state["last"]
        if last is not None:
            for field in ("underruns", "late", "non_finite"):
                d = getattr(st, field) - getattr(last, field)
                if d:
                    event(
                        field,
                        delta=d,
                        source=st.source,
                        last_action=state["last_action"],
                        mix_ahead_s=round(mix_ahead_s(), 3),
                    )
        state["last"] = st
        if state["phase"] == "play":
            if state["sound"] is None:
                if not (st.playing and st.position_s > 0.0):
                    if t() > 30.0:
                        report["errors"].append("no sound 30 s after Space")
                        finish()
                    return
                state["sound"] = t()
                state["t_prev"] = now
                return
            dt_ = now - state["t_prev"]
            state["t_prev"] = now
            if st.playing:
                if t() - state["last_seek"] > 2.0:  # the mix ring refills after a seek
                    state["min_mix_ahead_s"] = min(state["min_mix_ahead_s"], mix_ahead_s())
                state["playing_s"] += dt_
                state["mix_s"] += dt_ if not st.separated else 0.0
                state["behind_s"] += dt_ if st.behind else 0.0
            elapsed = t() - state["sound"]
            if state["action"] is not None:  # a drag in progress: its next step
                if next(state["action"], "done") == "done":
                    state["action"] = None
            elif elapsed >= seconds:
                report["final"] = status_dict(st)
                report["end_t"] = round(t(), 3)  # since the Space press
                QTest.keyClick(w, Qt.Key.Key_Space)  # pause: the rest of the capture is silence
                state["phase"] = "pause"
                state["pause_at"] = now
            elif elapsed >= state["next"]:
                state["next"] += every
                label, make = next(cycle)
                state["last_action"] = label
                if label.startswith("seek"):
                    state["last_seek"] = t()
                t_act = time.monotonic()
                event("action", label=label)
                gen = make()
                next(gen, None)
                report["events"][-1]["took"] = round(time.monotonic() - t_act, 4)
                state["action"] = gen
        elif state["phase"] == "pause" and now - state["pause_at"] > 0.5:
            finish()

    def finish() -> None:
        opened = state["t0"] or 0.0
        play_took = report.get("play_took_s", 0.0)
        gaps = [
            (b - a, a - opened)
            for a, b in itertools.pairwise(ticks)
            if not (a <= opened + 1e-3 and b >= opened + play_took)  # the Space press itself
        ]
        gaps.sort(reverse=True)
        st = c.status
        report.update(
            ok=not report["errors"] and "final" in report,
            sound_t=state["sound"],
            ticks=len(ticks),
            max_tick_gap_s=gaps[0][0] if gaps else 0.0,
            worst_gaps=[(round(g, 3), round(at, 3)) for g, at in gaps[:5]],
            playing_s=state["playing_s"],
            mix_s=state["mix_s"],
            behind_s=state["behind_s"],
            min_mix_ahead_s=state["min_mix_ahead_s"],
            callback_errors=int(getattr(c.engine.mixer, "errors", 0)),
            device_latency_s=float(c.engine._output.latency_s),  # what PortAudio granted
            models={s: (i.name if i is not None else None) for s, i in st.models.items()},
            dialogs=w.presenter.history,
        )
        if "final" not in report:
            report["final"] = status_dict(st)
        c.tick.disconnect(on_tick)
        w.close()
        app.quit()

    c.tick.connect(on_tick)
    QTimer.singleShot(
        int((seconds + 120) * 1000),
        lambda: (report["errors"].append("watchdog: the run did not end"), finish()),
    )
    app.exec()
    Path(report_path).write_text(json.dumps(report))
    return 0


def status_dict(st: Any) -> dict[str, Any]:
    return {
        "underruns": int(st.underruns),
        "late": int(st.late),
        "behind": bool(st.behind),
        "non_finite": int(st.non_finite),
        "speed_x": float(st.speed_x),  # separation speed, × real time (EngineStatus.speed_x)
        "ahead_s": float(st.ahead_s),
        "source": st.source,
        "separated": bool(st.separated),
        "error": st.error,
    }


# ------------------------------------------------------------------------------------------
# the parent: sink, burners, analysis


def burner() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy (a pure-Python busy loop) until terminated."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def silent_runs(audio: Any, start: int) -> Any:
    """``(runs, 2)`` [begin, end) capture frames of silence from ``start`` on (all runs)."""
    import numpy as np

    q = np.max(np.abs(audio[start:]), axis=1) < SILENCE
    d = np.diff(np.concatenate([[0], q.astype(np.int8), [0]]))
    begin = np.flatnonzero(d == 1) + start
    end = np.flatnonzero(d == -1) + start
    return np.stack([begin, end], axis=1) if begin.size else np.zeros((0, 2), dtype=np.int64)


def faded_out(audio: Any, begin: int) -> bool:
    """Whether the audio fades to zero over the block before ``begin`` (the mixer's transport
    fade: a seek or a pause) rather than being cut (a dropout): the RMS of the last quarter of
    those 512 frames against the first (a linear ramp gives ~0.17, music cut off ~1)."""
    import numpy as np

    x = np.asarray(audio[max(0, begin - 512) : begin])
    if len(x) < 512:
        return False
    head = float(np.sqrt(np.mean(x[:128] ** 2)))
    tail = float(np.sqrt(np.mean(x[-128:] ** 2)))
    return tail < FADE_RATIO * max(head, 1e-12)


def analyse(audio: Any, report: dict[str, Any]) -> dict[str, Any]:
    """Silence in the captured audio after the first sound: every run of at least
    ``MIN_GAP_FRAMES`` silent frames, split into those after a transport fade-out (seeks) and
    those where the sound was cut (dropouts). Times are seconds of capture after the first
    sound (the capture loses time wherever the device got nothing)."""
    from tests.audiosink import first_sound

    i0 = first_sound(audio, SILENCE)
    if i0 < 0:
        return {"captured_s": len(audio) / SR, "first_sound": None}
    runs = silent_runs(audio, i0)
    runs = runs[runs[:, 1] - runs[:, 0] >= MIN_GAP_FRAMES]
    end = len(audio)
    if len(runs) and runs[-1, 1] >= len(audio):  # the closing pause
        end = int(runs[-1, 0])
        runs = runs[:-1]
    # The file holds only what the player wrote: when its callback came too late the device
    # (JACK) played silence that never reached the file (PortAudio's recovery zeros do: they
    # are cut runs), and a starved dummy JACK clock also slips; so the capture is shorter than
    # the time played.
    sound_t = report.get("sound_t") or 0.0
    played_s = report.get("end_t", 0.0) - sound_t
    seeks = sum(
        1 for e in report["events"] if e["kind"] == "action" and e["label"].startswith("seek")
    )
    faded, cut = [], []
    for b, e in runs:
        (faded if faded_out(audio, int(b)) else cut).append((float(e - b) / SR, float(b - i0) / SR))
    faded.sort(reverse=True)
    cut.sort(reverse=True)
    return {
        "captured_s": round((end - i0) / SR, 2),
        "played_s": round(played_s, 2),
        "device_starved_s": round(played_s - (end - i0) / SR, 2),
        "lead_s": round(i0 / SR, 4),
        "silent_runs": len(runs),
        "longest_silence_ms": round(1e3 * float(max((e - b for b, e in runs), default=0)) / SR, 1),
        "seeks": seeks,
        "silent_runs_at_seeks": len(faded),
        "longest_at_seek_ms": round(1e3 * faded[0][0], 1) if faded else 0.0,
        "silent_runs_away_from_seeks": len(cut),
        "longest_away_ms": round(1e3 * cut[0][0], 1) if cut else 0.0,
        "away_worst": [(round(1e3 * d, 1), round(t, 2)) for d, t in cut[:5]],
    }


def machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{os.cpu_count()}-core {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"{os.cpu_count()}-core {platform.processor() or platform.machine()}"


def other_load() -> list[str]:
    """Command lines of training runs on the machine (they also load it)."""
    out = subprocess.run(
        ["pgrep", "-af", "training train"], capture_output=True, text=True, check=False
    ).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.strip()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import pytest

    from tests.audiosink import alsa_sink

    seconds = args.minutes * 60.0
    result: dict[str, Any] = {
        "command": "python benchmarks/soak.py " + " ".join(sys.argv[1:]),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "minutes": args.minutes,
        "burners": args.burn,
        "song": str(args.song),
        "latency": args.latency or "app default",
        "model_a": args.model_a,
        "model_b": args.model_b,
        "trainings_running": other_load(),
        "loadavg_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="stemplay-soak-") as tmp:
        tmpd = Path(tmp)
        report_path = tmpd / "report.json"
        burners: list[subprocess.Popen[bytes]] = []
        try:
            with alsa_sink(tmpd / "sink", paced=True) as sink:
                sink.env.update(QT_QPA_PLATFORM="offscreen")
                burners = [burner() for _ in range(args.burn)]
                t_burn = time.monotonic()
                proc = sink.run(
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--drive",
                        str(args.song),
                        str(tmpd / "settings.ini"),
                        str(report_path),
                        str(seconds),
                        args.model_a,
                        args.model_b,
                        str(args.every),
                        args.latency,
                    ],
                    timeout=seconds + 300,
                )
                burn_wall = time.monotonic() - t_burn
                result["burner_core_share"] = [
                    round(cpu_seconds(p.pid) / burn_wall, 2) for p in burners
                ]
                audio = sink.captured()
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    shutil.copy(sink.wav, Path(args.keep) / "soak.wav")
        except pytest.skip.Exception as err:  # the sink could not be set up
            raise SystemExit(f"soak: cannot set up the paced capture device: {err}") from None
        finally:
            for p in burners:
                p.terminate()
                p.wait(5)
        result["loadavg_after"] = os.getloadavg()
        if proc.returncode != 0 or not report_path.exists():
            raise SystemExit(
                f"soak: the player failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        rep = json.loads(report_path.read_text())
    result["player_stderr_tail"] = proc.stderr[-1500:]
    result["driver"] = rep
    result["audio"] = analyse(audio, rep)
    return result


def reanalyse(folder: Path) -> dict[str, Any]:
    """The result of a kept run with its audio analysed again (this version of the analysis)."""
    from tests.audiosink import AlsaSink

    result = json.loads((folder / "soak.json").read_text())
    audio = AlsaSink(folder, folder / "soak.wav", paced=True).captured()
    result["audio"] = analyse(audio, result["driver"])
    return result


def table(r: dict[str, Any]) -> str:
    d, a, f = r["driver"], r["audio"], r["driver"].get("final", {})
    actions = [e for e in d["events"] if e["kind"] == "action"]
    under = [e for e in d["events"] if e["kind"] == "underruns" and e["t"] <= d.get("end_t", 1e9)]
    fed = sum(e["delta"] for e in under if e["mix_ahead_s"] >= 1.0)
    kinds = {"A/B": 0, "seek": 0, "fader": 0, "mute/solo/preset": 0}
    for e in actions:
        lab = e["label"]
        k = (
            "A/B"
            if lab.startswith("A/B")
            else "seek"
            if lab.startswith("seek")
            else "fader"
            if "fader" in lab
            else "mute/solo/preset"
        )
        kinds[k] += 1
    rows = [
        ("machine", r["machine"]),
        ("date", r["date"]),
        ("command", r["command"]),
        (
            "load",
            (
                f"{r['burners']} burner(s) at {r.get('burner_core_share')} of a core; "
                f"{len(r['trainings_running'])} training run(s) also running; "
                f"loadavg {r['loadavg_before'][0]:.2f} → {r['loadavg_after'][0]:.2f}"
            ),
        ),
        (
            "models, output",
            (
                f"A {d.get('models', {}).get('A')}, B {d.get('models', {}).get('B')}; latency "
                f"{r.get('latency')} ({1e3 * d.get('device_latency_s', 0):.0f} ms granted)"
            ),
        ),
        (
            "played",
            f"{a.get('played_s')} s, {len(actions)} actions: "
            + ", ".join(f"{v} {k}" for k, v in kinds.items()),
        ),
        ("underruns", f["underruns"] if f else "?"),
        (
            "  with >= 1 s of mix decoded ahead",
            (
                f"{fed} of {sum(e['delta'] for e in under)} (the callback came late; the rings "
                f"were not empty: min {d.get('min_mix_ahead_s', 0):.1f} s ahead away from seeks)"
            ),
        ),
        ("  capture shorter than played (upper bound)", f"{a.get('device_starved_s')} s"),
        ("late stems (fallbacks to the plain mix)", f["late"] if f else "?"),
        ("mix stood in for late stems", f"{d.get('behind_s', 0):.1f} s"),
        ("plain mix heard (incl. after seeks)", f"{d.get('mix_s', 0):.1f} s"),
        (
            "non-finite blocks / callback errors",
            f"{f.get('non_finite', '?')} / {d.get('callback_errors', '?')}",
        ),
        ("model failures / error dialogs", f"{f.get('error')} / {len(d.get('dialogs', []))}"),
        (
            "longest silence after first sound",
            (
                f"{a.get('longest_silence_ms')} ms "
                f"({a.get('silent_runs')} silent runs ≥ {MIN_GAP_FRAMES} frames)"
            ),
        ),
        (
            "  after a fade-out (seeks)",
            (
                f"{a.get('silent_runs_at_seeks')} runs / {a.get('seeks')} seeks, "
                f"longest {a.get('longest_at_seek_ms')} ms"
            ),
        ),
        (
            "  cut (dropouts)",
            f"{a.get('silent_runs_away_from_seeks')} runs, longest {a.get('longest_away_ms')} ms",
        ),
        (
            "max event-loop gap",
            f"{1e3 * d.get('max_tick_gap_s', 0):.0f} ms ({d.get('ticks')} polls)",
        ),
        ("separation speed at the end", f"{f.get('speed_x', 0):.1f}× real time"),
    ]
    if not d.get("ok"):
        rows.insert(0, ("RUN INCOMPLETE", f"{d.get('errors')} {d.get('dialogs')}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--drive"]:
        song, settings, report, seconds, a, b, every, latency = argv[1:9]
        return drive(song, settings, report, float(seconds), a, b, float(every), latency)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.0, help="playing time (default 5)")
    p.add_argument("--burn", type=int, default=1, help="busy-loop processes beside (default 1)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--song", type=Path, default=ROOT / "assets" / "demo" / "mixture.flac")
    p.add_argument("--model-a", default="unet")
    p.add_argument("--model-b", default="hybrid")
    p.add_argument("--every", type=float, default=1.5, help="seconds between user actions")
    p.add_argument(
        "--latency",
        default="",
        help="diagnostic: output latency (low, high or seconds) instead of the app's",
    )
    p.add_argument(
        "--keep", help="write the captured WAV and the full result (soak.wav, soak.json) here"
    )
    p.add_argument(
        "--from",
        dest="source",
        metavar="DIR",
        help="no run: analyse again what --keep DIR kept (soak.wav, soak.json)",
    )
    args = p.parse_args(argv)
    if args.source:
        result = reanalyse(Path(args.source))
        print(json.dumps(result, indent=1) if args.json else table(result))
        return 0
    if args.minutes <= 0 or args.burn < 0 or args.every <= 0:
        p.error("--minutes and --every must be > 0, --burn >= 0")
    result = run(args)
    if args.keep:
        (Path(args.keep) / "soak.json").write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
