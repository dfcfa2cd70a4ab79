"""How many worker processes the local executor runs, how one starts, and its life (:func:`serve`).

A worker starts as a copy of the driver (``fork``) when its jobs compute on the
CPU with one thread, else as a fresh Python (``exec``). A fresh Python imports PyTorch
before it can take a job: about 1.5 s of a core per worker, which on a 2-core
machine made a 4-seed quickstart grid no faster than one stage at a time with
two threads. A copy starts in milliseconds, with the driver's imports.

Why only for one thread: OpenMP's thread team does not survive ``fork``. A
child that computes with two threads after its parent computed with two hangs
for ever (measured with PyTorch's GNU OpenMP); with one thread it never starts
a team and computes normally. CUDA cannot be used in a copy of a process that
has asked for a device, hence the CPU only. The child keeps nothing else of the driver: it
closes every inherited file (the store's lock, open HDF5 files, the other
workers' sockets) but its own socket and standard streams, takes fresh
standard stream objects (another thread may have held their locks at the
instant of the copy), and leaves with ``os._exit`` so that none of the
driver's exit handlers run in it. Either way a stage's result is the same:
it computes with its spec's thread count in a process of its own.

Once started, a worker runs :func:`serve`: jobs arrive on its socket, each is
run with :func:`~redundancy.engine.jobs.run_job`, and its events and outcomes go
back the same way (:mod:`redundancy.engine.executors.workers` is the driver's
side, the pool).
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from multiprocessing.connection import Connection
from typing import Any, Protocol

from redundancy.engine.job import error_text
from redundancy.engine.jobs import run_job
from redundancy.engine.threads import DEFAULT_THREADS, set_threads

# A fresh worker's command: the driver's import path first, then serve on the socket it inherited.
BOOT = "import sys; sys.path[:0] = sys.argv[3:]; from redundancy.engine.spawn import serve; serve(int(sys.argv[1]), int(sys.argv[2]))"
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, which a cluster's allocation narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def worker_count(workers: int | str, device_type: str, jobs: int, threads: int = 1) -> int:
    """How many processes run jobs: ``workers`` when a number; for ``auto``, as many as the usable
    cores hold at ``threads`` threads a job (the spec's ``train.threads``, one unless set) when the
    device is the CPU and at least two jobs can start at once (a grid), else 1.

    Two two-thread workers on two cores would spin-wait for each other's descheduled threads
    (a 4-seed quickstart grid took 294 s instead of 22 s), so ``auto`` never oversubscribes.
    """
    if workers != "auto":
        return int(workers)
    if device_type != "cpu" or jobs < 2:
        return 1
    return max(1, usable_cores() // max(1, threads))


class Process(Protocol):
    """What the pool needs of a worker process: :class:`subprocess.Popen` or :class:`Forked`."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class Forked:
    """A forked child of this process, with the part of :class:`subprocess.Popen`'s interface the pool uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def can_fork(threads: int, device_type: str = "cpu") -> bool:
    """Whether workers whose jobs compute with ``threads`` threads on ``device_type`` may start as copies of
    this process (CUDA, once this process has asked for a device, cannot be used in a copy of it)."""
    return (
        threads == 1 and device_type == "cpu" and hasattr(os, "fork") and sys.platform.startswith("linux")
        and os.environ.get("REDUNDANCY_WORKER_START") != "exec"
    )


def start_worker(*, fork: bool) -> tuple[Process, Connection]:
    """Start one worker process on a socket of its own; :class:`OSError` if the system refuses."""
    ours, theirs = socket.socketpair()
    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # ignored from the worker's first instant
    try:
        process: Any
        if fork:
            process = Forked(_fork(theirs.fileno(), ours.fileno()))
        else:
            command = [sys.executable, "-c", BOOT, str(theirs.fileno()), str(os.getpid()), *sys.path]
            process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
        if main:
            signal.signal(signal.SIGINT, before)
    return process, Connection(ours.detach())


def _fork(fd: int, drop: int) -> int:
    """Fork a worker serving on ``fd``; in the parent, return its pid. The child never returns."""
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12 warns of threads; the child uses none of theirs (see above)
        pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.close(drop)
        keep = sorted({0, 1, 2, fd})
        for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")]):
            if high > low + 1:  # an empty range would close everything: Python passes [low, high - 1] to close_range(2)
                os.closerange(low + 1, high)
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the worker's for its life
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        serve(fd, parent)
        code = 0
    except BaseException:  # noqa: BLE001 - nothing of the driver's may run in the child, not even its exception handlers
        pass
    finally:
        os._exit(code)


def send(conn: Connection, value: Any) -> None:
    """Send ``value`` pickled plainly: tensors travel as their bytes (multiprocessing's own pickler
    would pass them as shared memory, which needs a handshake two unrelated processes cannot make)."""
    conn.send_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies; leave at once if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no C library to ask: a worker still ends at its next event, on the closed socket
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def serve(fd: int, parent: int) -> None:
    """A worker's life: run the jobs that arrive on socket ``fd`` until it closes or says stop (None)."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    set_threads(DEFAULT_THREADS)  # every stage sets its own count; nothing computes with the default of one per core
    caches: dict[str, Any] = {}

    def emit(event: Any) -> None:
        send(conn, ("event", event))

    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            message = pickle.loads(data)
            if message is None:
                return
            job, shared = message
            reply: tuple[str, Any] = ("done", run_job(job, shared, emit=emit, caches=caches))
        except Exception as exc:  # a job that cannot be read here; run_job reports its stages' own failures itself
            reply = ("crashed", error_text(exc))
        try:
            send(conn, reply)
        except (BrokenPipeError, EOFError, OSError):
            return
        except Exception as exc:  # an outcome that does not pickle
            send(conn, ("crashed", f"its result cannot be sent back: {error_text(exc)}"))
