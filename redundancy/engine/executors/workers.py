"""Worker processes of the ``local`` executor: independent jobs side by side, one thread each.

A worker is a process of its own (a copy of the driver when its jobs compute
with one thread, else a fresh Python: :mod:`redundancy.engine.spawn` says
why) that receives jobs over its own socket, runs each with
:func:`~redundancy.engine.jobs.run_job` and sends back, over the same socket,
the job's start, step and resume events while it runs and its outcomes at the
end. Each worker keeps its own data cache across its jobs. This module is the
driver's side of that conversation (the pool); the worker's side, how one
starts and what it does until it stops, is :mod:`redundancy.engine.spawn`.

A socket per worker, not one shared queue, so that a worker killed in the
middle of a message damages nothing but its own socket: the driver reads
end-of-file there, and the job it was running is lost (retried or failed by the
driver), while the other workers go on. On Linux a worker asks the kernel to
kill it when the driver dies, so a killed run leaves nothing computing. Workers
ignore Ctrl-C (the terminal sends it to the whole process group): the driver
stops them itself.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from redundancy.engine.events import EventFn
from redundancy.engine.job import StageCrashed, StageJob, StageLost, StageOutcome, error_text
from redundancy.engine.spawn import Process, can_fork, send, start_worker
from redundancy.errors import RedundancyError

JOIN_S = 5.0
"""How long :meth:`WorkerPool.close` waits for idle workers to leave before killing them."""


@dataclass
class _Worker:
    process: Process
    conn: Connection
    handle: Any = None  # the job it runs, None while idle

    @property
    def pid(self) -> int:
        return self.process.pid

    def death(self) -> str:
        """How the worker ended, once its socket closed."""
        try:
            code = self.process.wait(timeout=JOIN_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return "closed its socket and was killed"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.conn.close()


class WorkerPool:
    """Up to ``size`` worker processes; jobs go to idle ones, and finished or lost jobs come back from :meth:`wait`."""

    def __init__(self, size: int, emit: EventFn, *, threads: int = 1, device_type: str = "cpu"):
        self.size = size
        self.fork = can_fork(threads, device_type)  # a copy of this process for one-thread jobs on the CPU (see engine/spawn.py)
        self.emit = emit
        self._workers: list[_Worker] = []
        self._finished: dict[Any, list[StageOutcome] | Exception] = {}

    def pids(self) -> list[int]:
        """The process ids of the live workers."""
        return [w.pid for w in self._workers]

    def start(self, count: int) -> None:
        """Start workers until ``count`` (at most the pool's size) are alive: fresh ones import while the driver prepares."""
        while len(self._workers) < min(count, self.size):
            self._spawn()

    def _spawn(self) -> _Worker:
        try:
            started = start_worker(fork=self.fork)
        except OSError as exc:
            raise RedundancyError(f"cannot start a worker process: {exc}; run with workers: 1") from None
        worker = _Worker(*started)
        self._workers.append(worker)
        return worker

    def submit(self, handle: Any, job: StageJob, shared: Any) -> None:
        worker = next((w for w in self._workers if w.handle is None), None)
        if worker is None:
            if len(self._workers) >= self.size:
                raise RuntimeError("more jobs submitted than the pool has workers")
            worker = self._spawn()
        worker.handle = handle
        try:
            send(worker.conn, (job, shared))
        except (BrokenPipeError, ConnectionError, EOFError, OSError):
            self._lose(worker)

    def _lose(self, worker: _Worker) -> None:
        """``worker`` died: its job is lost, and it leaves the pool (a later job starts a new one)."""
        death = worker.death()
        if worker.handle is not None:
            self._finished[worker.handle] = StageLost(f"its worker process {worker.pid} died ({death})")
        worker.conn.close()
        self._workers.remove(worker)

    def _read(self, worker: _Worker) -> None:
        """Take in everything ``worker`` has sent: forward its events, keep its job's outcomes."""
        while True:
            try:
                if not worker.conn.poll():
                    return
                data = worker.conn.recv_bytes()
            except (ConnectionError, EOFError, OSError):
                self._lose(worker)
                return
            try:
                kind, value = pickle.loads(data)
            except Exception as exc:  # a message this process cannot rebuild (a class it cannot import)
                kind, value = "crashed", f"its result cannot be read here: {error_text(exc)}"
            if kind == "event":
                self.emit(value)
            elif worker.handle is not None:
                self._finished[worker.handle] = value if kind == "done" else StageCrashed(value)
                worker.handle = None

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        """The handles among ``handles`` that finished (or were lost), waiting at most ``timeout`` s for one."""
        deadline = time.monotonic() + timeout
        while True:
            done = [h for h in handles if h in self._finished]
            left = deadline - time.monotonic()
            busy = [w for w in self._workers if w.handle is not None]
            if done or left <= 0 or not busy:
                return done
            ready = wait([w.conn for w in busy], timeout=left)
            for worker in busy:
                if worker.conn in ready:
                    self._read(worker)

    def result(self, handle: Any) -> list[StageOutcome]:
        value = self._finished.pop(handle)
        if isinstance(value, Exception):
            raise value
        return value

    def cancel(self, handles: Sequence[Any]) -> None:
        """Kill the workers running ``handles``: their jobs' results will not be collected."""
        for worker in [w for w in self._workers if w.handle is not None and w.handle in handles]:
            worker.stop()
            self._workers.remove(worker)

    def close(self) -> None:
        """Stop every worker: idle ones leave when told, busy or deaf ones are killed."""
        for worker in self._workers:
            try:
                if worker.handle is None:
                    send(worker.conn, None)
                else:
                    worker.process.kill()
            except (BrokenPipeError, ConnectionError, EOFError, OSError):
                pass
        deadline = time.monotonic() + JOIN_S
        for worker in self._workers:
            try:
                worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
        self._workers.clear()
