"""The ``stemplay`` console script: the GUI, or a headless engine command.

``stemplay [FILE]`` opens the GUI; ``stemplay play|export|models|devices|bench ...`` runs the
engine's command line without ever importing Qt.
"""

from __future__ import annotations

import sys

from engine.cli import COMMAND_NAMES  # the registered sub-commands (imports neither Qt nor torch)

#: First words that run the engine's command line instead of the GUI.
HEADLESS_WORDS = COMMAND_NAMES | {"-h", "--help", "--version"}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in HEADLESS_WORDS:
        from engine.cli import main as engine_main

        return engine_main(args)
    from app.main import main as gui_main

    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())
