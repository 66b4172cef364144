"""Offline export of the stems of a file (or one custom mix of them) to audio files.

The file is decoded, separated and written block by block (``StreamSeparator`` from sample
0, the same arithmetic as playback), so memory stays bounded for long files and the stems sum
to the mixture within the STFT round trip (well under -60 dB) unless clipped by an integer
format. Writes are atomic: each output goes to a hidden temporary file in the destination
folder and is renamed into place only when every output is complete; a failure (full disk,
read-only folder, bad file, bad model) or a cancel removes the temporary files and any folder
the export created, so nothing half-written is ever left.

Formats: wav (PCM_16, PCM_24 default, FLOAT), flac (PCM_16, PCM_24 default), ogg (Vorbis) and
mp3 (lossy: no subtype). Names come from a template with the fields ``track`` (the title),
``stem``, ``ext`` and ``model``; the default puts ``{track} - {stem}.{ext}`` into a folder
named after the track inside ``out_dir``. A mix (``mix={stem: dB}``, unlisted stems at 0 dB,
``-inf`` mutes) is written as one file whose ``stem`` field is ``mix``.

Thread: the export thread (the CLI's main thread, or a GUI worker thread); ``progress`` is
called from it, ``cancel`` (a ``threading.Event``) may be set from any thread.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import string
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from engine import config
from engine.decode import open_audio
from engine.errors import ExportError, ModelError
from engine.model import SeparationModel, default_model_path, load_model
from engine.separate import StreamSeparator

log = logging.getLogger(__name__)

BLOCK = 1 << 16  # samples decoded, separated and written per step
DEFAULT_NAME = "{track} - {stem}.{ext}"
NAME_FIELDS = ("track", "stem", "ext", "model")
MIX_STEM = "mix"

# ext -> (libsndfile format, allowed subtypes, default subtype)
FORMATS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "wav": ("WAV", ("PCM_16", "PCM_24", "FLOAT"), "PCM_24"),
    "flac": ("FLAC", ("PCM_16", "PCM_24"), "PCM_24"),
    "ogg": ("OGG", ("VORBIS",), "VORBIS"),
    "mp3": ("MP3", ("MPEG_LAYER_III",), "MPEG_LAYER_III"),
}
_LOSSY = {"ogg", "mp3"}


def check_format(fmt: str, subtype: str | None) -> tuple[str, str]:
    """``(libsndfile format, subtype)`` for a format name and optional subtype; ExportError."""
    ext = fmt.lower().lstrip(".")
    if ext not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    major, allowed, default = FORMATS[ext]
    if subtype is None:
        return major, default
    sub = subtype.upper()
    if ext in _LOSSY:
        if sub in allowed:
            return major, sub
        raise ExportError(f"format {ext} is lossy and takes no subtype (got {subtype})")
    if sub not in allowed:
        raise ExportError(f"format {ext} does not support subtype {subtype} "
                          f"(choose from {', '.join(allowed)})")
    return major, sub


def db_to_gain(db: float) -> float:
    """Linear gain of ``db`` decibels (``-inf`` → 0)."""
    return 0.0 if math.isinf(db) and db < 0 else 10.0 ** (db / 20.0)


def _safe(text: str) -> str:
    """A string usable as one path component."""
    text = re.sub(r'[/\\\x00]', "_", text).strip()
    return text if text not in {"", ".", ".."} else "_"


def render_names(template: str, track: str, stems: Sequence[str], ext: str,
                 model: str) -> list[str]:
    """File names for ``stems`` from ``template``; ExportError for a bad template."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise ExportError(f"bad name template {template!r}: {err}") from None
    unknown = sorted(f for f in fields if f not in NAME_FIELDS)
    if unknown:
        raise ExportError(f"unknown field {{{unknown[0]}}} in name template "
                          f"(use {', '.join('{' + f + '}' for f in NAME_FIELDS)})")
    names = []
    for stem in stems:
        name = template.format(track=_safe(track), stem=_safe(stem), ext=ext, model=_safe(model))
        if "/" in name or "\\" in name or name in {"", ".", ".."}:
            raise ExportError(f"name template {template!r} must give a plain file name, "
                              f"got {name!r}")
        names.append(name)
    if len(set(names)) != len(names):
        raise ExportError(f"name template {template!r} gives the same name to several stems "
                          "(add {stem})")
    return names


def _resolve_model(model: SeparationModel | str | os.PathLike[str] | None) -> SeparationModel:
    if isinstance(model, SeparationModel):
        return model
    if model is None:
        path = default_model_path()
        if path is None:
            raise ExportError(f"no separation model in {config.MODELS_DIR} (give one with "
                              "--model)")
        return load_model(path)
    return load_model(model)


def _write_block(handle: sf.SoundFile, data: np.ndarray) -> None:
    """Write ``data`` ``(samples, channels)`` (a seam for tests simulating a full disk)."""
    handle.write(data)


