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
    """What computes on the CPU: thread counts, parallel backend, BLAS and the vector ISA in use.

    Results are bit-identical only between runs where these agree (and the
    device type and thread count the spec decides).
    """
    return {L.A_THREADS: torch.get_num_threads(), L.A_INTEROP_THREADS: torch.get_num_interop_threads(), **_build()}


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
