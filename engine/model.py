"""ONNX separation models: finding, checking against the model contract, running.

A model file honours DESIGN.md's contract: input ``mix`` float32 ``(batch, 4, F, T)``, output
``stems`` float32 ``(batch, S, 4, F, T)``, metadata_props ``stems, sample_rate, n_fft, hop,
bins, frames, name, version, description``. :func:`load_model` refuses anything else with a
:class:`~engine.errors.ModelError` naming the file and the field.

Execution provider: CUDA when it really works (a session is created with
``CUDAExecutionProvider`` first and ``session.get_providers()`` tells what is in use), else the
CPU. ``STEMPLAY_PROVIDER=cpu|cuda|auto`` overrides (default ``auto``); ``ModelInfo.provider``
reports what the session really uses. A failed CUDA attempt is remembered for the process, with
the reason in a few words (:func:`cuda_problem`: missing driver, missing CUDA libraries, an
onnxruntime without the CUDA provider), which the status line and ``stemplay bench --provider
cuda`` show.

Thread: ``load_model`` on any thread; each :class:`SeparationModel` (one ONNX session) is used
by one thread — the worker slot or the export thread that loaded it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine import config
from engine.errors import ModelError

log = logging.getLogger(__name__)

REQUIRED_KEYS = (
    "stems", "sample_rate", "n_fft", "hop", "bins", "frames", "name", "version", "description",
)
INPUT_NAME = "mix"
OUTPUT_NAME = "stems"
DYNAMIC = "dynamic"
DEFAULT_SEGMENT_FRAMES = 192  # segment length used for a model with dynamic frames
MIN_FRAMES = 4
#: Longest segment a model may declare (1024 frames = 23.8 s): the engine allocates buffers of
#: this size per segment, so a larger (or absurd) value would exhaust memory at the first run.
MAX_FRAMES = 1024
#: Most stems a model may declare (the mixer's preallocated buffers hold this many).
MAX_STEMS = 8

_cuda_lock = threading.Lock()
_cuda_broken = False  # set once a CUDA session could not be created; written under _cuda_lock
_cuda_reason: str | None = None  # why, in a few words; written under _cuda_lock


class RunCancelled(Exception):
    """A model run stopped by :meth:`RunCancel.cancel` (not a model failure)."""


class RunCancel:
    """A cancellation handle for the model runs of one piece of work (e.g. one separation step
    of a worker slot): :meth:`cancel`, from any thread, makes the run in progress (ONNX Runtime
    checks between two operators) and every later run given this handle raise
    :class:`RunCancelled`. Cheap: one ``RunOptions``."""

    def __init__(self) -> None:
        self.options = _ort().RunOptions()
        self.cancelled = False  # written by the cancelling thread, read by the running one

    def cancel(self) -> None:
        self.cancelled = True
        self.options.terminate = True


@dataclass(frozen=True)
class ModelInfo:
    """What a model file declares, plus the provider its session runs on.

    ``frames`` is None for a model accepting any number of frames ("dynamic");
    ``provider`` is "" for a model only scanned (``list_models``), not loaded.
    """

    name: str
    path: Path
    stems: tuple[str, ...]
    bins: int
    frames: int | None
    version: str
    description: str
    provider: str = ""
    file_name: str = ""

    @property
    def segment_frames(self) -> int:
        """Frames per segment the engine feeds the model."""
        return self.frames if self.frames is not None else DEFAULT_SEGMENT_FRAMES

    @property
    def frames_label(self) -> str:
        return DYNAMIC if self.frames is None else str(self.frames)


def _ort():  # imported lazily: `import engine` stays cheap
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # a failed CUDA probe must not spam the terminal
    return ort


def provider_mode() -> str:
    """``STEMPLAY_PROVIDER`` as "auto", "cpu" or "cuda" (anything else reads as "auto")."""
    mode = os.environ.get("STEMPLAY_PROVIDER", "auto").strip().lower()
    return mode if mode in {"auto", "cpu", "cuda"} else "auto"


def _ort_reason(err: BaseException) -> str:
    """onnxruntime's (long) message reduced to a short reason."""
    text = str(err).strip()
    if "INVALID_PROTOBUF" in text or "Protobuf parsing" in text:
        return "protobuf parsing failed"
    first = text.splitlines()[0] if text else type(err).__name__
    return first.split("] : ")[-1][:120]


def _fail(path: Path, what: str) -> ModelError:
    return ModelError(f"model {path}: {what}")


