"""GUI entry point: ``stemplay [FILE]`` (called by ``app.launcher``). Main/GUI thread.

Builds the QApplication, the theme, the engine factory and the main window; opens FILE, or the
bundled demo song when there is one, or nothing (the window invites to open a file).
SIGTERM, SIGHUP and Ctrl-C close the window cleanly (a running export removes its partial
files).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from app.settings import AppSettings


def engine_factory(settings: AppSettings) -> Any:
    """A new :class:`engine.player.Engine` configured from the user's settings."""
    from engine.player import Engine, EngineConfig

    device: int | str | None = settings.device
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    # model=None: the window chooses the models (the last session's, else the default)
    return Engine(
        EngineConfig(
            device=device,
            blocksize=settings.blocksize,
            latency=settings.latency,
            threads=settings.threads,
            model=None,
        )
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="stemplay", description="Play a song while mixing its stems.")
    p.add_argument("file", nargs="?", help="song to open (default: the bundled demo song)")
    p.add_argument("--theme", choices=("dark", "light"), help="override the saved theme")
    p.add_argument("--settings", help="settings file to use instead of the user's")
    p.add_argument("--quit-after", type=float, metavar="SEC", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.main_window import MainWindow
    from engine.config import DEMO_SONG

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("stemplay")
    app.setOrganizationName("stemplay")
    settings = AppSettings(args.settings)
    if args.theme:
        settings.theme = args.theme
    theme.apply_theme(app, settings.theme)

    window = MainWindow(settings, engine_factory)
    window.show()
    window.load_initial_models()
    if args.file:
        window.open_path(Path(args.file))
    elif DEMO_SONG.is_file():
        window.open_path(DEMO_SONG)
    if args.quit_after is not None:  # smoke test of a bundle: start, run, close cleanly
        QTimer.singleShot(int(args.quit_after * 1000), window.close)
    ticker = install_signal_handlers(window)
    code = app.exec()
    ticker.stop()
    return int(code)


def install_signal_handlers(window: Any) -> Any:
    """SIGTERM / SIGHUP / SIGINT close the window as the close button does, without asking:
    a running export is cancelled and removes its partial files, settings are saved. Returns
    the timer that lets Python run its signal handlers while Qt's event loop waits."""
    import signal

    from PySide6.QtCore import QTimer

    def close(_signum: int, _frame: object) -> None:
        window.force_close = True
        QTimer.singleShot(0, window.close)

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, close)
    ticker = QTimer()
    ticker.timeout.connect(lambda: None)  # Python checks for signals between Qt events
    ticker.start(200)
    return ticker


if __name__ == "__main__":
    sys.exit(main())
