"""stemplay engine: everything below the GUI.

Decode, STFT/iSTFT, ONNX separation, the streaming worker, ring buffers, the mixer in the
audio callback, offline export and the headless command line. Never imports Qt or torch.
Importing this package is cheap: submodules are imported where they are used.
"""

__version__ = "0.1.0"