def cuda_unusable_reason() -> str | None:
    """Why a CUDA session cannot run here, in a few words; None when nothing is known to be
    missing. Checks what onnxruntime itself would need, in order: its CUDA provider, the NVIDIA
    driver, then the CUDA libraries its provider library links (loading it names the first one
    missing). onnxruntime only logs these and silently falls back to the CPU."""
    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime has no CUDA provider (the onnxruntime-gpu package has)"
    if not sys.platform.startswith("linux"):
        return None
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1 not found)"
    capi = Path(ort.__file__).parent / "capi"
    try:
        ctypes.CDLL(str(capi / "libonnxruntime_providers_shared.so"), mode=ctypes.RTLD_GLOBAL)
        ctypes.CDLL(str(capi / "libonnxruntime_providers_cuda.so"))
    except OSError as err:
        missing = str(err).split(":")[0].strip()
        return f"CUDA libraries missing ({missing} not found)"
    return None


def cuda_problem() -> str | None:
    """The reason CUDA was not used, once a session asked for it and fell back to the CPU in
    this process; None before that, or when CUDA works."""
    with _cuda_lock:
        return _cuda_reason


def _mark_cuda_broken(reason: str | None) -> None:
    global _cuda_broken, _cuda_reason
    if reason is None:
        reason = cuda_unusable_reason() or "onnxruntime could not start a CUDA session"
    with _cuda_lock:
        _cuda_broken = True
        _cuda_reason = reason
    log.info("CUDA is not usable here (%s); running models on the CPU", reason)


def _session(path: Path, threads: int, want_cuda: bool):
    """An InferenceSession on CUDA if asked and working, else CPU; ModelError if unreadable."""
    ort = _ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one chain of ops: no inter-op pool
    opts.inter_op_num_threads = 1
    if threads > 0:
        opts.intra_op_num_threads = threads  # else onnxruntime's default: the physical cores
    # idle intra-op threads sleep instead of spinning: on a small CPU the spinning steals the
    # time the worker's STFT, the other slot and the GUI need between two model runs
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if want_cuda and not _cuda_broken and "CUDAExecutionProvider" in available:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if providers[0] == "CUDAExecutionProvider":
        ort.set_default_logger_severity(4)  # a missing CUDA library is logged as an error
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as err:  # noqa: BLE001 -- ort's Fail/InvalidProtobuf... derive from it
        first = _ort_reason(err)
        if providers[0] == "CUDAExecutionProvider" and "protobuf" not in first.lower():
            _mark_cuda_broken(cuda_unusable_reason() or first)
            return _session(path, threads, want_cuda=False)
        raise _fail(path, f"not a valid ONNX model ({first})") from None
    finally:
        ort.set_default_logger_severity(3)
    if providers[0] == "CUDAExecutionProvider" and sess.get_providers()[0] != providers[0]:
        _mark_cuda_broken(None)
    return sess


def _int_field(path: Path, meta: dict[str, str], key: str) -> int:
    try:
        return int(meta[key].strip())
    except ValueError:
        raise _fail(path, f"metadata field '{key}' is {meta[key]!r}, not an integer") from None


def _check(path: Path, sess) -> ModelInfo:
    """Check a session's metadata, input and output against the contract."""
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise _fail(path, f"metadata field '{key}' is missing")
    for key, want in (("sample_rate", config.SAMPLE_RATE), ("n_fft", config.N_FFT),
                      ("hop", config.HOP)):
        got = _int_field(path, meta, key)
        if got != want:
            raise _fail(path, f"metadata field '{key}' is {got}, the engine needs {want}")
    bins = _int_field(path, meta, "bins")
    if not 1 <= bins <= config.N_FFT // 2 + 1:
        raise _fail(path, f"metadata field 'bins' is {bins}, must be 1..{config.N_FFT // 2 + 1}")
    frames_raw = meta["frames"].strip().lower()
    frames: int | None = None
    if frames_raw != DYNAMIC:
        frames = _int_field(path, meta, "frames")
        if not MIN_FRAMES <= frames <= MAX_FRAMES:
            raise _fail(path, f"metadata field 'frames' is {frames}, must be "
                              f"{MIN_FRAMES}..{MAX_FRAMES}")
    stems = tuple(s.strip() for s in meta["stems"].split(","))
    if not stems or any(not s for s in stems) or len(set(stems)) != len(stems):
        raise _fail(path, f"metadata field 'stems' is {meta['stems']!r}, not a list of names")
    if len(stems) > MAX_STEMS:
        raise _fail(path, f"metadata field 'stems' lists {len(stems)} stems, at most {MAX_STEMS}")

    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        names = ", ".join(i.name for i in inputs)
        raise _fail(path, f"input must be one tensor named '{INPUT_NAME}', found: {names}")
    if len(outputs) < 1 or outputs[0].name != OUTPUT_NAME:
        names = ", ".join(o.name for o in outputs)
        raise _fail(path, f"output must be a tensor named '{OUTPUT_NAME}', found: {names}")
    _check_shape(path, "input 'mix'", inputs[0], [None, 4, bins, frames], frames is None)
    _check_shape(path, "output 'stems'", outputs[0], [None, len(stems), 4, bins, frames],
                 frames is None)
    return ModelInfo(
        name=meta["name"].strip() or path.stem,
        path=path,
        stems=stems,
        bins=bins,
        frames=frames,
        version=meta["version"].strip(),
        description=meta["description"].strip(),
        file_name=path.name,
    )


