"""How many CPU threads a stage computes with: decided by its spec alone.

The thread count changes float rounding (a reduction split over two threads
sums in another order), so a result that depended on it would depend on where
and beside what it ran. Every stage therefore runs with the thread count of
its run's spec: ``train.threads`` when set (then part of the stage identity),
else one thread, on every executor (this process, a Ray task, a SLURM job).

One thread, not PyTorch's default of one per core, because it is the only
fixed choice that survives a busy machine. Quickstart training (3,000 LeNet
iterations on a 2-core CPU) took 4.7–5.0 s with one thread whether the machine
was quiet, beside a busy single-threaded process or beside another two-thread
PyTorch training; PyTorch's default took 3.8 s quiet, 11 s beside the busy
process and 55–79 s beside the other training (OpenMP threads spin waiting for
each other when one of them is descheduled). A grid gets its cores back by
running independent stages side by side, one thread each (the local
executor's ``workers``, Ray and SLURM do; ``benchmarks/contention.py`` measures
it against one stage at a time).
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import torch
from threadpoolctl import threadpool_limits

from redundancy.spec.schema import RunConfig
from redundancy.store import layout as L

DEFAULT_THREADS = 1


def stage_threads(run: RunConfig) -> int:
    """The CPU threads a stage of ``run`` (its training or one of its studies) computes with."""
    return run.train.threads or DEFAULT_THREADS


def set_threads(threads: int) -> None:
    """Make this process compute with ``threads`` intra-op threads and one inter-op thread.

    PyTorch accepts the inter-op count only before its first inter-op parallel
    work; later it keeps what it has, which our stages do not use anyway.
    """
    torch.set_num_threads(max(1, int(threads)))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


@contextmanager
def using_threads(threads: int) -> Iterator[None]:
    """Compute with ``threads`` threads inside the block, and with the previous count after it.

    NumPy's BLAS (the studies' float64 statistics) is held to the same count: it
    starts one thread per core of its own, and a sum split over two threads
    rounds differently from one over a single thread.
    """
    before = torch.get_num_threads()
    set_threads(threads)
    try:
        with threadpool_limits(limits=max(1, int(threads))):
            yield
    finally:
        torch.set_num_threads(before)


_BLAS = re.compile(r"BLAS_INFO=([^,\s]+)")


def compute_library() -> dict[str, Any]:
    """What computes on the CPU: thread counts, parallel backend, both BLAS libraries, the vector ISA
    in use and the library versions.

    Results are bit-identical only between runs where these agree (and the
    device type and thread count the spec decides): see README, "Same spec, same bits".
    """
    return {
        L.A_THREADS: torch.get_num_threads(),
        L.A_INTEROP_THREADS: torch.get_num_interop_threads(),
        **_build(),
        **numeric_libraries(),
    }


# Environment variables that change which kernels run (and so the rounding) without changing a version.
NUMERIC_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_VERBOSE",
    "MKL_CBWR",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "ATEN_CPU_CAPABILITY",
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
)


@lru_cache(maxsize=1)
def numeric_libraries() -> dict[str, str]:
    """NumPy, SciPy and h5py versions, NumPy's BLAS with the kernels it picked for this CPU, NumPy's
    SIMD dispatch, the CPU's model and the environment variables that steer kernels.

    The studies' float64 statistics run on NumPy's BLAS (OpenBLAS in NumPy's wheels), which picks
    its kernels by CPU (``SkylakeX``, ``Haswell``, ``Zen`` ...) unless ``OPENBLAS_CORETYPE`` says
    otherwise; NumPy's own loops dispatch on the SIMD targets the CPU has. Either changes the last
    bits of a sum, so both are recorded next to the versions.
    """
    import h5py
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = next((lib for lib in threadpool_info() if lib.get("user_api") == "blas" and "numpy" in str(lib.get("filepath", ""))), None)
    if blas is None:
        blas = next((lib for lib in threadpool_info() if lib.get("user_api") == "blas"), {})
    try:  # its version without importing it: a run that needs no SciPy does not pay for its import
        from importlib.metadata import PackageNotFoundError, version

        scipy_version = version("scipy")
    except PackageNotFoundError:
        scipy_version = "none"
    env = {name: os.environ[name] for name in NUMERIC_ENV_VARS if os.environ.get(name)}
    return {
        L.A_NUMPY_VERSION: np.__version__,
        L.A_SCIPY_VERSION: scipy_version,
        L.A_H5PY_VERSION: h5py.__version__,
        L.A_HDF5_VERSION: h5py.version.hdf5_version,
        L.A_NUMPY_BLAS: f"{blas.get('internal_api', 'unknown')} {blas.get('version') or ''}".strip(),
        L.A_NUMPY_BLAS_CORETYPE: str(blas.get("architecture") or "unknown"),
        L.A_NUMPY_SIMD: _numpy_simd(),
        L.A_CPU_MODEL: _cpu_model(),
        L.A_NUMERIC_ENV: json.dumps(env, sort_keys=True),
    }


def _numpy_simd() -> str:
    """The SIMD targets NumPy dispatches to on this CPU (its baseline first), e.g. ``X86_V2 | X86_V3 AVX512_ICL``."""
    try:
        from numpy._core import _multiarray_umath as umath  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    features = getattr(umath, "__cpu_features__", {})
    baseline = " ".join(getattr(umath, "__cpu_baseline__", []))
    enabled = " ".join(t for t in getattr(umath, "__cpu_dispatch__", []) if features.get(t.split()[0], False))
    return f"{baseline} | {enabled}".strip()


def _cpu_model() -> str:
    """``vendor model name`` from /proc/cpuinfo (Linux), else what :mod:`platform` says."""
    vendor = model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "model name" and not model:
                    model = value.strip()
                if vendor and model:
                    break
    except OSError:
        pass
    return " ".join(x for x in (vendor, model) if x) or platform.processor() or platform.machine() or "unknown"


@lru_cache(maxsize=1)
def _build() -> dict[str, str]:
    info = torch.__config__.parallel_info()
    backend = re.search(r"ATen parallel backend: (.+)", info)
    blas = _BLAS.search(torch.__config__.show())
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        capability = "unknown"
    return {
        L.A_PARALLEL_BACKEND: backend.group(1).strip() if backend else "unknown",
        L.A_BLAS: blas.group(1) if blas else "unknown",
        L.A_CPU_CAPABILITY: capability,
    }
