"""The headless command line: ``stemplay play|export|models|devices|bench``.

argparse follows DESIGN.md's CLI exactly. ``export`` and ``models`` are implemented here;
``play``, ``devices`` and ``bench`` are parsed here and run by ``engine.playback_cli``.
Exit status: 0 on success, 1 with one line ``stemplay: error: ...`` on stderr for any
:class:`~engine.errors.StemplayError`, 2 for a usage error (argparse), 130 on Ctrl-C. Never a
traceback for a user error. SIGTERM and SIGHUP unwind like Ctrl-C (an export removes its
partial files) and exit with 128 + the signal number. Imports neither Qt nor torch.

Thread: the main thread.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from engine import __version__
from engine.errors import ExportError, StemplayError
from engine.levels import MAX_GAIN_DB

PROG = "stemplay"
EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage on its own line first), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{PROG}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def parse_gains(items: str | Iterable[str] | None) -> dict[str, float]:
    """The one rule for stem gains on the command line (``play --gain``, ``export --mix``).

    ``"vocals=-inf,drums=3"`` or ``["vocals=-6", "bass=mute"]`` → ``{stem: dB}`` (later items
    win). DB is a number with an optional ``dB`` suffix (``-6``, ``+3dB``), or ``mute``,
    ``off``, ``-inf`` for silence; at most ``MAX_GAIN_DB`` (+24 dB). Anything else (no ``=``,
    NaN, +inf, louder than the cap, not a number) raises ``ValueError`` with one line.
    """
    gains: dict[str, float] = {}
    for text in [items] if isinstance(items, str) else items or []:
        for item in (p.strip() for p in text.split(",")):
            if not item:
                continue
            stem, sep, value = item.partition("=")
            stem, value = stem.strip(), value.strip().lower()
            if not sep or not stem or not value:
                raise ValueError(f"expected STEM=DB (e.g. vocals=-6 or drums=mute), got {item!r}")
            if value in {"mute", "off", "-inf", "-infinity"}:
                gains[stem] = -math.inf
                continue
            try:
                db = float(value.removesuffix("db"))
            except ValueError:
                raise ValueError(f"{item!r}: {value!r} is not a number of dB") from None
            if math.isnan(db):
                raise ValueError(f"{item!r}: {value!r} is not a number of dB")
            if db > MAX_GAIN_DB:
                raise ValueError(f"{item!r}: gain must be at most +{MAX_GAIN_DB:g} dB")
            gains[stem] = db
    return gains


def parse_mix(text: str) -> dict[str, float]:
    """``--mix``'s argparse type: :func:`parse_gains` of one comma list, at least one stem."""
    try:
        gains = parse_gains(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not gains:
        raise argparse.ArgumentTypeError("expected STEM=DB[,STEM=DB...]")
    return gains


def _stem_list(text: str) -> list[str]:
    stems = [s.strip() for s in text.split(",") if s.strip()]
    if not stems:
        raise argparse.ArgumentTypeError("expected a comma list of stems, e.g. vocals,drums")
    return stems


def _seconds(text: str) -> float:
    """A finite number of seconds >= 0 (``nan``, ``inf`` and negatives are usage errors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number of seconds >= 0")
    return value


def latency_ms(text: str) -> float:
    """An output buffer in milliseconds, 1..2000, returned in seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not (math.isfinite(value) and 1 <= value <= 2000):
        raise argparse.ArgumentTypeError(f"{text!r}: expected milliseconds from 1 to 2000")
    return value / 1000.0


def _checked(text: str, check: Callable[[float], float], what: str) -> float:
    """``check(float(text))`` as an argparse type: its one-line ValueError for a number out of
    range, "... is not <what>" for text that is no number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    try:
        return check(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def tempo_ratio(text: str) -> float:
    """A speed ratio within engine.stretch's limits (0.5..1.5)."""
    from engine.stretch import check_tempo

    return _checked(text, check_tempo, "a speed ratio (e.g. 0.8)")


def semitones(text: str) -> float:
    """A transposition in semitones within engine.stretch's limits (±6; fractions = cents)."""
    from engine.stretch import check_pitch

    return _checked(text, check_pitch, "a number of semitones")


def parse_pan(text: str) -> dict[str, float]:
    """``"vocals=-100,bass=30"`` → ``{"vocals": -100.0, "bass": 30.0}`` (-100 = hard left)."""
    pans: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        stem, sep, value = item.partition("=")
        stem, value = stem.strip(), value.strip()
        if not sep or not stem or not value:
            raise argparse.ArgumentTypeError(f"expected STEM=PAN, got {item!r}")
        try:
            pan = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: {value!r} is not a number") from None
        if not (math.isfinite(pan) and -100 <= pan <= 100):
            raise argparse.ArgumentTypeError(f"{item!r}: pan goes from -100 (left) to 100 "
                                             "(right)")
        pans[stem] = pan
    if not pans:
        raise argparse.ArgumentTypeError("expected STEM=PAN[,STEM=PAN...]")
    return pans


def merged(items: list[dict[str, float]] | None) -> dict[str, float]:
    """Several ``--pan`` options as one mapping (later ones win)."""
    out: dict[str, float] = {}
    for item in items or []:
        out.update(item)
    return out


MODEL_HELP = "model name in models/ (with or without .onnx) or path to an .onnx file"


def _practice_options(p: argparse.ArgumentParser) -> None:
    """--tempo and --pitch, shared by play and export."""
    p.add_argument("--tempo", type=tempo_ratio, default=1.0, metavar="RATIO",
                   help="speed without changing pitch, 0.5..1.5 (default 1)")
    p.add_argument("--pitch", type=semitones, default=0.0, metavar="SEMITONES",
                   help="transpose without changing speed, -6..6 (fractions are cents; "
                        "default 0)")


def _play_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("--model", metavar="M", help=MODEL_HELP)
    p.add_argument("--mute", action="append", default=[], metavar="STEM")
    p.add_argument("--solo", action="append", default=[], metavar="STEM")
    p.add_argument("--gain", action="append", default=[], metavar="STEM=DB",
                   help="stem gain in dB, at most +24, or mute (e.g. vocals=-6)")
    p.add_argument("--start", type=_seconds, default=0.0, metavar="SEC")
    p.add_argument("--duration", type=_seconds, default=None, metavar="SEC")
    p.add_argument("--device", default=None, metavar="ID",
                   help="output device id or name (see `stemplay devices`)")
    p.add_argument("--latency", type=latency_ms, default=None, metavar="MS",
                   help="output buffer in milliseconds (default 100; smaller: faders react "
                        "sooner, but a busy machine may drop out)")
    _practice_options(p)
    p.add_argument("--pan", type=parse_pan, action="append", default=[], metavar="STEM=PAN",
                   help="pan stems, -100 (left) .. 100 (right), e.g. vocals=-100")


def _export_options(e: argparse.ArgumentParser) -> None:
    e.add_argument("files", nargs="+", metavar="FILE")
    e.add_argument("-o", "--output", default=".", metavar="DIR",
                   help="output folder; each track gets a sub-folder (default: .)")
    e.add_argument("--model", metavar="M", help=MODEL_HELP + " (default: the best in models/)")
    e.add_argument("--stems", type=_stem_list, default=None, metavar="a,b",
                   help="only these stems (default: all)")
    e.add_argument("--format", default="wav", choices=["wav", "flac", "ogg", "mp3"])
    e.add_argument("--subtype", default=None, choices=["PCM_16", "PCM_24", "FLOAT"],
                   type=str.upper, help="sample format of wav/flac (default PCM_24)")
    e.add_argument("--name", default="{track} - {stem}.{ext}", metavar="TEMPLATE",
                   help="file name template; fields {track} {stem} {ext} {model}")
    e.add_argument("--mix", type=parse_mix, default=None, metavar="STEM=DB,...",
                   help="write one file: the mix with these gains (e.g. vocals=-inf: karaoke)")
    e.add_argument("--overwrite", action="store_true",
                   help="replace files that exist already (default: refuse, before any work)")
    e.add_argument("--clipping", default="scale", choices=["scale", "clip"],
                   help="integer/lossy formats, when a stem would exceed full scale: scale = "
                   "one common gain for all files of the track so none clips and the stems "
                   "still add up to the mix (default); clip = clip each sample")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _practice_options(e)
    e.add_argument("--pan", type=parse_pan, action="append", default=[], metavar="STEM=PAN,...",
                   help="with --mix: pan stems in the mix, -100 (left) .. 100 (right), e.g. "
                        "vocals=-100 (stem files are not panned)")


def _bench_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("file", nargs="?", metavar="FILE")
    b.add_argument("--model", metavar="M", help=MODEL_HELP)
    b.add_argument("--model-b", metavar="M",
                   help="slot B for speed_x_ab (default: a second copy of --model), e.g. "
                        "--model hybrid --model-b unet")
    b.add_argument("--provider", choices=("auto", "cpu", "cuda"), default=None,
                   help="where the models run: cuda (an error if it cannot), cpu, or auto "
                        "(default: $STEMPLAY_PROVIDER, else CUDA when it works, else the CPU)")
    b.add_argument("--json", action="store_true", help="print one JSON object")


def _no_options(_p: argparse.ArgumentParser) -> None:
    pass


# --------------------------------------------------------------------------------------------
# export


class ProgressBar:
    """A plain-text progress bar on a stream (redrawn in place on a terminal; otherwise a
    line at every 10 %)."""

    def __init__(self, label: str, stream: TextIO, width: int = 30) -> None:
        self.label = label
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._shown = -1
        self._t0 = time.monotonic()

    def end_line(self) -> None:
        if self.tty and 0 <= self._shown < 100:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, fraction: float) -> None:
        pct = round(100 * max(0.0, min(1.0, fraction)))
        if self.tty:
            if pct == self._shown:
                return
            filled = self.width * pct // 100
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {pct:3d}%")
            if pct == 100:
                self.stream.write(f"  {time.monotonic() - self._t0:.1f}s\n")
        else:
            step = pct // 10 * 10
            if step <= self._shown:
                return
            pct = step
            self.stream.write(f"{self.label}: {pct}%\n")
        self._shown = pct
        self.stream.flush()


