"""The library: songs opened before, each with the mix it was left with. GUI thread.

A small SQLite database (standard library ``sqlite3``) in the user's data folder
(``$XDG_DATA_HOME/stemplay/library.sqlite3``, default ``~/.local/share/stemplay``). One row per
song (by resolved path) with its title, size, mtime, when it was last opened and its mix as
JSON: gains, mutes, solos, master, pan, tempo, pitch, loop, the models of A and B and what was
heard. The schema carries a version (table ``meta``); a database of a newer version is left
alone. A corrupt, unreadable or locked database costs one warning line and the app works on
without a memory (nothing raised, nothing half-written: every write is one transaction).

``snapshot(controller)`` and ``restore(...)`` translate between a controller's state and the
stored mapping; fields the controller does not have (yet) are skipped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "library.sqlite3"
BUSY_TIMEOUT_S = 0.5  # how long a write waits for another process holding the database


def data_dir() -> Path:
    """``$XDG_DATA_HOME/stemplay`` (default ``~/.local/share/stemplay``); not created here."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "stemplay"


@dataclass(frozen=True)
class Song:
    """One remembered song."""

    path: str
    title: str
    last_opened: float  # Unix time
    mix: dict[str, Any]


class Library:
    """The database; every method is safe to call when it is unusable (then it does nothing)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / FILE_NAME
        self.db: sqlite3.Connection | None = None
        self.problem: str | None = None  # why the library is off (one line), or None
        self._warned: set[str] = set()  # messages already logged (a locked DB: once)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            self._migrate(db)
            self.db = db
        except (sqlite3.Error, OSError, ValueError) as err:
            self._off(f"song library {self.path} not usable ({err}); mixes are not remembered")

    def _off(self, message: str) -> None:
        self.problem = message
        log.warning("%s", message)
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass
        self.db = None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise ValueError(f"written by a newer stemplay (schema {version})")
            if version < 1:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS songs (path TEXT PRIMARY KEY, title TEXT NOT NULL,"
                    " size INTEGER, mtime REAL, last_opened REAL NOT NULL, mix TEXT NOT NULL)"
                )
                db.execute("CREATE INDEX IF NOT EXISTS songs_recent ON songs (last_opened)")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))

    @property
    def usable(self) -> bool:
        return self.db is not None

    @staticmethod
    def key(path: str | Path) -> str:
        return str(Path(path).resolve())

    def remember(self, path: str | Path, title: str, mix: dict[str, Any]) -> bool:
        """Store ``mix`` for the song at ``path`` (now is its last-opened time)."""
        if self.db is None:
            return False
        key = self.key(path)
        try:
            st = os.stat(key)
            size, mtime = st.st_size, st.st_mtime
        except OSError:
            size, mtime = None, None
        try:
            with self.db:
                self.db.execute(
                    "INSERT OR REPLACE INTO songs VALUES (?, ?, ?, ?, ?, ?)",
                    (key, title, size, mtime, time.time(), json.dumps(_jsonable(mix))),
                )
            return True
        except sqlite3.Error as err:
            self._warn_once(f"song library: could not save the mix of {title} ({err})")
            return False

    def recall(self, path: str | Path) -> dict[str, Any] | None:
        """The mix stored for ``path``, or None."""
        if self.db is None:
            return None
        try:
            row = self.db.execute("SELECT mix FROM songs WHERE path = ?",
                                  (self.key(path),)).fetchone()
            return _from_json(json.loads(row[0])) if row else None
        except (sqlite3.Error, ValueError) as err:
            self._warn_once(f"song library: could not read the mix of {path} ({err})")
            return None

    def recent(self, limit: int = 15) -> list[Song]:
        """Songs by last opened, newest first (only those whose file still exists)."""
        if self.db is None:
            return []
        try:
            rows = self.db.execute(
                "SELECT path, title, last_opened, mix FROM songs ORDER BY last_opened DESC"
                " LIMIT ?", (int(limit) * 2,)).fetchall()
        except sqlite3.Error as err:
            self._warn_once(f"song library: could not list the songs ({err})")
            return []
        out = []
        for path, title, last, mix in rows:
            if Path(path).is_file():
                try:
                    out.append(Song(path, title, float(last), _from_json(json.loads(mix))))
                except ValueError:
                    continue
        return out[:limit]

    def forget_all(self) -> None:
        if self.db is None:
            return
        try:
            with self.db:
                self.db.execute("DELETE FROM songs")
        except sqlite3.Error as err:
            self._warn_once(f"song library: could not clear it ({err})")

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _jsonable(x: Any) -> Any:
    """-inf dB (a fader at the bottom) as the string "-inf" (JSON has no infinities)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "-inf" if x < 0 else "inf"
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in (sorted(x) if isinstance(x, (set, frozenset)) else x)]
    return x


