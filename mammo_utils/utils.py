# Size: the small helpers every layer shares (seeds, atomic writes, strict JSON, results files), each short.
"""Small helpers every layer may use: atomic writes, sizes, seeding, versions, timing, the project folder.

Nothing here imports another ``mammo_utils`` module, so any module can import it.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: File whose presence marks the project folder (the repository root) when walking up from the cwd.
PROJECT_MARKER = "run_all.sh"


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written file, and a killed writer leaves at most a hidden ``.tmp`` file.

    Args:
        path: Target file (its folder is created).
        data: Content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_csv_atomic(df, path: str | Path, **to_csv_kwargs) -> None:
    """Write a DataFrame as CSV (no index) atomically.

    Args:
        df: pandas DataFrame.
        path: Target file.
        **to_csv_kwargs: Extra ``DataFrame.to_csv`` options (e.g. ``lineterminator``).
    """
    write_atomic(path, df.to_csv(index=False, **to_csv_kwargs).encode())


def parse_size(value: Any, name: str = "size") -> tuple[int, int]:
    """Parse ``"1024x512"``, ``1024`` or ``(1024, 512)`` into ``(height, width)``.

    Args:
        value: The size as text, an int (square) or a pair.
        name: Parameter name used in error messages.

    Returns:
        ``(height, width)`` as positive ints.

    Raises:
        ValueError: If the value is not a positive size.

    Example:
        >>> parse_size("1024x512")
        (1024, 512)
    """
    try:
        if isinstance(value, str):
            pair = tuple(int(p) for p in value.lower().replace(",", "x").split("x"))
        elif isinstance(value, int):
            pair = (value, value)
        else:
            pair = tuple(int(v) for v in value)
        if len(pair) == 1:
            pair = (pair[0], pair[0])
    except (TypeError, ValueError):
        raise ValueError(f"{name} must look like 1024x512, got {value!r}") from None
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{name} must be two positive integers like 1024x512, got {value!r}")
    return (pair[0], pair[1])


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and (when already imported) Keras/TensorFlow.

    Args:
        seed: The seed.
        deterministic: Also make TensorFlow repeat itself on one machine: deterministic ops and a single inter-op
            thread. Op determinism alone is not enough on a CPU: with several inter-op threads, independent ops
            of a training step run concurrently and two runs of the same seed drift apart from the first steps
            (measured: 3 training steps of the baseline CNN gave 3 different weight hashes in 3 processes; with
            one inter-op thread 4 of 4 agreed). Intra-op parallelism (threads inside one convolution) is kept.
            Applied only when TensorFlow is already imported; the thread pools are fixed when TensorFlow's runtime
            starts, so call this (or :func:`deterministic_threads`) before the first TensorFlow op.
    """
    import sys

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        deterministic_threads()
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)
    if deterministic and "tensorflow" in sys.modules:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def deterministic_threads() -> bool:
    """One inter-op thread for TensorFlow (see :func:`seed_everything`), before or after it is imported.

    Before the import it sets ``TF_NUM_INTEROP_THREADS=1`` (read when the runtime starts); after the import and
    before the runtime started it sets the thread pool directly.

    Returns:
        True when TensorFlow runs (or will run) with one inter-op thread; False when its runtime had already
        started with more (the run may then not repeat exactly).
    """
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if "tensorflow" not in sys.modules:
        return True
    tf = sys.modules["tensorflow"]
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime has started: its pool size is fixed
        pass
    return tf.config.threading.get_inter_op_parallelism_threads() == 1


#: Distributions whose versions runs record (missing ones are skipped).
VERSION_PACKAGES = (
    "numpy",
    "pandas",
    "pydicom",
    "opencv-python-headless",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "mlflow",
)