def export_command(args: argparse.Namespace, stderr: TextIO | None = None) -> int:
    """Export every FILE; stops at the first failure. Prints each written file on stdout."""
    from engine.export import check_format, export_file
    from engine.model import default_model_path, load_model

    err = stderr or sys.stderr
    check_format(args.format, args.subtype)
    from engine.decode import open_audio
    from engine.export import MIX_STEM, OutputExistsError, output_paths, unique_folders

    titles = []
    for file in args.files:  # refuse a bad file before spending minutes on the good ones
        reader = open_audio(file)
        titles.append(reader.info.title)
        reader.close()
    folders = unique_folders(titles)  # same titles (song.mp3, song.opus) never share a folder
    model_arg = args.model
    if model_arg is None:
        model_arg = default_model_path()
        if model_arg is None:
            from engine import config

            raise ExportError(f"no separation model in {config.MODELS_DIR} (give one with "
                              "--model)")
    model = load_model(model_arg)
    overwrite = bool(getattr(args, "overwrite", False))
    if not overwrite:  # refuse before any work, not after minutes on the first files
        stems = args.stems or ([] if args.mix is not None else list(model.info.stems))
        outputs = list(dict.fromkeys(stems)) + ([MIX_STEM] if args.mix is not None else [])
        ext = args.format.lower()
        for title, folder in zip(titles, folders, strict=True):
            paths = output_paths(args.output, title, outputs, ext, model.info.name, args.name,
                                 folder)
            existing = [p for p in paths if p.exists()]
            if existing:
                more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
                raise OutputExistsError(f"{existing[0]} exists already{more}; not replaced "
                                        "(use --overwrite to replace)")
    cancel = threading.Event()

    def note(text: str) -> None:
        err.write(f"{PROG}: note: {text}\n")
        err.flush()

    for i, (file, folder) in enumerate(zip(args.files, folders, strict=True), start=1):
        label = f"[{i}/{len(args.files)}] {Path(file).name}"
        bar = None if args.quiet else ProgressBar(label, err)
        try:
            written = export_file(
                file, args.output, model=model, stems=args.stems, fmt=args.format,
                subtype=args.subtype, name=args.name, mix=args.mix, progress=bar,
                cancel=cancel, overwrite=overwrite, folder_name=folder,
                clipping=getattr(args, "clipping", "scale"), report=note,
                tempo=getattr(args, "tempo", 1.0), pitch=getattr(args, "pitch", 0.0),
                pan=merged(getattr(args, "pan", None)) or None,
            )
        except BaseException:
            if bar is not None:
                bar.end_line()  # the error message starts on its own line
            raise
        for path in written:
            print(path)
    return 0


