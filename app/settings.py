"""Persisted user settings (QSettings, INI format). GUI thread.

Typed accessors so that the rest of the app never handles raw QVariants.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from engine.config import OUTPUT_LATENCIES, OUTPUT_LATENCY_S

MAX_RECENT = 10
BLOCK_SIZES = (256, 512, 1024, 2048)
#: The model's name is in the default file names: exports of A and B never overwrite each other.
DEFAULT_EXPORT_TEMPLATE = "{track} - {stem} ({model}).{ext}"
#: The songs the file dialogs offer (File → Open, Batch export → Add songs).
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif *.m4a *.opus);;All files (*)"


class _Text:
    """A string setting of :class:`AppSettings` stored under ``key``; ``default`` (or what it
    returns, when callable) while none is stored."""

    def __init__(self, key: str, default: str | Callable[[], str]) -> None:
        self.key = key
        self.default = default

    def __get__(self, obj: AppSettings | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        default = self.default() if callable(self.default) else self.default
        return obj._str(self.key, default)

    def __set__(self, obj: AppSettings, v: str) -> None:
        obj._s.setValue(self.key, v)


class AppSettings:
    """Wraps one QSettings store; ``path`` selects a file (tests), else the user's config."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = Path(path) if path is not None else None
        if path is None:
            self._s = QSettings(
                QSettings.Format.IniFormat, QSettings.Scope.UserScope, "stemplay", "stemplay"
            )
        else:
            self._s = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def file_path(self) -> Path | None:
        """The settings file when one was given (tests, portable use), else None."""
        return self._path

    def sync(self) -> None:
        self._s.sync()

    def _str(self, key: str, default: str) -> str:
        v = self._s.value(key, default)
        return default if v is None else str(v)

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._s.value(key, default))
        except (TypeError, ValueError):
            return default

    def _list(self, key: str) -> list[str]:
        v = self._s.value(key, [])
        if v is None:
            return []
        if isinstance(v, str):
            return [v] if v else []
        return [str(x) for x in v]

    # -- appearance ---------------------------------------------------------------------------
    @property
    def theme(self) -> str:
        v = self._str("ui/theme", "dark")
        return v if v in ("dark", "light") else "dark"

    @theme.setter
    def theme(self, v: str) -> None:
        self._s.setValue("ui/theme", v)

    @property
    def geometry(self) -> QByteArray | None:
        v = self._s.value("ui/geometry")
        return v if isinstance(v, QByteArray) else None

    @geometry.setter
    def geometry(self, v: QByteArray) -> None:
        self._s.setValue("ui/geometry", v)

    # -- audio ----------------------------------------------------------------------------------
    @property
    def device(self) -> str | None:
        """Output device as the engine knows it (index or name); ``None`` = system default."""
        v = self._str("audio/device", "")
        return v or None

    @device.setter
    def device(self, v: str | None) -> None:
        self._s.setValue("audio/device", "" if v is None else str(v))

    @property
    def blocksize(self) -> int:
        v = self._int("audio/blocksize", 512)
        return v if v in BLOCK_SIZES else 512

    @blocksize.setter
    def blocksize(self, v: int) -> None:
        self._s.setValue("audio/blocksize", int(v))

    @property
    def latency(self) -> float:
        """Output buffer asked of the sound card (seconds; one of OUTPUT_LATENCIES)."""
        ms = self._int("audio/latency_ms", round(1000 * OUTPUT_LATENCY_S))
        choices = {round(1000 * s): s for s in OUTPUT_LATENCIES}
        return choices.get(ms, OUTPUT_LATENCY_S)

    @latency.setter
    def latency(self, v: float) -> None:
        self._s.setValue("audio/latency_ms", round(1000 * float(v)))

    @property
    def threads(self) -> int:
        """Inference threads; 0 lets the engine choose."""
        return max(0, self._int("audio/threads", 0))

    @threads.setter
    def threads(self, v: int) -> None:
        self._s.setValue("audio/threads", int(v))

    # -- files and models -----------------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        return self._list("files/recent")[:MAX_RECENT]

    def add_recent(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        items = [p] + [x for x in self.recent_files if x != p]
        self._s.setValue("files/recent", items[:MAX_RECENT])
        return items[:MAX_RECENT]

    def clear_recent(self) -> None:
        self._s.setValue("files/recent", [])

    @property
    def user_models(self) -> list[str]:
        """``.onnx`` files the user added with the file dialog (validated by the engine)."""
        return self._list("models/user")

    def add_user_model(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        if p not in self.user_models:
            self._s.setValue("models/user", self.user_models + [p])

    def model(self, slot: str) -> str | None:
        v = self._str(f"models/{slot}", "")
        return v or None

    def set_model(self, slot: str, v: str | None) -> None:
        self._s.setValue(f"models/{slot}", v or "")

    def model_chosen(self, slot: str) -> bool:
        """Whether the user ever chose a model (or "(none)") for ``slot``."""
        return bool(self._s.contains(f"models/{slot}"))

    # -- export ---------------------------------------------------------------------------------
    export_dir = _Text("export/dir", lambda: str(Path.home() / "Music" / "stemplay"))
    export_template = _Text("export/template", DEFAULT_EXPORT_TEMPLATE)
    export_format = _Text("export/format", "wav")
    export_subtype = _Text("export/subtype", "PCM_24")
