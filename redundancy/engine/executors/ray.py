"""The ``ray`` executor: each job is a Ray task on this machine's Ray instance or a cluster's.

Ray re-runs a task whose worker died up to ``max_retries`` times; a task that
raised is not re-run. A run's checkpoints go into Ray's object store once and
are shared by all of its study jobs. Uses the Ray instance this process is
already connected to, else ``address``, else starts a local one. Ray is an
optional extra, imported only when this executor is made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from redundancy.engine.executors.base import Executor, RemoteOptions
from redundancy.engine.job import StageCrashed, StageJob, StageLost, StageOutcome
from redundancy.engine.jobs import run_job
from redundancy.errors import RedundancyError

RAY_INSTALL = "pip install 'redundancy[ray]'"


class RayOptions(RemoteOptions):
    kind: Literal["ray"] = Field("ray", description="each job a Ray task")
    address: str | None = Field(None, description="address of an existing cluster ('auto', 'HOST:6379', 'ray://HOST:10001')")


def short_error(exc: BaseException) -> str:
    """The last line of an exception's text: remote tracebacks are long, the cause is at the end."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RedundancyError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


class RayExecutor(Executor):
    """Each job is a Ray task reserving ``cpus_per_stage`` CPUs and ``gpus_per_stage`` GPUs (fractions share a GPU)."""

    kind = "ray"
    Options = RayOptions
    CAPACITY_REFRESH_S = 5.0

    def __init__(self, options: RayOptions | None = None, *, spec_name: str = ""):
        options = options or RayOptions()
        super().__init__(options, spec_name=spec_name)
        self.options: RayOptions = options
        ray = _import_ray()
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            try:
                if options.address:
                    ray.init(address=options.address, logging_level="WARNING")
                else:
                    ray.init(include_dashboard=False, logging_level="WARNING")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = options.address or "a local instance"
                raise RedundancyError(f"cannot start or reach Ray at {where}: {short_error(exc)}") from None
            self._started = True
        self._remote = ray.remote(run_job)
        self._capacity: int | None = None
        self._checked = 0.0

    def describe(self) -> str:
        res = self._ray.cluster_resources()
        return f"ray ({int(res.get('CPU', 0))} CPUs, {res.get('GPU', 0):g} GPUs)"

    def capacity(self) -> int | None:
        if self.options.max_in_flight is not None:
            return self.options.max_in_flight
        now = time.monotonic()
        if self._capacity is None or now - self._checked > self.CAPACITY_REFRESH_S:
            res = self._ray.cluster_resources()
            slots = math.floor(res.get("CPU", 0.0) / self.options.cpus_per_stage + 1e-9)
            if self.options.gpus_per_stage > 0:
                slots = min(slots, math.floor(res.get("GPU", 0.0) / self.options.gpus_per_stage + 1e-9))
            if slots < 1:
                raise RedundancyError(
                    f"the Ray cluster has {res.get('CPU', 0):g} CPUs and {res.get('GPU', 0):g} GPUs, not enough for one stage "
                    f"({self.options.cpus_per_stage:g} CPUs, {self.options.gpus_per_stage:g} GPUs); "
                    "lower --cpus-per-stage / --gpus-per-stage, or set max_in_flight for an autoscaling cluster"
                )
            self._capacity, self._checked = slots, now
        return self._capacity

    def share(self, value: Any) -> Any:
        return self._ray.put(value)

    def submit(self, job: StageJob, shared: Any = None) -> Any:
        remote = self._remote.options(
            name=job.name,  # a busy worker's process title: ray::redundancy <stage id> <grid point>
            num_cpus=self.options.cpus_per_stage,
            num_gpus=self.options.gpus_per_stage,
            max_retries=self.options.max_retries,
            retry_exceptions=False,
        )
        return remote.remote(job, shared)

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        if not handles:
            return []
        done, _ = self._ray.wait(list(handles), num_returns=1, timeout=timeout)
        if done:  # collect everything already finished, not just the first
            more, _ = self._ray.wait(list(handles), num_returns=len(handles), timeout=0)
            done = more or done
        return list(done)

    def result(self, handle: Any) -> list[StageOutcome]:
        exceptions = self._ray.exceptions
        try:
            outcomes: list[StageOutcome] = self._ray.get(handle)
        except exceptions.RayTaskError as exc:
            raise StageCrashed(short_error(exc)) from None
        except exceptions.RayError as exc:
            attempts = self.options.max_retries + 1
            raise StageLost(f"worker lost {attempts} time(s): {type(exc).__name__}: {short_error(exc)}") from None
        return outcomes

    def cancel(self, handles: Sequence[Any]) -> None:
        for handle in handles:
            try:
                self._ray.cancel(handle, force=True)
            except Exception:  # a task that just finished cannot be cancelled; nothing to do
                pass

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False