# --------------------------------------------------------------------------------------------
# models


def models_command(args: argparse.Namespace) -> int:
    """Print a table of the models in models/, marking the default; invalid files below it."""
    from engine import config
    from engine.model import list_models, pick_default

    errors: list[str] = []
    models = list_models(errors)
    default = pick_default(models)
    if not models:
        print(f"no usable model in {config.MODELS_DIR}: the player plays the plain mix")
    else:
        rows = [("", "NAME", "FILE", "STEMS", "BINS", "FRAMES", "VERSION", "DESCRIPTION")]
        for info in models:
            rows.append((
                "*" if info is default else "", info.name, info.path.name, ",".join(info.stems),
                str(info.bins), info.frames_label, info.version, info.description,
            ))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
            print("  ".join([*cells, row[-1]]).rstrip())
        print(f"\n* default model; folder: {config.MODELS_DIR}")
    for line in errors:
        print(f"skipped: {line}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# the sub-commands, registered once


def _playback(name: str) -> Callable[[argparse.Namespace], int]:
    """``engine.playback_cli.<name>``, looked up when the command runs (imports the engine's
    playback side only then)."""

    def run(args: argparse.Namespace) -> int:
        from engine import playback_cli

        return int(getattr(playback_cli, name)(args))

    return run


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, its one-line help, the function that declares its options
    and the function that runs it (``args -> exit status``)."""

    name: str
    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Every headless sub-command, declared once (name → :class:`Command`): :func:`build_parser`,
#: ``python -m engine.bench`` (the ``bench`` options) and ``app.launcher`` (which first words
#: skip the GUI) derive from it.
COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("play", "play a song headless with a stem mix", _play_options,
            _playback("play_command")),
    Command("export", "separate files and write their stems (or a mix)", _export_options,
            export_command),
    Command("models", "list the models in models/ with their metadata", _no_options,
            models_command),
    Command("devices", "list audio output devices", _no_options, _playback("devices_command")),
    Command("bench", "speed and latency figures", _bench_options, _playback("bench_command")),
)}
COMMAND_NAMES = frozenset(COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, one sub-parser per :data:`COMMANDS` entry."""
    parser = _Parser(
        prog=PROG,
        description="A music player that separates a song into stems while it plays. "
        "Without a sub-command, `stemplay [FILE]` opens the player window.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for cmd in COMMANDS.values():
        cmd.options(sub.add_parser(cmd.name, help=cmd.help))
    return parser


# --------------------------------------------------------------------------------------------
# entry point


def _run(args: argparse.Namespace) -> int:
    return int(COMMANDS[args.command].run(args))


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so exports remove their partial files."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def _install_signal_handlers() -> dict[int, Any]:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread; returns the previous
    handlers (nothing is installed off the main thread, where Python cannot)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:  # SIGHUP does not exist on Windows
            continue
        handler = signal.getsignal(signum)
        if handler is signal.SIG_IGN:  # `nohup stemplay ...`: the user asked to ignore it
            continue
        previous[signum] = handler
        signal.signal(signum, _raise_terminated)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (argparse usage errors exit with 2)."""
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "export" and args.pan and args.mix is None:
            parser.error("--pan applies to --mix (stem files are not panned)")
    except SystemExit as done:  # --help / --version (0) or a usage error (2)
        return int(done.code or 0) if not isinstance(done.code, str) else EXIT_USAGE
    previous = _install_signal_handlers()
    try:
        return _run(args)
    except Terminated as sig:
        name = signal.Signals(sig.signum).name
        sys.stderr.write(f"\n{PROG}: stopped by {name}\n")
        return 128 + sig.signum
    except StemplayError as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        sys.stderr.write(f"{PROG}: error: {message}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:  # `stemplay models | head`
        return 0
    finally:
        _restore_signal_handlers(previous)


if __name__ == "__main__":
    sys.exit(main())
