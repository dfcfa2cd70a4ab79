"""The ``local`` executor: jobs run on this machine, in this process or in worker processes beside it.

With one worker (the default for a single run, or on a GPU) jobs run one after
another in the driver's process: they report their start, steps and resume as
events while they run (the progress bars), and one data cache serves the whole
run, so each dataset loads once.

With more (``workers: N``, or ``auto`` for a grid on the CPU: one per usable
core) independent jobs run side by side in spawned worker processes
(:mod:`redundancy.engine.executors.workers`), each computing with its stage's
thread count, so a grid gets the machine's cores without any stage computing
with more threads than its spec says: stored results are the same bits as one
job at a time. Workers forward their events to the driver and keep a data
cache each; the driver loads every dataset once before they start, so
downloads never race. A worker that dies loses its job, which the driver sends
again up to ``max_retries`` times and then reports as that job's failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator

from redundancy.engine.executors.base import Executor, ExecutorOptions
from redundancy.engine.executors.workers import WorkerPool
from redundancy.engine.job import StageJob, StageOutcome
from redundancy.engine.jobs import run_job
from redundancy.engine.spawn import worker_count
from redundancy.engine.stages import DataCache, resolve_device


class LocalOptions(ExecutorOptions):
    kind: Literal["local"] = Field("local", description="run stages on this machine: in this process, or in worker processes beside it")
    workers: int | Literal["auto"] = Field(
        "auto", description="worker processes running jobs side by side, or auto: one per usable core for a grid on the CPU, else 1 (in this process)"
    )
    max_retries: int = Field(1, ge=0, description="with workers: re-runs of a job whose worker process died (not of a stage that raised)")

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError("expected a number of worker processes (1 or more) or 'auto'")


class LocalExecutor(Executor):
    kind = "local"
    Options = LocalOptions
    live_events = True

    def __init__(self, options: LocalOptions | None = None, *, spec_name: str = ""):
        options = options or LocalOptions()
        super().__init__(options, spec_name=spec_name)
        self.options: LocalOptions = options
        self.workers = 1
        self._pool: WorkerPool | None = None
        self._pending: dict[int, tuple[StageJob, Any]] = {}
        self._done: dict[int, list[StageOutcome]] = {}
        self._caches: dict[str, DataCache] = {}
        self._next = 0

    def device_type(self, device: str) -> str:
        return resolve_device(device).type

    def prepare(self, jobs: Sequence[StageJob], device_type: str) -> None:
        self.close()
        threads = max((job.threads for job in jobs), default=1)
        self.workers = worker_count(self.options.workers, device_type, len(jobs), threads)
        if self.workers > 1:
            self.prefetch_data = True  # before the workers ask for the data, so that downloads never race
            self.retries_in_driver = True
            self._pool = WorkerPool(self.workers, lambda event: self.emit(event), threads=threads, device_type=device_type)
            self._pool.start(len(jobs))  # they import while the driver loads the data

    def capacity(self) -> int | None:
        return self.workers

    def pids(self) -> list[int]:
        """The worker processes' ids (none while jobs run in this process)."""
        return self._pool.pids() if self._pool is not None else []

    def submit(self, job: StageJob, shared: Any = None) -> Any:
        self._next += 1
        if self._pool is not None:
            self._pool.submit(self._next, job, shared)
        else:
            self._pending[self._next] = (job, shared)
        return self._next

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        if self._pool is not None:
            return self._pool.wait(handles, timeout)
        for handle in handles:
            if handle in self._done:
                return [handle]
            if handle in self._pending:
                job, shared = self._pending.pop(handle)
                self._done[handle] = run_job(job, shared, emit=self.emit, caches=self._caches)
                return [handle]
        return []

    def result(self, handle: Any) -> list[StageOutcome]:
        if self._pool is not None:
            return self._pool.result(handle)
        return self._done.pop(handle)

    def cancel(self, handles: Sequence[Any]) -> None:
        if self._pool is not None:
            self._pool.cancel(handles)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def describe(self) -> str:
        return f"{self.workers} worker processes" if self.workers > 1 else "this process"
