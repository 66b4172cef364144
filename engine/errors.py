"""Typed errors a user can cause. Each message is one line a person understands.

The CLI prints ``str(err)`` on stderr and exits non-zero; the GUI shows it in a dialog.
"""

from __future__ import annotations


class StemplayError(Exception):
    """Base of every error caused by user input or the user's machine (not by a bug)."""


class DecodeError(StemplayError):
    """An audio file cannot be read: missing, empty, corrupt, unsupported."""


class ModelError(StemplayError):
    """A model file is missing, corrupt or does not honour the model contract."""


class DeviceError(StemplayError):
    """No usable audio output device (or the chosen one cannot be opened)."""


class ExportError(StemplayError):
    """Export failed (full or read-only disk, bad template, bad format...). Nothing is left half-written."""