def versions(packages: tuple[str, ...] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed versions of the given distributions (read from metadata, nothing imported).

    Args:
        packages: Distribution names.

    Returns:
        ``{"python": "3.11.7", "numpy": "2.4.6", ...}`` for the installed ones.
    """
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def time_calls(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    The one timer of the project: throughput, inference latency and decode speed are all built on it.

    Args:
        fn: Callable with no arguments.
        repeats: Timed calls.
        warmup: Untimed calls first (graph tracing, caches).

    Returns:
        One duration per timed call, in seconds.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_seconds(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median of :func:`time_calls` (robust to one slow call)."""
    return statistics.median(time_calls(fn, repeats, warmup))


def project_root(start: str | Path | None = None) -> Path:
    """The project folder that holds ``data/`` and ``reports/``.

    ``MAMMO_HOME`` when set; else the nearest folder at or above ``start`` (default: the current directory)
    that holds :data:`PROJECT_MARKER` (a clone of the repository, also from ``notebooks/``); else ``start``
    itself, so an installed package run anywhere (``/kaggle/working``) writes under the current directory,
    never into its install location.

    Args:
        start: Folder to start from.

    Returns:
        The project folder.
    """
    if os.environ.get("MAMMO_HOME"):
        return Path(os.environ["MAMMO_HOME"]).expanduser()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return here


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 inside the block (C++ start-up lines of TFLite, XNNPACK, tf2onnx).

    Python-level exceptions still propagate; only text written straight to the process's stderr is dropped,
    so rendered notebooks and CLI output carry no runtime banners.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """Import TensorFlow with its C++ start-up lines (absl, oneDNN, CPU features) silenced.

    ``TF_CPP_MIN_LOG_LEVEL`` does not reach the lines absl prints before its logging is initialised, so the
    import itself runs inside :func:`quiet_stderr`. Later imports are free (the module is cached).

    Returns:
        The ``tensorflow`` module.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        with quiet_stderr():
            import tensorflow

        tensorflow.get_logger().setLevel("ERROR")  # retracing notices and other Python-side warnings
    return sys.modules["tensorflow"]


#: Why a recorded number is missing, by the last part of its key (first match wins); :func:`missing_reason`.
MISSING_REASONS: tuple[tuple[str, str], ...] = (
    ("auc_low", "no AUC interval: fewer than 5 breasts of a class, or every patient resample gave the same AUC"),
    ("auc_high", "no AUC interval: fewer than 5 breasts of a class, or every patient resample gave the same AUC"),
    ("_low", "no cases of this kind in the group: no interval"),
    ("_high", "no cases of this kind in the group: no interval"),
    (" sd", "one seed: no spread (a standard deviation needs two or more runs)"),
    ("sd", "one seed: no spread (a standard deviation needs two or more runs)"),
    ("auc", "one class only: ROC-AUC needs both cancers and non-cancers"),
    ("sensitivity", "no cancers in this group: sensitivity is undefined"),
    ("recall", "no cancers in this group: sensitivity is undefined"),
    ("specificity", "no non-cancers in this group: specificity is undefined"),
    ("precision", "no positive calls: precision is undefined"),
    ("gzip_mb", "a folder format (no single file to compress)"),
)


def missing_reason(path: str) -> str:
    """Why the value at ``path`` (dotted key) is not a number, for the ``missing`` map of a results file.

    Args:
        path: Dotted key of the value, e.g. ``summary.2.val AUC sd``.

    Returns:
        A short reason (:data:`MISSING_REASONS`, else a generic one).

    Example:
        >>> missing_reason("summary.2.val AUC sd")
        'one seed: no spread (a standard deviation needs two or more runs)'
    """
    last = path.rsplit(".", 1)[-1].lower()
    for suffix, reason in MISSING_REASONS:
        if last.endswith(suffix):
            return reason
    return "not computable on this sample (the computation gave no finite number)"


def _jsonable(value: Any, missing: dict[str, str] | None = None, path: str = "") -> Any:
    """numpy / pandas values as plain JSON types; NaN and infinities become ``None`` (JSON ``null``).

    Args:
        value: Any nesting of dicts, lists, numpy and pandas values.
        missing: When given, collects ``{dotted path: reason}`` for every value turned into ``None``.
        path: Dotted path of ``value`` (for ``missing``).

    Returns:
        The plain value.
    """
    import numpy as np

    def sub(key: Any) -> str:
        return f"{path}.{key}" if path else str(key)

    if isinstance(value, dict):
        return {str(k): _jsonable(v, missing, sub(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, missing, sub(i)) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), missing, path)
    if isinstance(value, np.generic):
        value = value.item()
    elif hasattr(value, "to_dict") and callable(value.to_dict):  # pandas objects
        return _jsonable(value.to_dict(), missing, path)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, float) and not math.isfinite(value):
        if missing is not None:
            missing.setdefault(path, missing_reason(path))  # a reason the payload gave wins
        return None
    return value


def to_json(payload: Any, **kwargs: Any) -> str:
    """Strict JSON text (never ``NaN``/``Infinity``): non-finite numbers are written as ``null``.

    Args:
        payload: JSON-able values (numpy and pandas values are converted).
        **kwargs: Passed to :func:`json.dumps` (``indent``, ``sort_keys``, ``default``).

    Returns:
        The JSON text.

    Example:
        >>> to_json({"sd": float("nan")})
        '{"sd": null}'
    """
    import json

    return json.dumps(_jsonable(payload), allow_nan=False, **kwargs)


#: File in the work folder that names the build its runs belong to (a full rebuild removes it with the store).
BUILD_FILE = "build.json"


def work_folder() -> Path:
    """The work folder: ``MAMMO_WORK`` or ``<project>/data/work`` (caches, runs, stores, exports)."""
    return Path(os.environ.get("MAMMO_WORK") or project_root() / "data" / "work").expanduser()


def build_identity(work: str | Path | None = None, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The build the work folder's runs belong to, made on first use: ``{"id", "started_at", ...}``.

    A full rebuild (``bash run_all.sh``) removes the file with the reports store, so every model trained and every
    result recorded from then on carries one new id; re-rendering notebooks over the same runs keeps it. The
    results files (:func:`save_results`) and the export's ``model.json`` record it, and the final report checks
    that everything it cites names the same one.

    Args:
        work: The work folder (default :func:`work_folder`).
        environment: Recorded with the id when the file is made (platform, library versions: what the notebooks'
            set-up knows); an existing build keeps what it recorded.

    Returns:
        ``{"id": 12 hex digits, "started_at": UTC time}`` plus ``environment`` when one was recorded.
    """
    import json
    import uuid

    path = Path(work or work_folder()) / BUILD_FILE
    try:
        found = json.loads(path.read_text())
        if isinstance(found, dict) and found.get("id"):
            return found
    except (OSError, ValueError):
        pass
    made = {"id": uuid.uuid4().hex[:12], "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if environment:
        made["environment"] = _jsonable(environment)
    write_atomic(path, (json.dumps(made, indent=1, allow_nan=False) + "\n").encode())
    return made


def results_dir() -> Path:
    """Where notebooks record their headline numbers: ``MAMMO_RESULTS`` or ``<project>/reports/results``."""
    return Path(os.environ.get("MAMMO_RESULTS") or project_root() / "reports" / "results")


def save_results(name: str, payload: dict, folder: str | Path | None = None) -> Path:
    """Record a notebook's headline numbers as ``<results_dir>/<name>.json`` (atomic), for the final report.

    Args:
        name: File stem, e.g. ``04_baseline``.
        payload: JSON-able values (numpy and pandas values are converted). A value that is not a finite number
            is written as ``null`` and its dotted path is listed, with the reason, in the file's ``missing`` map
            (:func:`missing_reason`; a ``missing`` entry of the payload gives the reason itself). A ``build``
            entry is added: the work folder's :func:`build_identity` and the time written.
        folder: Output folder (default :func:`results_dir`).

    Returns:
        The written path.
    """
    import json

    path = Path(folder or results_dir()) / f"{name}.json"
    missing: dict[str, str] = dict(payload.get("missing") or {})
    plain = _jsonable({k: v for k, v in payload.items() if k != "missing"}, missing)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    build = build_identity()
    plain.setdefault("build", {"id": build["id"], "started_at": build.get("started_at"), "written_at": stamp})
    if missing:
        plain["missing"] = missing
    write_atomic(path, (json.dumps(plain, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())
    return path


def load_results(name: str, folder: str | Path | None = None) -> dict:
    """Read what :func:`save_results` wrote.

    Raises:
        FileNotFoundError: The notebook that writes it has not run (the message names it).
    """
    import json

    path = Path(folder or results_dir()) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run notebook {name.split('_')[0]} (bash run_all.sh) first")
    return json.loads(path.read_text())


def portable_path(path: str | Path, work_dir: str | Path | None = None) -> str:
    """A path as an artifact may record it: relative to the repository, else to the work folder.

    Args:
        path: Any path (absolute or relative to the current directory).
        work_dir: The work folder (``MAMMO_WORK`` or ``<project>/data/work`` when None).

    Returns:
        ``data/work/export/champion`` (inside the repository), ``$MAMMO_WORK/export/champion`` (inside the
        work folder elsewhere), else the last two parts (``…/export/champion``): never an absolute path. A
        symbolic link (the champion pointer) is named as itself, not as the folder it points to.

    Example:
        >>> portable_path(project_root() / "data" / "work" / "x")
        'data/work/x'
    """
    given = Path(path).expanduser()
    named = given.name not in ("", ".", "..")
    resolved = given.parent.resolve() / given.name if named else given.resolve()  # a pointer keeps its name
    root = project_root().resolve()
    work = Path(work_dir or work_folder()).expanduser().resolve()
    for base, prefix in ((root, ""), (work, "$MAMMO_WORK/")):
        if resolved == base or base in resolved.parents:
            return prefix + (resolved.relative_to(base).as_posix() or ".")
    return "…/" + "/".join(resolved.parts[-2:])
