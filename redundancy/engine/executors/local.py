"""The ``local`` executor: jobs run one after another in this process.

It is an executor like the others (the driver decides what runs), with two
differences that come from sharing the driver's process: its jobs report
their start, steps and resume as events while they run (the progress bars),
and it keeps one data cache for the run, so each dataset loads once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from redundancy.engine.executors.base import Executor, ExecutorOptions
from redundancy.engine.jobs import StageJob, StageOutcome, run_job
from redundancy.engine.stages import DataCache, resolve_device


class LocalOptions(ExecutorOptions):
    kind: Literal["local"] = Field("local", description="run stages in this process, one after another")


class LocalExecutor(Executor):
    kind = "local"
    Options = LocalOptions
    live_events = True

    def __init__(self, options: LocalOptions | None = None, *, spec_name: str = ""):
        super().__init__(options or LocalOptions(), spec_name=spec_name)
        self._pending: dict[int, tuple[StageJob, Any]] = {}
        self._done: dict[int, list[StageOutcome]] = {}
        self._caches: dict[str, DataCache] = {}
        self._next = 0

    def device_type(self, device: str) -> str:
        return resolve_device(device).type

    def capacity(self) -> int | None:
        return 1

    def submit(self, job: StageJob, shared: Any = None) -> Any:
        self._next += 1
        self._pending[self._next] = (job, shared)
        return self._next

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        for handle in handles:
            if handle in self._done:
                return [handle]
            if handle in self._pending:
                job, shared = self._pending.pop(handle)
                self._done[handle] = run_job(job, shared, emit=self.emit, caches=self._caches)
                return [handle]
        return []

    def result(self, handle: Any) -> list[StageOutcome]:
        return self._done.pop(handle)

    def describe(self) -> str:
        return "this process"
