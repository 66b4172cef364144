"""Offline export of the stems of a file (or one custom mix of them) to audio files.

The file is decoded, separated and written block by block (``StreamSeparator`` from sample
0, the same arithmetic as playback), so memory stays bounded for long files and the stems sum
to the mixture within the STFT round trip (well under -60 dB) unless clipped by an integer
format. Writes are atomic: each output goes to a hidden temporary file in the destination
folder and is renamed into place only when every output is complete; a failure (full disk,
read-only folder, bad file, bad model) or a cancel removes the temporary files and any folder
the export created, so nothing half-written is ever left. Existing files are never replaced
unless asked (``overwrite``); when they are, they are moved aside first and put back if the
export fails, so a failed or cancelled export leaves the earlier files as they were.

Levels: a stem may peak above full scale although the mix does not (the stems partly cancel).
For integer and lossy formats the default (``clipping="scale"``) writes float temporaries
first, measures the peak of every output of the track and, only if it exceeds full scale,
applies one common gain to all of them while converting, so nothing clips and the stems still
add up to the (equally scaled) mix; the user is told in one line. ``clipping="clip"`` clips
each sample instead. A mono input gives mono stems (left = right).

Formats: wav (PCM_16, PCM_24 default, FLOAT), flac (PCM_16, PCM_24 default), ogg (Vorbis) and
mp3 (lossy: no subtype). Names come from a template with the fields ``track`` (the title),
``stem``, ``ext`` and ``model``; the default puts ``{track} - {stem}.{ext}`` into a folder
named after the track inside ``out_dir``. A mix (``mix={stem: dB}``, unlisted stems at 0 dB,
``-inf`` mutes, at most +24 dB) is written as one more file whose ``stem`` field is ``mix``;
``pan={stem: -100..100}`` pans stems in that mix with the player's law
(``engine.levels.pan_matrix``; stem files are never panned, so they still sum to the unpanned
mix).

Tempo and pitch (``tempo`` 0.5–1.5, ``pitch`` ±6 semitones): every output (each stem and the
mix) goes through its own Rubber Band stretcher (``engine.stretch.StreamStretch``, the settings
of playback) and is ``round(N / tempo)`` samples long; at 1 / 0 nothing is stretched and the
export is exactly what is played. Stretched stems add up to the stretched mix only closely.

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
from engine.levels import MAX_GAIN_DB, PAN_MAX, apply_pan, db_to_gain
from engine.model import SeparationModel, default_model_path, load_model
from engine.separate import StreamSeparator, dual_mono
from engine.stretch import StreamStretch, check_pitch, check_tempo, is_neutral

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
#: What to do when a sample would exceed full scale in an integer or lossy format.
CLIPPING = ("scale", "clip")
#: Peak the "scale" mode scales to (just under full scale: PCM cannot hold +1.0).
FULL_SCALE = 1.0 - 2.0 ** -15
#: Free space under which a write error of the sound library is reported as a full disk.
DISK_FULL_BYTES = 1 << 20


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


def safe_component(text: str) -> str:
    """``text`` as one path component: ``/``, ``\\`` and NUL become ``_``, the ends are
    stripped, and an empty name, ``.`` or ``..`` becomes ``_``. Used for a track's folder
    (``output_paths``) and for the fields of a name template; the GUI calls it to show the
    folder an export will write before it runs."""
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
        name = template.format(track=safe_component(track), stem=safe_component(stem), ext=ext,
                               model=safe_component(model))
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


def _disk_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` (or its nearest existing parent) is (nearly) full."""
    for place in (folder, *folder.parents):
        if place.exists():
            try:
                st = os.statvfs(place)
            except OSError:
                return False
            return st.f_bavail * st.f_frsize < DISK_FULL_BYTES
    return False


def _os_reason(err: BaseException, folder: Path | None = None) -> str:
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return "no space left on device"
    if not isinstance(err, OSError) and folder is not None and _disk_full(folder):
        return "no space left on device"  # libsndfile says only "System error."
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