def _check_shape(
    path: Path, what: str, node, want: list[int | None], dynamic_frames: bool
) -> None:
    """``want``: None = any size (batch, or frames of a dynamic model)."""
    if node.type != "tensor(float)":
        raise _fail(path, f"{what} is {node.type}, must be tensor(float)")
    shape = list(node.shape)
    if len(shape) != len(want):
        raise _fail(path, f"{what} has {len(shape)} axes {shape}, must have {len(want)}")
    for axis, (got, need) in enumerate(zip(shape, want, strict=True)):
        if need is not None and isinstance(got, int) and got != need:
            raise _fail(path, f"{what} axis {axis} is {got}, the metadata says {need}")
    if dynamic_frames and isinstance(shape[-1], int):
        raise _fail(path, f"{what} has {shape[-1]} frames but metadata field 'frames' is dynamic")


class SeparationModel:
    """One checked model and its ONNX session (used by one thread)."""

    def __init__(self, info: ModelInfo, session, threads: int = 0) -> None:
        self.info = info
        self._sess = session
        self.threads = threads  # intra-op threads asked for (0: onnxruntime's default)
        self.batch_dynamic = not isinstance(session.get_inputs()[0].shape[0], int)
        self.non_finite = 0  # NaN/Inf output values replaced by 0 so far (this model's thread)
        self._narrow: SeparationModel | None = None
        self._binding: Any = None  # the session's IOBinding for runs into a buffer (made once)

    def narrowed(self) -> SeparationModel:
        """The same model with half the CPUs for its intra-op threads (a second session of the
        file, made on first use; the thread that runs this model calls it): for runs that share
        the CPU with another model's (slots A and B side by side), so that the two together do
        not ask for more threads than there are CPUs. ``self`` where that changes nothing: a
        thread count set by the user, a GPU session, a single-CPU machine.

        Outputs are the same (onnxruntime's CPU kernels split work, not sums, across threads:
        the shipped models give bit-identical stems with 1 and 2 threads).
        """
        if self._narrow is None:
            n = shared_threads()
            if self.threads != 0 or self.info.provider != "CPUExecutionProvider" or n < 1:
                self._narrow = self
            else:
                try:
                    self._narrow = load_model(self.info.path, threads=n, provider="cpu")
                except ModelError as err:  # e.g. the file went away: this session will do
                    log.info("no second session of %s: %s", self.info.path, err)
                    self._narrow = self
        return self._narrow

    @property
    def stems(self) -> tuple[str, ...]:
        return self.info.stems

    def run(self, x: np.ndarray, check: bool = True, cancel: RunCancel | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
        """x ``(batch, 4, F, T)`` float32 → ``(batch, S, 4, F, T)`` float32.

        ``check``: NaN/Inf output values are replaced by 0 (one float32 sum over the output
        finds whether there are any; the streaming separator uses it). ``cancel``: see
        :class:`RunCancel`.
        ``out``: a C-contiguous float32 buffer of the output's shape that onnxruntime writes
        the output into (returned): a buffer used again costs no fresh memory; without it,
        onnxruntime's output is copied into a new array, whose 12 MB (a shipped model's
        segment) are page-faulted in on every run.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        b, _, f, t = x.shape
        want = (b, len(self.info.stems), 4, f, t)
        if out is not None and (out.shape != want or out.dtype != np.float32
                                or not out.flags.c_contiguous):
            raise ValueError(f"out must be C-contiguous float32 {want}, got {out.shape}")
        if cancel is not None and cancel.cancelled:
            raise RunCancelled()
        try:
            opts = cancel.options if cancel is not None else None
            if out is None:
                (y,) = self._sess.run([OUTPUT_NAME], {INPUT_NAME: x}, opts)
            else:
                binding = self._binding
                if binding is None:
                    binding = self._binding = self._sess.io_binding()
                binding.bind_cpu_input(INPUT_NAME, x)
                binding.bind_output(OUTPUT_NAME, "cpu", 0, np.float32, want, out.ctypes.data)
                self._sess.run_with_iobinding(binding, opts)
                y = out
        except Exception as err:  # noqa: BLE001 -- onnxruntime's own error classes
            if cancel is not None and cancel.cancelled:
                raise RunCancelled() from None
            raise ModelError(
                f"model {self.info.path}: inference failed ({_ort_reason(err)})") from None
        if y.shape != want:
            raise ModelError(f"model {self.info.path}: output shape {y.shape}, expected {want}")
        y = np.asarray(y, dtype=np.float32)
        if not check:
            return y
        # One sum tells whether anything is non-finite (a finite sum can overflow to inf only
        # with huge values, which the exact check below then finds fine). In float32: half the
        # time of a float64 sum over the 12 MB output of a segment.
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduce(y, axis=None)
        if not np.isfinite(total):
            y = self.silence_non_finite(y)
        return y

    def silence_non_finite(self, y: np.ndarray) -> np.ndarray:
        """``y`` with NaN/Inf set to 0 (that part of the mixture goes to the residual stem or
        is spread over the stems, so the stems still sum to the mixture); warns once."""
        bad = ~np.isfinite(y)
        count = int(bad.sum())
        if not count:
            return y
        if not self.non_finite:
            log.warning("model %s: output has non-finite values (NaN/Inf); replaced by "
                        "silence", self.info.path)
        self.non_finite += count
        y = np.array(y, dtype=np.float32)  # writable
        y[bad] = 0.0
        return y


def resolve_model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A path to an existing file, or a name in ``config.MODELS_DIR`` (with or without .onnx)."""
    raw = str(name_or_path).strip()
    if not raw:
        raise ModelError("empty model name")
    path = Path(raw).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ModelError(f"model {path}: is a folder, not an .onnx file")
    models_dir = Path(config.MODELS_DIR)
    for cand in (models_dir / raw, models_dir / f"{raw}.onnx"):
        if cand.is_file():
            return cand
    known = ", ".join(p.stem for p in sorted(models_dir.glob("*.onnx"))) or "none"
    raise ModelError(f"model '{raw}' not found (no such file, not in {models_dir}; "
                     f"available: {known})")


def _check_readable(path: Path) -> None:
    """ModelError for a file that is empty or cannot be opened (permissions)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1)
    except PermissionError:
        raise _fail(path, "cannot read the file (permission denied)") from None
    except OSError as err:
        raise _fail(path, f"cannot read the file ({(err.strerror or str(err)).lower()})") from None
    if not head:
        raise _fail(path, "file is empty")


def load_model(name_or_path: str | os.PathLike[str], threads: int = 0,
               provider: str | None = None) -> SeparationModel:
    """Load and check a model. ``provider``: "auto" (default), "cpu" or "cuda"."""
    path = resolve_model_path(name_or_path)
    _check_readable(path)
    mode = (provider or provider_mode()).lower()
    sess = _session(path, threads, want_cuda=mode in {"auto", "cuda"})
    info = _check(path, sess)
    in_use = sess.get_providers()[0]
    return SeparationModel(replace(info, provider=in_use), sess, threads)


def shared_threads() -> int:
    """Intra-op threads of each of two models running side by side: half the CPUs this process
    may use, on small machines (2–4 CPUs: two default sessions there ask for twice the CPUs);
    0 (leave the default) on one CPU, and above 4 CPUs, where half of them is usually no fewer
    than onnxruntime's default of one thread per physical core."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    half = cpus // 2
    return half if 1 <= half and cpus <= 4 else 0


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The checked metadata of a model file without keeping a session (CPU, no optimisation)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    _check_readable(path)
    ort = _ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 -- onnxruntime's own error classes
        raise _fail(path, f"not a valid ONNX model ({_ort_reason(err)})") from None
    return _check(path, sess)


def list_models(errors: list[str] | None = None) -> list[ModelInfo]:
    """The valid models in ``config.MODELS_DIR`` (``*.onnx``, sorted by file name).

    Invalid files are skipped; their one-line reasons are appended to ``errors`` if given.
    """
    models_dir = Path(config.MODELS_DIR)
    found: list[ModelInfo] = []
    if not models_dir.is_dir():
        return found
    for path in sorted(models_dir.glob("*.onnx")):
        try:
            found.append(read_model_info(path))
        except ModelError as err:
            if errors is not None:
                errors.append(str(err))
            else:
                log.warning("%s", err)
    return found


def pick_default(models: list[ModelInfo]) -> ModelInfo | None:
    """The preferred model: the first of ``config.DEFAULT_MODEL_ORDER`` present (by file stem
    or metadata name), else the first valid one, else None."""
    for wanted in config.DEFAULT_MODEL_ORDER:
        for info in models:
            if info.path.stem == wanted:
                return info
        for info in models:
            if info.name == wanted:
                return info
    return models[0] if models else None


def default_model_path() -> Path | None:
    """Path of the default model, or None when models/ holds no valid model (play the mix)."""
    info = pick_default(list_models())
    return info.path if info is not None else None
