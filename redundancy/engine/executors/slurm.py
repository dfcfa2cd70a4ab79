"""The ``slurm`` executor: each grid point is one SLURM job submitted through submitit.

A job trains its run and then runs the run's studies (``chain_studies``): a
SLURM job costs a queue wait and a Python start, so one per grid point (or per
stacked group), and the checkpoints stay in the job. submitit sends the job
and brings the outcomes back as pickles in ``folder``, which must be on a file
system the compute nodes share. A job that dies without a result (killed,
preempted, node failure) is submitted again by the driver, at most
``max_retries`` times. With ``cluster: local`` each job is a subprocess here,
to try a setup. submitit is an optional extra, imported only when this
executor is made.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from redundancy.engine.executors.base import Executor, RemoteOptions
from redundancy.engine.executors.ray import short_error
from redundancy.engine.job import StageCrashed, StageJob, StageLost, StageOutcome
from redundancy.engine.jobs import run_job
from redundancy.errors import RedundancyError

SLURM_INSTALL = "pip install 'redundancy[slurm]'"

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time_limit(value: int | float | str) -> int:
    """A SLURM-style time limit in whole minutes, rounded up (submitit takes minutes).

    Accepts a number of minutes, ``"MM"``, ``"HH:MM"``, ``"HH:MM:SS"``, and with
    days ``"D-HH"``, ``"D-HH:MM"`` or ``"D-HH:MM:SS"``. Unlike sbatch, two
    fields read as hours and minutes: a per-job limit is rarely under an hour.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected minutes or 'HH:MM:SS', found {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"time limit must be positive, found {value!r}")
        return int(math.ceil(value))
    text = str(value).strip()
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"expected minutes or 'HH:MM:SS' or 'D-HH:MM:SS', found {value!r}")
    days, a, b, c = m.groups()
    fields = [int(x) for x in (a, b, c) if x is not None]
    if days is None and len(fields) == 1:
        minutes = float(fields[0])
    else:
        hours, mins, secs = (fields + [0, 0, 0])[:3]
        minutes = 60 * hours + mins + secs / 60
    minutes += 1440 * int(days or 0)
    if minutes <= 0:
        raise ValueError(f"time limit must be positive, found {value!r}")
    return int(math.ceil(minutes))


class SlurmOptions(RemoteOptions):
    kind: Literal["slurm"] = Field("slurm", description="each grid point a SLURM job (through submitit)")
    max_in_flight: int | None = Field(None, ge=1, description="jobs submitted at once (default: all; cluster local: one per core)")
    partition: str | None = Field(None, description="slurm partition")
    time_limit: int | None = Field(
        None, description="time limit per job (a grid point's train stage and its studies): minutes, 'HH:MM:SS' or 'D-HH:MM:SS'"
    )
    account: str | None = Field(None, description="slurm account")
    qos: str | None = Field(None, description="slurm quality of service")
    mem_gb: float | None = Field(None, gt=0, description="memory per job in GB")
    setup: list[str] = Field(default_factory=list, description="shell lines run before each job (module load, venv activation)")
    sbatch: dict[str, Any] = Field(default_factory=dict, description="further #SBATCH options, e.g. {constraint: a100}")
    folder: str | None = Field(None, description="shared folder for job files and logs (default slurm_jobs/<spec name>)")
    cluster: Literal["slurm", "local"] = Field("slurm", description="'local' runs each job as a subprocess here, to try a setup")

    @field_validator("time_limit", mode="before")
    @classmethod
    def _time_limit(cls, v: Any) -> Any:
        return None if v is None else parse_time_limit(v)

    @field_validator("gpus_per_stage")
    @classmethod
    def _whole_gpus(cls, v: float) -> float:
        if v != int(v):
            raise ValueError(f"SLURM allocates whole GPUs; {v:g} is a fraction (use ray to share a GPU)")
        return v