def unique_folders(titles: Sequence[str]) -> list[str]:
    """One distinct folder name per track: ``safe_component(title)``, then `` (2)``, `` (3)``...
    for later tracks whose name is already taken (``song.mp3`` and ``song.opus`` in one
    export)."""
    taken: set[str] = set()
    out: list[str] = []
    for title in titles:
        base = safe_component(title)
        name, k = base, 2
        while name.casefold() in taken:
            name, k = f"{base} ({k})", k + 1
        taken.add(name.casefold())
        out.append(name)
    return out


def output_paths(out_dir: str | os.PathLike[str], title: str, outputs: Sequence[str], ext: str,
                 model: str, name: str = DEFAULT_NAME,
                 folder_name: str | None = None) -> list[Path]:
    """The files an export of ``outputs`` (stem names, or ``MIX_STEM``) would write."""
    folder = Path(out_dir).expanduser() / (folder_name or safe_component(title))
    return [folder / n for n in render_names(name, title, outputs, ext, model)]


class OutputExistsError(ExportError):
    """An output file exists already and the export was not asked to replace it."""


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
    overwrite: bool = False,
    folder_name: str | None = None,
    clipping: str = "scale",
    report: Callable[[str], None] | None = None,
    tempo: float = 1.0,
    pitch: float = 0.0,
    pan: Mapping[str, float] | None = None,
) -> list[Path]:
    """Separate ``path`` and write its stems and/or one mix into ``<out_dir>/<track>/``.

    ``stems``: the stems to write (default: all, or none when ``mix`` is given); ``mix``: also
    write one file of the stems summed with these gains in dB. ``overwrite``: replace existing
    files (else :class:`OutputExistsError` before any work). ``folder_name``: the track's
    folder (default: its title). ``clipping`` (integer and lossy formats): "scale" = when a
    sample would exceed full scale, every output of the track gets one common gain so none
    clips and the stems still sum to the (scaled) mix; "clip" = clip each sample. ``report``
    gets one-line notes for the user (default: logged as warnings). ``tempo`` / ``pitch``:
    speed ratio and semitones of every output; ``pan``: stem -> -100..100 in the mix.

    Returns the written files (an empty list if cancelled: nothing is left behind, and files
    that existed before are untouched). Raises DecodeError, ModelError or ExportError.
    """
    ext = fmt.lower().lstrip(".")
    major, sub = check_format(ext, subtype)
    if clipping not in CLIPPING:
        raise ExportError(f"unknown clipping mode '{clipping}' (choose from "
                          f"{', '.join(CLIPPING)})")
    note = report or (lambda text: log.warning("%s", text))
    try:
        tempo = check_tempo(tempo)
        pitch = check_pitch(pitch)
    except ValueError as err:
        raise ExportError(str(err)) from None
    if pan and mix is None:
        raise ExportError("pan applies to a mix: give the mix too (stem files are not panned)")
    for stem, value in (pan or {}).items():
        if not (math.isfinite(value) and -PAN_MAX <= value <= PAN_MAX):
            raise ExportError(f"pan of {stem} is {value}: expected -100..100")
    sep_model = _resolve_model(model)
    all_stems = sep_model.info.stems
    wanted = list(stems) if stems else ([] if mix is not None else list(all_stems))
    bad = [s for s in wanted if s not in all_stems]
    if bad:
        raise ExportError(f"unknown stem '{bad[0]}' (the model has {', '.join(all_stems)})")
    outputs = list(dict.fromkeys(wanted))
    gains = None
    if mix is not None:
        bad = [s for s in mix if s not in all_stems]
        if bad:
            raise ExportError(f"unknown stem '{bad[0]}' in the mix (the model has "
                              f"{', '.join(all_stems)})")
        db = [float(mix.get(s, 0.0)) for s in all_stems]
        if any(math.isnan(d) or d > MAX_GAIN_DB for d in db):
            raise ExportError(f"mix gains must be at most +{MAX_GAIN_DB:g} dB")
        gains = np.array([db_to_gain(d) for d in db], np.float32)
        if MIX_STEM in outputs:
            raise ExportError(f"a stem named '{MIX_STEM}' cannot be written beside the mix")
        outputs.append(MIX_STEM)
        bad = [s for s in (pan or {}) if s not in all_stems]
        if bad:
            raise ExportError(f"unknown stem '{bad[0]}' to pan (the model has "
                              f"{', '.join(all_stems)})")
    pans = [float((pan or {}).get(s, 0.0)) for s in all_stems]
    index = {s: all_stems.index(s) for s in all_stems}

    reader = open_audio(path)
    info = reader.info
    mono = info.source_channels == 1
    folder = Path(out_dir).expanduser() / (folder_name or safe_component(info.title))
    created: list[Path] = []  # folders this export made (removed again on failure)
    temps: list[Path] = []
    handles: list[sf.SoundFile] = []
    placed: list[Path] = []
    backups: list[tuple[Path, Path]] = []  # (moved-aside earlier file, its place)
    lossy_or_int = sub.startswith("PCM") or ext in _LOSSY
    scan = lossy_or_int and clipping == "scale"  # float first, then one common gain
    try:
        names = render_names(name, info.title, outputs, ext, sep_model.info.name)
        finals = [folder / n for n in names]
        if not overwrite:
            existing = [f for f in finals if f.exists()]
            if existing:
                more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
                raise OutputExistsError(f"{existing[0]} exists already{more}; not replaced "
                                        "(use --overwrite to replace)")
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                try:
                    parent.mkdir()
                except FileExistsError:
                    continue  # made at the same moment by another export: not ours to remove
                created.append(parent)
        for out_name in names:
            tmp = _make_temp(folder, out_name)
            temps.append(tmp)
            if scan:
                handles.append(sf.SoundFile(str(tmp), "w", samplerate=config.SAMPLE_RATE,
                                            channels=2, format="WAV", subtype="FLOAT"))
            else:
                handles.append(sf.SoundFile(str(tmp), "w", samplerate=config.SAMPLE_RATE,
                                            channels=2, format=major, subtype=sub))
        stretchers = (None if is_neutral(tempo, pitch)
                      else [StreamStretch(tempo, pitch) for _ in outputs])
        sep = StreamSeparator(sep_model)
        sep.reset(0)
        total = max(1, info.samples)
        done = 0
        peak = 0.0
        weight = 0.8 if scan else 1.0  # share of the progress bar for separating
        while True:
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            block = reader.read(BLOCK)
            last = block.shape[1] == 0
            out = sep.finish() if last else sep.feed(block)  # (stems, 2, m)
            if out.shape[2] or (last and stretchers is not None):
                if mono:  # a mono song gives stems whose left and right are the same
                    out = dual_mono(out)
                chunks = [out[index[s]] for s in outputs if s != MIX_STEM]
                if gains is not None:
                    chunks.append(_mix(out, gains, pans))
                if stretchers is not None:
                    chunks = [st.feed(c) for st, c in zip(stretchers, chunks, strict=True)]
                    if last:
                        chunks = [np.concatenate([c, st.finish()], axis=1)
                                  for st, c in zip(stretchers, chunks, strict=True)]
                for handle, chunk in zip(handles, chunks, strict=True):
                    if not chunk.shape[1]:
                        continue
                    data = np.ascontiguousarray(chunk.T, dtype=np.float32)  # (samples, ch)
                    if not np.isfinite(data).all():  # guarded upstream; never write NaN
                        np.nan_to_num(data, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
                    if scan:
                        peak = max(peak, float(np.max(np.abs(data), initial=0.0)))
                    elif lossy_or_int:
                        np.clip(data, -1.0, 1.0, out=data)
                    _write_block(handle, data)
                done += out.shape[2]
            if progress is not None:
                progress(weight * min(1.0, done / total) if not last else weight)
            if last:
                break
        for handle in handles:
            handle.close()
        if scan:
            gain = 1.0 if peak <= 1.0 else FULL_SCALE / peak
            if gain < 1.0:
                note(f"{info.title}: the separated audio peaks at {20 * math.log10(peak):+.1f} "
                     f"dBFS; every file of this track is {20 * math.log10(gain):.1f} dB "
                     "quieter so none clips (the stems still add up to the mix; "
                     "--clipping clip or --subtype FLOAT keep the level)")
            _transcode(temps, names, folder, major, sub, gain, cancel,
                       lambda f: progress(weight + (1 - weight) * f)
                       if progress is not None else None)
        if progress is not None:
            progress(1.0)
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        if overwrite:
            for final in finals:
                if final.exists():
                    aside = _make_temp(folder, final.name)
                    os.replace(final, aside)
                    backups.append((aside, final))
        for tmp, final in zip(temps, finals, strict=True):
            _place(tmp, final, overwrite)
            placed.append(final)
        temps.clear()
        for aside, _final in backups:
            aside.unlink(missing_ok=True)
        backups.clear()
        log.info("exported %s: %s", info.path, ", ".join(str(p) for p in placed))
        return placed
    except _Cancelled:
        log.info("export of %s cancelled", info.path)
        _cleanup(handles, temps, placed, created, backups)
        return []
    except (ExportError, ModelError):
        _cleanup(handles, temps, placed, created, backups)
        raise
    except (OSError, RuntimeError, AssertionError) as err:
        _cleanup(handles, temps, placed, created, backups)
        raise ExportError(f"cannot write to {folder}: {_os_reason(err, folder)}") from None
    except BaseException:
        _cleanup(handles, temps, placed, created, backups)
        raise
    finally:
        reader.close()


def _mix(stems: np.ndarray, gains: np.ndarray, pans: Sequence[float]) -> np.ndarray:
    """(stems, 2, m) → (2, m): each stem panned (player's law) and scaled, summed."""
    if not any(pans):
        return np.tensordot(gains, stems, axes=(0, 0))
    out = np.zeros(stems.shape[1:], dtype=np.float32)
    for k in range(stems.shape[0]):
        if gains[k] != 0.0:
            out += gains[k] * apply_pan(stems[k], pans[k])
    return out


def _transcode(temps: list[Path], names: list[str], folder: Path, major: str, sub: str,
               gain: float, cancel: threading.Event | None,
               progress: Callable[[float], object]) -> None:
    """Float temporaries → temporaries in the final format, scaled by ``gain``, in place in
    ``temps`` (each float one is removed once converted). ``temps`` always lists every
    temporary that may exist, so the caller's clean-up removes them all on failure."""
    for i, out_name in enumerate(names):
        src = temps[i]
        dst = _make_temp(folder, out_name)
        temps.append(dst)  # cleaned up with the rest if anything fails
        with sf.SoundFile(str(src)) as fin, sf.SoundFile(
                str(dst), "w", samplerate=config.SAMPLE_RATE, channels=2, format=major,
                subtype=sub) as fout:
            frames = max(1, fin.frames)
            done = 0
            while True:
                if cancel is not None and cancel.is_set():
                    raise _Cancelled
                data = fin.read(BLOCK, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                if gain != 1.0:
                    data *= gain
                np.clip(data, -1.0, 1.0, out=data)
                _write_block(fout, data)
                done += data.shape[0]
                progress((i + done / frames) / len(names))
        src.unlink()
    del temps[: len(names)]


def _place(tmp: Path, final: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``final``; without ``overwrite`` never replaces a file that appeared
    meanwhile (a hard link fails if ``final`` exists; plain rename where links are refused)."""
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise OutputExistsError(f"{final} exists already; not replaced (use --overwrite to "
                                "replace)") from None
    except OSError:  # a file system without hard links (FAT, some network shares)
        if final.exists():
            raise OutputExistsError(f"{final} exists already; not replaced (use --overwrite "
                                    "to replace)") from None
        os.replace(tmp, final)
        return
    tmp.unlink()


class _Cancelled(Exception):
    """Internal: the cancel event was set."""


def _cleanup(handles: list[sf.SoundFile], temps: list[Path], placed: list[Path],
             created: list[Path], backups: list[tuple[Path, Path]]) -> None:
    """Remove what this export wrote (and only that); put back files it had moved aside."""
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
    for aside, final in backups:
        try:
            os.replace(aside, final)
        except OSError as err:
            log.warning("could not restore %s (kept as %s): %s", final, aside, err)
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break  # not empty (someone else's files) or gone: leave it
