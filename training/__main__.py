"""``python -m training COMMAND ...``: dispatch to the sub-command's module (imported lazily)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "synth": ("training.synth.cli", "generate a synthetic multitrack dataset"),
    "preview": ("training.synth.preview", "render short previews and spectrograms of a dataset"),
    "train": ("training.train", "train a separation model from a YAML config"),
    "evaluate": ("training.evaluate", "score an ONNX model through the engine's separator"),
    "export": ("training.export", "export a checkpoint to ONNX with the model contract metadata"),
    "ensemble": ("training.ensemble", "one model file: the weighted mean of several models' stems"),
    "gpu-import": ("training.gpu.importer", "turn a GPU run's output into best.pt / last.pt"),
    "gpupack": ("training.gpu.pack", "pack training audio (Opus) + wheels for a GPU machine"),
    "realmusic": ("training.data.realmusic", "fetch, decode and screen the real-music bank"),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"} or args[0] not in COMMANDS:
        print("usage: python -m training {{{}}} ...".format("|".join(COMMANDS)), file=sys.stderr)
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<9} {text}", file=sys.stderr)
        return 0 if args and args[0] in {"-h", "--help"} else 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
