"""What every executor is: an options model and a class that submits jobs and hands their outcomes back.

The driver (:mod:`redundancy.engine.driver`) decides what runs (cache,
grouping, retries, failures, the index); an executor only decides where:
:meth:`Executor.submit` a :class:`~redundancy.engine.job.StageJob`,
:meth:`Executor.wait` for some to finish, :meth:`Executor.result` their
outcomes. Options are a pydantic model per executor whose ``kind`` field is
its registry key; the spec's ``executor:`` section is validated against the
model its ``kind`` names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from redundancy.engine.events import EventFn, ignore
from redundancy.engine.job import StageJob, StageOutcome
from redundancy.errors import RedundancyError


class ExecutorOptions(BaseModel):
    """Options every executor has; each executor's own model adds its fields and fixes ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field("local", description="where stages run when --executor is not given")


class RemoteOptions(ExecutorOptions):
    """Options of executors whose workers are other processes, on this machine or others."""

    cpus_per_stage: float = Field(1.0, gt=0, description="CPU cores each job reserves (its torch threads are the spec's train.threads, default 1)")
    gpus_per_stage: float = Field(0.0, ge=0, description="GPUs each job reserves; with device auto, a job computes on CUDA when it reserves a GPU")
    max_retries: int = Field(3, ge=0, description="re-runs of a job whose worker died (not of a stage that raised)")
    max_in_flight: int | None = Field(None, ge=1, description="jobs submitted at once (default: what the cluster holds)")


class Executor(ABC):
    """Runs :class:`StageJob` s somewhere and hands their outcomes back to the driver."""

    #: The registry key, and the ``kind`` of the options.
    kind: ClassVar[str] = ""
    #: The executor's options model.
    Options: ClassVar[type[ExecutorOptions]] = ExecutorOptions
    #: True when the driver must re-submit a lost job itself (Ray retries on its own).
    retries_in_driver: bool = False
    #: True when a run's studies ride in the same job as its training (jobs are expensive to start).
    chain_studies: ClassVar[bool] = False
    #: True when jobs run in the driver's process and report their own start, steps and resume as events.
    live_events: ClassVar[bool] = False
    #: True when workers may lack internet: the driver loads each dataset once first (shared data folder).
    prefetch_data: bool = False

    def __init__(self, options: ExecutorOptions, *, spec_name: str = ""):
        self.options = options
        self.spec_name = spec_name
        self.emit: EventFn = ignore

    @classmethod
    def check(cls, options: Any) -> None:
        """Raise :class:`RedundancyError` when valid ``options`` still cannot run (a required flag not given)."""

    def bind(self, emit: EventFn) -> None:
        """Where events of jobs that run in this process go (see :attr:`live_events`)."""
        self.emit = emit

    def device_type(self, device: str) -> str:
        """The device type stages will compute on for ``--device device``: decides stacking, like the spec does.

        Workers resolve ``auto`` themselves; a remote executor's answer is that
        a job computes on CUDA when it reserves a GPU.
        """
        if device == "auto":
            gpus = getattr(self.options, "gpus_per_stage", 0)
            return "cuda" if gpus else "cpu"
        try:
            return torch.device(device).type
        except RuntimeError:
            raise RedundancyError(f"--device {device!r} is not a device (expected auto, cpu, cuda or cuda:N)") from None

    def prepare(self, jobs: Sequence[StageJob], device_type: str) -> None:
        """Told once before the first submit: the jobs that can start now, and the device type stages compute on."""

    def capacity(self) -> int | None:
        """How many jobs may be in flight at once; None for no limit (the cluster queues them)."""
        return getattr(self.options, "max_in_flight", None)

    @property
    def max_retries(self) -> int:
        return int(getattr(self.options, "max_retries", 0))

    def share(self, value: Any) -> Any:
        """Make input tensors available to several jobs (Ray's object store); the value itself otherwise."""
        return value

    @abstractmethod
    def submit(self, job: StageJob, shared: Any = None) -> Any:
        """Start ``job`` with input ``shared`` (from :meth:`share`); returns a hashable handle."""

    @abstractmethod
    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        """The handles among ``handles`` that have finished, waiting at most ``timeout`` s for one."""

    @abstractmethod
    def result(self, handle: Any) -> list[StageOutcome]:
        """The outcomes of a finished job's stages; raises :class:`~redundancy.engine.job.StageLost` or ``StageCrashed``."""

    def is_running(self, handle: Any) -> bool:
        """Whether a submitted job is running now (False while it waits in the cluster's queue)."""
        return True

    def cancel(self, handles: Sequence[Any]) -> None:
        """Stop jobs whose results will not be collected (the driver is stopping)."""

    def close(self) -> None:
        """Release what the executor started."""

    def describe(self) -> str:
        return self.kind