def _from_json(x: Any) -> Any:
    if x == "-inf":
        return -math.inf
    if x == "inf":
        return math.inf
    if isinstance(x, dict):
        return {k: _from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_from_json(v) for v in x]
    return x


# ------------------------------------------------------------------ controller state <-> mix
def snapshot(c: Any) -> dict[str, Any]:
    """The per-song state of a :class:`~app.controller.Controller` as a plain mapping."""
    mix = c.mix
    out: dict[str, Any] = {
        "gains": {s: float(mix.gain(s)) for s in mix.stems},
        "muted": sorted(mix.muted),
        "soloed": sorted(mix.soloed),
        "master_db": float(c.master_db),
        "models": {slot: c.models.get(slot) for slot in ("A", "B")},
        "source": c.source,
        "loop": list(c.loop) if c.loop is not None else None,
        "loop_enabled": bool(c.loop_enabled),
    }
    pan = getattr(c, "pan", None)  # per-stem pan, tempo and pitch where the controller has them
    if isinstance(pan, dict):
        out["pan"] = {str(k): float(v) for k, v in pan.items()}
    for name in ("tempo", "pitch"):
        v = getattr(c, name, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[name] = float(v)
    return out


def restore(c: Any, mix: dict[str, Any], choose_model: Callable[[str, str | None], bool],
            on_master: Callable[[float], None] | None = None) -> None:
    """Apply a stored mapping to the controller: models first (they set the stems), then the
    strips, pan, tempo, pitch, what is heard and the loop. Models no longer available and
    stems the model lacks are skipped."""
    models = mix.get("models") or {}
    for slot in ("A", "B"):
        if slot in models and models[slot] != c.models.get(slot):
            key = models[slot]
            if slot == "A" and key is None:
                continue
            if not choose_model(slot, key):
                c.presenter.dismiss()  # a model gone since: keep the current one quietly
    stems = set(c.mix.stems)
    for s, db in (mix.get("gains") or {}).items():
        if s in stems and c.mix.gain(s) != db:
            c.set_gain(s, float(db))
    for s in c.mix.stems:
        if (s in (mix.get("muted") or ())) != (s in c.mix.muted):
            c.set_mute(s, s in mix["muted"])
        if (s in (mix.get("soloed") or ())) != (s in c.mix.soloed):
            c.set_solo(s, s in mix["soloed"])
    if "master_db" in mix and float(mix["master_db"]) != c.master_db:
        if on_master is not None:
            on_master(float(mix["master_db"]))
        else:
            c.set_master(float(mix["master_db"]))
    if isinstance(mix.get("pan"), dict) and hasattr(c, "set_pan"):
        for s, v in mix["pan"].items():
            if s in stems:
                c.set_pan(s, float(v))
    if "tempo" in mix and hasattr(c, "set_tempo"):
        c.set_tempo(float(mix["tempo"]))
    if "pitch" in mix and hasattr(c, "set_pitch"):
        c.set_pitch(float(mix["pitch"]))
    source = mix.get("source")
    if (source in ("A", "B", "mix") and source != c.source
            and (source != "B" or c.models.get("B") is not None)):
        c.select(source)
    loop = mix.get("loop")
    if isinstance(loop, list) and len(loop) == 2:
        if mix.get("loop_enabled", False):
            c.set_loop(float(loop[0]), float(loop[1]))  # plays from the loop's start
        else:  # the region comes back, off (L turns it on)
            c.loop, c.loop_enabled = (float(loop[0]), float(loop[1])), False
            c.loop_changed.emit(c.loop, False)