def slurm_parameters(options: SlurmOptions) -> dict[str, Any]:
    """submitit's ``SlurmExecutor`` parameters (the job script's #SBATCH lines) for ``options``."""
    params: dict[str, Any] = {
        "job_name": "redundancy",  # scancel --name redundancy stops a grid's jobs
        "time": options.time_limit,
        "cpus_per_task": max(1, int(math.ceil(options.cpus_per_stage))),
        "ntasks_per_node": 1,
    }
    if options.gpus_per_stage:
        params["gpus_per_node"] = int(options.gpus_per_stage)
    for key in ("partition", "account", "qos"):
        if getattr(options, key):
            params[key] = getattr(options, key)
    if options.mem_gb:
        params["mem"] = f"{int(math.ceil(options.mem_gb))}G"
    if options.setup:
        params["setup"] = list(options.setup)
    if options.sbatch:
        params["additional_parameters"] = dict(options.sbatch)
    return params


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise RedundancyError(f"--executor slurm needs submitit, which is not installed: {SLURM_INSTALL}") from None
    return submitit


class SlurmExecutor(Executor):
    kind = "slurm"
    Options = SlurmOptions
    retries_in_driver = True
    chain_studies = True

    @classmethod
    def check(cls, options: Any) -> None:
        if options.cluster == "slurm" and options.time_limit is None:
            raise RedundancyError(
                "the slurm executor needs a time limit per job (a grid point's train stage and its studies): "
                "--time-limit MINUTES or executor.time_limit in the spec"
            )

    def __init__(self, options: SlurmOptions, folder: Path | None = None, *, spec_name: str = ""):
        super().__init__(options, spec_name=spec_name)
        self.options: SlurmOptions = options
        submitit = _import_submitit()
        self._utils = submitit.core.utils
        if folder is None:
            folder = Path(options.folder) if options.folder else Path("slurm_jobs") / (spec_name or "redundancy")
        self.folder = folder
        gpus = int(options.gpus_per_stage)
        if options.cluster == "local":
            folder.mkdir(parents=True, exist_ok=True)
            self._executor = submitit.LocalExecutor(folder=str(folder))
            self._executor.update_parameters(timeout_min=options.time_limit or 7 * 24 * 60, gpus_per_node=gpus)
        else:
            missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
            if missing:
                raise RedundancyError(
                    f"the slurm executor submits with sbatch and srun; {' and '.join(missing)} not on this machine's PATH. "
                    "Run on the cluster's login node (or set executor.cluster: local to try the same path here)"
                )
            self.prefetch_data = True
            folder.mkdir(parents=True, exist_ok=True)
            self._executor = submitit.SlurmExecutor(folder=str(folder))
            try:
                self._executor.update_parameters(**slurm_parameters(options))
            except (ValueError, TypeError) as exc:
                raise RedundancyError(f"slurm executor options: {exc}") from None

    def describe(self) -> str:
        if self.options.cluster == "local":
            return f"submitit local subprocesses ({self.folder})"
        return f"slurm partition {self.options.partition or '(default)'} ({self.folder})"

    def capacity(self) -> int | None:
        if self.options.max_in_flight is not None:
            return self.options.max_in_flight
        if self.options.cluster == "local":
            return max(1, int((os.cpu_count() or 1) // self.options.cpus_per_stage))
        return None

    def submit(self, job: StageJob, shared: Any = None) -> Any:
        try:
            return self._executor.submit(run_job, job, shared)
        except self._utils.FailedSubmissionError as exc:
            raise RedundancyError(f"sbatch refused the job for {job.stages[0].id}: {short_error(exc)}") from None

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            done = [h for h in handles if h.done()]
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def result(self, handle: Any) -> list[StageOutcome]:
        try:
            outcomes: list[StageOutcome] = handle.result()
        except self._utils.FailedJobError as exc:
            raise StageCrashed(short_error(exc)) from None
        except self._utils.UncompletedJobError:
            raise StageLost(f"job {handle.job_id} ended without a result (state {handle.state}; log {handle.paths.stderr})") from None
        # The pickles carry the inputs and outputs (checkpoints): gone once stored.
        for path in (handle.paths.submitted_pickle, handle.paths.result_pickle):
            Path(path).unlink(missing_ok=True)
        return outcomes

    def is_running(self, handle: Any) -> bool:
        if self.options.cluster == "local":
            return True
        return str(handle.state).upper() not in {"PENDING", "REQUEUED", "CONFIGURING", "UNKNOWN"}

    def cancel(self, handles: Sequence[Any]) -> None:
        for handle in handles:
            try:
                handle.cancel(check=False)
            except Exception:  # already finished or gone; nothing to cancel
                pass