def _os_reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return "no space left on device"
    if isinstance(err, OSError) and err.errno in (errno.EROFS,):
        return "read-only file system"
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _make_temp(folder: Path, final_name: str) -> Path:
    """A new hidden temporary file next to the final one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{final_name}.", suffix=".part", dir=folder)
    try:
        # mkstemp makes the file private (0600); the exported file gets the permissions any
        # newly created file gets (0666 less the umask), like the user's other files.
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(tmp)


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def export_file(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    model: SeparationModel | str | os.PathLike[str] | None = None,
    stems: Sequence[str] | None = None,
    fmt: str = "wav",
    subtype: str | None = None,
    name: str = DEFAULT_NAME,
    mix: Mapping[str, float] | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[Path]:
    """Separate ``path`` and write its stems (or one mix) into ``<out_dir>/<track>/``.

    Returns the written files (an empty list if cancelled: nothing is left behind).
    Raises DecodeError, ModelError or ExportError with a one-line message.
    """
    ext = fmt.lower().lstrip(".")
    major, sub = check_format(ext, subtype)
    sep_model = _resolve_model(model)
    all_stems = sep_model.info.stems
    if mix is not None:
        bad = [s for s in mix if s not in all_stems]
        if bad:
            raise ExportError(f"unknown stem '{bad[0]}' in the mix (the model has "
                              f"{', '.join(all_stems)})")
        gains = np.array([db_to_gain(float(mix.get(s, 0.0))) for s in all_stems], np.float32)
        outputs = [MIX_STEM]
    else:
        wanted = list(stems) if stems else list(all_stems)
        bad = [s for s in wanted if s not in all_stems]
        if bad:
            raise ExportError(f"unknown stem '{bad[0]}' (the model has {', '.join(all_stems)})")
        outputs = list(dict.fromkeys(wanted))
        gains = None
    index = {s: all_stems.index(s) for s in all_stems}

    reader = open_audio(path)
    info = reader.info
    folder = Path(out_dir).expanduser() / _safe(info.title)
    created: list[Path] = []  # folders this export made (removed again on failure)
    temps: list[Path] = []
    handles: list[sf.SoundFile] = []
    placed: list[Path] = []
    clip = sub.startswith("PCM") or ext in _LOSSY
    try:
        names = render_names(name, info.title, outputs, ext, sep_model.info.name)
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        for out_name in names:
            tmp = _make_temp(folder, out_name)
            temps.append(tmp)
            handles.append(sf.SoundFile(str(tmp), "w", samplerate=config.SAMPLE_RATE,
                                        channels=2, format=major, subtype=sub))
        sep = StreamSeparator(sep_model)
        sep.reset(0)
        total = max(1, info.frames)
        done = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            block = reader.read(BLOCK)
            last = block.shape[1] == 0
            out = sep.finish() if last else sep.feed(block)  # (stems, 2, m)
            if out.shape[2]:
                if gains is not None:
                    chunks = [np.tensordot(gains, out, axes=(0, 0))]
                else:
                    chunks = [out[index[s]] for s in outputs]
                for handle, chunk in zip(handles, chunks, strict=True):
                    data = np.ascontiguousarray(chunk.T)  # (samples, channels)
                    if clip:
                        np.clip(data, -1.0, 1.0, out=data)
                    _write_block(handle, data)
                done += out.shape[2]
            if progress is not None:
                progress(min(1.0, done / total) if not last else 1.0)
            if last:
                break
        for handle in handles:
            handle.close()
        for tmp, out_name in zip(temps, names, strict=True):
            final = folder / out_name
            os.replace(tmp, final)
            placed.append(final)
        temps.clear()
        log.info("exported %s: %s", info.path, ", ".join(str(p) for p in placed))
        return placed
    except _Cancelled:
        log.info("export of %s cancelled", info.path)
        _cleanup(handles, temps, placed, created)
        return []
    except (ExportError, ModelError):
        _cleanup(handles, temps, placed, created)
        raise
    except (OSError, RuntimeError, AssertionError) as err:
        _cleanup(handles, temps, placed, created)
        raise ExportError(f"cannot write to {folder}: {_os_reason(err)}") from None
    except BaseException:
        _cleanup(handles, temps, placed, created)
        raise
    finally:
        reader.close()


class _Cancelled(Exception):
    """Internal: the cancel event was set."""


def _cleanup(handles: list[sf.SoundFile], temps: list[Path], placed: list[Path],
             created: list[Path]) -> None:
    for handle in handles:
        try:
            handle.close()
        except (OSError, RuntimeError, AssertionError):
            pass  # the file is deleted just below
    for path in [*temps, *placed]:
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("could not remove %s: %s", path, err)
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break  # not empty (someone else's files) or gone: leave it
