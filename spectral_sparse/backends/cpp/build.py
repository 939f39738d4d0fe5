"""Building and loading the fused CPU kernels (``kernels.cpp``) on first use.

The kernels are plain C++17 without PyTorch headers, so the machine's C++
compiler builds them in about 2 seconds; a ``torch.utils.cpp_extension``
module, which includes the PyTorch headers (and wants ninja), took 68 seconds
for a one-line function on the same 2-core machine (g++ 12, both measured with
``-O3``). numba would avoid the compiler but not the first-call JIT time, and
has no portable vector shuffles for the in-register transposes.
They are compiled for the host CPU (``-march=native``) with OpenMP,
once per source, compiler and CPU, into a cache directory
(``$SPECTRAL_SPARSE_CACHE``, else ``$XDG_CACHE_HOME/spectral_sparse`` or
``~/.cache/spectral_sparse``), and loaded with :mod:`ctypes`. torch ships its
own ``libgomp.so.1``; the dynamic linker resolves the kernels' OpenMP runtime to
that same library, so both share one thread pool.

When the kernels cannot be built or loaded, :func:`status` says why (in the
``not_supported_reasons`` vocabulary), ``backend="auto"`` takes ``dft``, and one
:class:`RuntimeWarning` says so. ``SPECTRAL_SPARSE_CPP=0`` turns the backend off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Library", "SSArgs", "library", "status"]

_SOURCE = Path(__file__).with_name("kernels.cpp")
_FLAG_SETS = (
    ["-O3", "-march=native", "-fopenmp"],
    ["-O3", "-fopenmp"],  # a compiler without -march=native
    ["-O3"],  # without OpenMP: single-threaded (reported by Library.openmp)
)
_COMMON = ["-std=c++17", "-shared", "-fPIC", "-fno-math-errno"]


class SSArgs(ctypes.Structure):
    """Mirror of ``struct SSArgs`` in kernels.cpp."""

    _fields_ = [
        ("x", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("spec", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("n_fields", ctypes.c_int64),
        ("n_bias", ctypes.c_int64),
        ("ndim", ctypes.c_int64),
        ("grid", ctypes.c_int64 * 3),
        ("n_modes", ctypes.c_int64),
        ("n_last", ctypes.c_int64),
        ("last_bcast_cos", ctypes.c_void_p),
        ("last_bcast_sin", ctypes.c_void_p),
        ("last_rows_cos", ctypes.c_void_p),
        ("last_rows_sin", ctypes.c_void_p),
        ("last_rows_stride", ctypes.c_int64),
        ("n_stage", ctypes.c_int64),
        ("stage_out", ctypes.c_int64 * 2),
        ("stage_parent", ctypes.c_void_p * 2),
        ("stage_freq", ctypes.c_void_p * 2),
        ("stage_cos", ctypes.c_void_p * 2),
        ("stage_sin", ctypes.c_void_p * 2),
        ("stage_stride", ctypes.c_int64 * 2),
        ("n_threads", ctypes.c_int64),
    ]


@dataclass(frozen=True)
class Library:
    """The loaded kernels: entry points, the vector width they were built for, OpenMP or not."""

    path: Path
    analysis: dict[int, ctypes._CFuncPtr]  # element size (4, 8) -> function
    synthesis: dict[int, ctypes._CFuncPtr]
    vector_bytes: int
    openmp: bool
    flags: tuple[str, ...]


_LOCK = threading.Lock()
_STATE: dict[str, object] = {}


def _cache_dir() -> Path:
    root = os.environ.get("SPECTRAL_SPARSE_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spectral_sparse"


def _cpu_signature() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _compile(cxx: str, flags: list[str], target: Path) -> str | None:
    """Build into ``target`` atomically; return None, or the compiler's first error line."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run(
            [cxx, *flags, *_COMMON, str(_SOURCE), "-o", tmp], capture_output=True, text=True, timeout=300
        )
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if "error" in ln] or ["(no message)"]
            return lines[0].strip()
        os.replace(tmp, target)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: Path, flags: tuple[str, ...]) -> Library:
    lib = ctypes.CDLL(str(path))
    fns: dict[str, dict[int, ctypes._CFuncPtr]] = {"analysis": {}, "synthesis": {}}
    for kind in fns:
        for size, suffix in ((4, "f32"), (8, "f64")):
            fn = getattr(lib, f"ss_{kind}_{suffix}")
            fn.argtypes = [ctypes.POINTER(SSArgs)]
            fn.restype = ctypes.c_int
            fns[kind][size] = fn
    return Library(
        path=path,
        analysis=fns["analysis"],
        synthesis=fns["synthesis"],
        vector_bytes=int(lib.ss_vector_bytes()),
        openmp=bool(lib.ss_has_openmp()),
        flags=flags,
    )


def _build() -> tuple[Library | None, list[str]]:
    if os.environ.get("SPECTRAL_SPARSE_CPP", "1") == "0":
        return None, ["cpp: turned off by SPECTRAL_SPARSE_CPP=0"]
    import torch  # noqa: F401  (load torch's libgomp first, so the kernels share its OpenMP runtime)

    cxx = _compiler()
    if cxx is None:
        return None, ["cpp: no C++ compiler found (set CXX, or install g++ or clang++)"]
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, [f"cpp: the C++ compiler {cxx} does not run ({exc})"]
    errors = []
    for flags in _FLAG_SETS:
        key = hashlib.sha256(
            b"\0".join(
                x.encode() if isinstance(x, str) else x
                for x in (_SOURCE.read_bytes(), cxx, version, " ".join(flags + _COMMON), _cpu_signature())
            )
        ).hexdigest()[:20]
        for directory in (_cache_dir(), Path(tempfile.gettempdir()) / "spectral_sparse"):
            target = directory / "cpp" / f"kernels-{key}.so"
            if not target.exists():
                err = _compile(cxx, flags, target)
                if err is not None:
                    errors.append(f"{' '.join(flags)}: {err}")
                    break  # the same flags fail in any directory
            try:
                return _load(target, tuple(flags)), []
            except OSError as exc:  # unwritable or unloadable: try the next directory
                errors.append(f"loading {target}: {exc}")
    return None, ["cpp: the C++ kernels could not be built: " + "; ".join(errors[-2:])]


def library() -> Library | None:
    """The loaded kernels, building them on the first call; ``None`` when they cannot be had."""
    lib, _ = _get()
    return lib


def status() -> list[str]:
    """Why the kernels are unavailable (empty when they are loaded); builds them on the first call."""
    _, reasons = _get()
    return list(reasons)


def _get() -> tuple[Library | None, list[str]]:
    state = _STATE.get("value")
    if state is None:
        with _LOCK:
            state = _STATE.get("value")
            if state is None:
                state = _build()
                _STATE["value"] = state
                lib, reasons = state
                if lib is None:
                    warnings.warn(
                        "spectral_sparse: the fused CPU kernels are unavailable, so CPU calls use the slower "
                        "'dft' backend: " + "; ".join(reasons),
                        RuntimeWarning,
                        stacklevel=3,
                    )
                elif not lib.openmp:
                    warnings.warn(
                        "spectral_sparse: the fused CPU kernels were built without OpenMP and run on one thread",
                        RuntimeWarning,
                        stacklevel=3,
                    )
    return state  # type: ignore[return-value]


def reset() -> None:
    """Forget the loaded state (tests use it with a changed environment)."""
    with _LOCK:
        _STATE.clear()
