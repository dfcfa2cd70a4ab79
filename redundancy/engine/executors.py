"""Where stages run: this process, a Ray cluster, or SLURM through submitit.

A stage is a pure function of its resolved config and input tensors
(:func:`run_stage_job`), so it can run anywhere Python and ``redundancy`` are
installed. Workers never open the store: each returns the finished stage file's
content (attributes and tensors, plain Python / numpy / torch objects) and the
driver, :func:`run_distributed` in this process, is the store's one writer. A
stage file therefore appears only once its stage has completely succeeded, a
worker killed mid-task leaves nothing behind, and a driver killed at any moment
leaves every finished stage readable for the next ``redundancy run`` to resume
from. (Letting workers write stage files into a shared folder would save one
network copy per stage but needs a shared file system everywhere, and would put
a second writer into a store whose readers assume one; see docs/scaling.md.)

Executors share one small interface (:class:`Executor`): submit a task, wait
for some to finish, fetch a result. ``local`` runs in this process through
:func:`redundancy.engine.runner.run_plan` (with stacked seeds when the fast
engine allows); ``ray`` and ``slurm`` run through :func:`run_distributed`.
Ray and submitit are optional extras, imported only when asked for.
"""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import time
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from redundancy.engine.plan import Plan, StudyStage, TrainStage
from redundancy.engine.runner import RunReport, write_index
from redundancy.engine.stages import DataCache, StageFailure, execute_study, execute_train, provenance, resolve_device
from redundancy.engine.threads import stage_threads, using_threads
from redundancy.errors import Problem, RedundancyError, SpecError
from redundancy.store import Store
from redundancy.store.stages import artifacts_from, load_run, study_attrs, study_tensors, train_attrs, train_tensors
from redundancy.studies import RunArtifacts

EXECUTOR_KINDS = ("local", "ray", "slurm")
RAY_INSTALL = "pip install 'redundancy[ray]'"
SLURM_INSTALL = "pip install 'redundancy[slurm]'"


# --- options ----------------------------------------------------------------------------------


_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time_limit(value: int | float | str) -> int:
    """A SLURM-style time limit in whole minutes, rounded up (submitit takes minutes).

    Accepts a number of minutes, ``"MM"``, ``"HH:MM"``, ``"HH:MM:SS"``, and with
    days ``"D-HH"``, ``"D-HH:MM"`` or ``"D-HH:MM:SS"``. Unlike sbatch, two
    fields read as hours and minutes: a per-stage limit is rarely under an hour.
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


class ExecutorOptions(BaseModel):
    """Options of the spec's ``executor:`` section and of ``redundancy run``'s executor flags.

    The command line overrides the spec field by field, so a spec can carry the
    cluster's partition and time limit while the user picks the executor.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local", "ray", "slurm"] = Field("local", description="where stages run when --executor is not given")
    address: str | None = Field(None, description="ray: address of an existing cluster ('auto', 'HOST:6379', 'ray://HOST:10001')")
    gpus_per_stage: float = Field(0.0, ge=0, description="GPUs each stage reserves; fractions share a GPU (ray only)")
    cpus_per_stage: float = Field(1.0, gt=0, description="CPU cores each stage reserves (its torch threads are the spec's train.threads, default 1)")
    max_retries: int = Field(3, ge=0, description="re-runs of a stage whose worker died (not of a stage that raised)")
    max_in_flight: int | None = Field(None, ge=1, description="jobs submitted at once (default: what the cluster holds; slurm: all)")
    partition: str | None = Field(None, description="slurm partition")
    time_limit: int | None = Field(
        None, description="slurm time limit per job (a grid point's train stage and its studies): minutes, 'HH:MM:SS' or 'D-HH:MM:SS'"
    )
    account: str | None = Field(None, description="slurm account")
    qos: str | None = Field(None, description="slurm quality of service")
    mem_gb: float | None = Field(None, gt=0, description="slurm memory per job in GB")
    setup: list[str] = Field(default_factory=list, description="slurm: shell lines run before each job (module load, venv activation)")
    sbatch: dict[str, Any] = Field(default_factory=dict, description="slurm: further #SBATCH options, e.g. {constraint: a100}")
    folder: str | None = Field(None, description="slurm: shared folder for job files and logs (default slurm_jobs/<spec name>)")
    cluster: Literal["slurm", "local"] = Field("slurm", description="slurm: 'local' runs each job as a subprocess here, to try a setup")

    @field_validator("time_limit", mode="before")
    @classmethod
    def _time_limit(cls, v: Any) -> Any:
        return None if v is None else parse_time_limit(v)


def _yaml_problems(spec_path: Path, exc: ValidationError) -> list[Problem]:
    from redundancy.spec.loader import pydantic_problems, read_yaml

    _, where = read_yaml(spec_path)
    return pydantic_problems(where, exc, ExecutorOptions, ("executor",))


def spec_executor_options(section: dict[str, Any] | None, spec_path: Path | None = None) -> ExecutorOptions:
    """Validate a spec's ``executor:`` section; problems name the file, line and key."""
    try:
        return ExecutorOptions.model_validate(section or {})
    except ValidationError as exc:
        if spec_path is not None:
            raise SpecError(_yaml_problems(spec_path, exc)) from None
        raise SpecError([Problem("executor", None, None, ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from None


def resolve_options(base: ExecutorOptions, **flags: Any) -> ExecutorOptions:
    """``base`` (from the spec) with the command line's flags that were given (not None) on top.

    A flag that only a remote executor understands is an error with ``local``,
    rather than being silently ignored.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    if "time_limit" in given:
        try:
            given["time_limit"] = parse_time_limit(given["time_limit"])
        except ValueError as exc:
            raise RedundancyError(f"--time-limit: {exc}") from None
    try:
        options = ExecutorOptions.model_validate({**base.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        name = "--executor" if key == "kind" else "--" + key.replace("_", "-") if key else "executor option"
        raise RedundancyError(f"{name}: {first['msg']}; found {first.get('input')!r}") from None
    remote_only = sorted(k for k in given if k not in {"kind"})
    if options.kind == "local" and remote_only:
        flags_text = ", ".join("--" + k.replace("_", "-") for k in remote_only)
        raise RedundancyError(f"{flags_text} applies to --executor ray or slurm, not local")
    if options.kind == "slurm" and options.gpus_per_stage != int(options.gpus_per_stage):
        raise RedundancyError(
            f"SLURM allocates whole GPUs; --gpus-per-stage {options.gpus_per_stage} is a fraction (use ray to share a GPU)"
        )
    if options.kind == "slurm" and options.cluster == "slurm" and options.time_limit is None:
        raise RedundancyError(
            "the slurm executor needs a time limit per job (a grid point's train stage and its studies): "
            "--time-limit MINUTES or executor.time_limit in the spec"
        )
    return options


# --- the task a worker runs -------------------------------------------------------------------


@dataclass(frozen=True)
class StageJob:
    """What one worker call runs: a train stage, studies, or a train stage and then its studies.

    Everything a worker needs besides input tensors: the stages (their resolved
    configs) and where to run them. Executors whose jobs are expensive to start
    (a SLURM job imports torch and waits in a queue) chain a run's studies behind
    its train stage, so one job per grid point runs and the checkpoints never
    travel; Ray runs each stage as its own cheap task.
    """

    train: TrainStage | None
    studies: tuple[StudyStage, ...] = ()
    spec_name: str = ""
    device: str = "auto"
    data_root: str | None = None

    @property
    def stages(self) -> list[TrainStage | StudyStage]:
        return [*([self.train] if self.train is not None else []), *self.studies]

    @property
    def name(self) -> str:
        first = self.stages[0]
        label = first.label if isinstance(first, TrainStage) else f"{first.run.label}/{first.name}"
        more = f" +{len(self.stages) - 1}" if len(self.stages) > 1 else ""
        return f"redundancy {first.id} {label}{more}"


@dataclass
class StageOutcome:
    """A finished stage: its file's attributes and tensors, or the error the stage raised."""

    stage_id: str
    attrs: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    host: str = ""
    pid: int = 0


# One data cache per worker process: Ray reuses workers, so each loads a dataset once.
_WORKER_DATA: dict[str, DataCache] = {}


def _worker_data(device: torch.device, data_root: str | None) -> DataCache:
    key = f"{device}|{data_root}"
    if key not in _WORKER_DATA:
        _WORKER_DATA[key] = DataCache(device, data_root)
    return _WORKER_DATA[key]


def _error_text(exc: Exception) -> str:
    """An exception as one line: the message for the errors a stage reports, type and place for the rest."""
    if isinstance(exc, (RedundancyError, KeyError, ValueError)):
        return str(exc) or type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_stage_job(job: StageJob, artifacts: RunArtifacts | None = None) -> list[StageOutcome]:
    """Run a job's stages where this function is called and return each stage file's content.

    ``artifacts`` are the studied run's checkpoints when the job has no train
    stage. A stage that raises comes back with ``error`` set (the message for
    the failures the local runner reports, such as a diverged loss; type and
    place for anything else), so one bad stage never takes its job's other
    results with it. A failed train stage ends the job: its studies need it.
    """
    outcomes: list[StageOutcome] = []

    def outcome(stage_id: str, start: float, error: Exception | None = None) -> StageOutcome:
        done = StageOutcome(stage_id, host=platform.node(), pid=os.getpid(), seconds=time.perf_counter() - start)
        if error is not None:
            done.error = _error_text(error)
        return done

    start = time.perf_counter()
    try:
        device = resolve_device(job.device)
        cache = _worker_data(device, job.data_root)
    except Exception as exc:
        return [outcome(stage.id, start, exc) for stage in job.stages]

    if job.train is not None:
        stage = job.train
        try:
            with using_threads(stage_threads(stage.config)):
                data = cache.get(stage.config)
                result = execute_train(stage.config, data, device)
                done = outcome(stage.id, start)
                done.attrs = train_attrs(stage, result, data, provenance(device), job.spec_name)
                done.tensors = train_tensors(result)
        except Exception as exc:
            return [outcome(stage.id, start, exc)]
        outcomes.append(done)
        if job.studies:
            artifacts = artifacts_from(stage.id, stage.config, result)
    for study in job.studies:
        start = time.perf_counter()
        try:
            if artifacts is None:
                raise RedundancyError(f"study {study.name} was sent without its run's checkpoints")
            with using_threads(stage_threads(study.run.config)):
                data = cache.get(study.run.config)
                result_s = execute_study(study.config, artifacts, data, device)
                done = outcome(study.id, start)
                done.attrs = study_attrs(study, result_s, provenance(device), job.spec_name)
            done.tensors = study_tensors(result_s)
        except Exception as exc:
            outcomes.append(outcome(study.id, start, exc))
            continue
        outcomes.append(done)
    return outcomes


# --- the executor interface -------------------------------------------------------------------


class StageLost(Exception):
    """The worker running a stage died (killed, preempted, out of memory) before returning."""


class StageCrashed(Exception):
    """A job failed outside its stages (the worker could not unpickle it or import redundancy); re-running would too."""


class Executor(ABC):
    """Runs :class:`StageJob` s somewhere and hands their outcomes back to the driver."""

    name: str = ""
    #: True when the driver must re-submit a lost job itself (Ray retries on its own).
    retries_in_driver: bool = False
    #: True when a run's studies ride in the same job as its train stage (jobs are expensive to start).
    chain_studies: bool = False
    #: True when workers may lack internet: the driver loads each dataset once first (shared data folder).
    prefetch_data: bool = False

    def __init__(self, options: ExecutorOptions):
        self.options = options

    def capacity(self) -> int | None:
        """How many jobs may be in flight at once; None for no limit (the cluster queues them)."""
        return self.options.max_in_flight

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
        """The outcomes of a finished job's stages; raises :class:`StageLost` or :class:`StageCrashed`."""

    def is_running(self, handle: Any) -> bool:
        """Whether a submitted job is running now (False while it waits in the cluster's queue)."""
        return True

    def cancel(self, handles: Sequence[Any]) -> None:
        """Stop jobs whose results will not be collected (the driver is stopping)."""

    def close(self) -> None:
        """Release what the executor started."""

    def describe(self) -> str:
        return self.name


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RedundancyError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise RedundancyError(f"--executor slurm needs submitit, which is not installed: {SLURM_INSTALL}") from None
    return submitit


def _short(exc: BaseException) -> str:
    """The last line of an exception's text: remote tracebacks are long, the cause is at the end."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


class RayExecutor(Executor):
    """Each stage is a Ray task reserving ``cpus_per_stage`` CPUs and ``gpus_per_stage`` GPUs.

    Ray re-runs a task whose worker died up to ``max_retries`` times; a task
    that raised is not re-run. Input checkpoints go into the object store once
    per run and are shared by all of its studies. Uses the Ray instance this
    process is already connected to, else ``address``, else starts a local one.
    """

    name = "ray"
    CAPACITY_REFRESH_S = 5.0

    def __init__(self, options: ExecutorOptions):
        super().__init__(options)
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
                raise RedundancyError(f"cannot start or reach Ray at {where}: {_short(exc)}") from None
            self._started = True
        self._remote = ray.remote(run_stage_job)
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
            raise StageCrashed(_short(exc)) from None
        except exceptions.RayError as exc:
            attempts = self.options.max_retries + 1
            raise StageLost(f"worker lost {attempts} time(s): {type(exc).__name__}: {_short(exc)}") from None
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


def slurm_parameters(options: ExecutorOptions) -> dict[str, Any]:
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


class SubmititExecutor(Executor):
    """Each grid point is one SLURM job submitted through submitit (or, with ``cluster: local``, one subprocess here).

    A job trains its run and then runs the run's studies (``chain_studies``):
    a SLURM job costs a queue wait and a Python start, so one per grid point,
    and the checkpoints stay in the job. submitit sends the job and brings the
    outcomes back as pickles in ``folder``, which must be on a file system the
    compute nodes share. A job that dies without a result (killed, preempted,
    node failure) is submitted again by the driver, at most ``max_retries`` times.
    """

    name = "slurm"
    retries_in_driver = True
    chain_studies = True

    def __init__(self, options: ExecutorOptions, folder: Path):
        super().__init__(options)
        submitit = _import_submitit()
        self._utils = submitit.core.utils
        self.folder = folder
        gpus = int(options.gpus_per_stage)
        if options.cluster == "local":
            self.prefetch_data = False
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
            return self._executor.submit(run_stage_job, job, shared)
        except self._utils.FailedSubmissionError as exc:
            raise RedundancyError(f"sbatch refused the job for {job.stages[0].id}: {_short(exc)}") from None

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
            raise StageCrashed(_short(exc)) from None
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


def make_executor(options: ExecutorOptions, *, spec_name: str) -> Executor:
    """The executor ``options.kind`` names (``local`` runs through the runner, not here)."""
    if options.kind == "ray":
        return RayExecutor(options)
    if options.kind == "slurm":
        folder = Path(options.folder) if options.folder else Path("slurm_jobs") / spec_name
        return SubmititExecutor(options, folder)
    raise RedundancyError(f"unknown executor {options.kind!r} (expected one of: {', '.join(EXECUTOR_KINDS)})")


# --- progress ---------------------------------------------------------------------------------

STATES = ("done", "running", "queued", "failed")


class GridProgress:
    """One live view of the grid: stages done / running / queued / failed, overall and per grid point.

    Finished, failed and retried stages are logged above the view; with
    ``quiet`` there is no view, only those lines (for log files and CI).
    """

    MAX_ROWS = 24

    def __init__(self, plan: Plan, console: Console, quiet: bool, where: str):
        self.console = console
        self.quiet = quiet
        self.where = where
        self.state: dict[str, str] = {}
        self.points: dict[str, list[str]] = {}  # run label -> stage ids (train first)
        for run in plan.runs:
            self.points.setdefault(run.label, []).append(run.id)
        for study in plan.studies:
            self.points.setdefault(study.run.label, []).append(study.id)
        for ids in self.points.values():
            for sid in ids:
                self.state.setdefault(sid, "queued")
        self.start = time.perf_counter()
        self._live: Live | None = None

    def __enter__(self) -> GridProgress:
        if not self.quiet:
            self._live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(*exc)
            self._live = None

    def set(self, stage_id: str, state: str) -> None:
        self.state[stage_id] = state

    def log(self, message: str) -> None:
        console = self._live.console if self._live is not None else self.console
        console.print(message, markup=False, highlight=False, soft_wrap=True)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render())

    def counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for sid in self.state if ids is None else ids:
            s = self.state[sid]
            counts["done" if s == "cached" else s] += 1
        return counts

    def render(self) -> Group:
        c = self.counts()
        total = len(self.state)
        elapsed = time.perf_counter() - self.start
        head = Text.assemble(
            (f"{self.where}  ", "bold"),
            (f"{c['done']}/{total} done", "green"),
            "  ",
            (f"{c['running']} running", "cyan"),
            "  ",
            (f"{c['queued']} queued", "yellow"),
            "  ",
            (f"{c['failed']} failed", "red" if c["failed"] else ""),
            f"  {elapsed:,.0f} s",
        )
        table = Table(show_edge=False, pad_edge=False, box=None)
        for col in ("grid point", "train", "studies done", "running", "queued", "failed"):
            table.add_column(col, justify="left" if col in ("grid point", "train") else "right")
        # Busy points first, then unfinished, then finished: the interesting rows stay on screen.
        position = {label: i for i, label in enumerate(self.points)}

        def order(label: str) -> tuple[int, int]:
            pc = self.counts(self.points[label])
            return (0 if pc["running"] else 1 if pc["queued"] or pc["failed"] else 2, position[label])

        labels = sorted(self.points, key=order)
        for label in labels[: self.MAX_ROWS]:
            ids = self.points[label]
            train, studies = ids[0], ids[1:]
            sc = self.counts(studies)
            table.add_row(
                Text(label), Text(self.state[train]), f"{sc['done']}/{len(studies)}", str(sc["running"]), str(sc["queued"]), str(sc["failed"])
            )
        rows: list[Any] = [head, table]
        if len(labels) > self.MAX_ROWS:
            rows.append(Text(f"... {len(labels) - self.MAX_ROWS} more grid points", style="dim"))
        return Group(*rows)


# --- the driver -------------------------------------------------------------------------------


def _label(stage: TrainStage | StudyStage) -> str:
    if isinstance(stage, TrainStage):
        return f"train {stage.label}"
    return f"{stage.config.kind} {stage.run.label}/{stage.name}"


def _point(stage: TrainStage | StudyStage) -> dict[str, Any]:
    return stage.point if isinstance(stage, TrainStage) else stage.run.point


@dataclass
class _Flight:
    job: StageJob
    attempts: int


def run_distributed(
    plan: Plan,
    store: Store,
    executor: Executor,
    *,
    device: str = "auto",
    force: bool = False,
    quiet: bool = False,
    data_root: str | None = None,
    console: Console | None = None,
    index_interval: float = 2.0,
) -> RunReport:
    """Run ``plan``'s unfinished stages on ``executor``; this process alone writes the store.

    Train stages go out first. A run's studies either ride in its train stage's
    job (``executor.chain_studies``) or go out as soon as its train stage is
    stored, with the checkpoints read back from the store, so a study sees
    exactly what the local executor would give it. Study jobs are sent before
    further train jobs so that grid points finish one by one. ``index.h5`` is
    rebuilt at most every ``index_interval`` seconds and at the end.
    """
    console = console or Console(stderr=True)
    report = RunReport()
    start = time.perf_counter()
    store.prepare()
    driver_device = torch.device("cpu")  # the driver computes nothing; workers record their own device
    write_index(store, plan, report.failed, driver_device)
    last_index = time.monotonic()
    chain = executor.chain_studies
    progress = GridProgress(plan, console, quiet, executor.describe())

    studies_of: dict[str, list[StudyStage]] = {}
    for study in plan.studies:
        studies_of.setdefault(study.run.id, []).append(study)
    seen: set[str] = set()  # stage ids already planned here (two grid points may share a stage)
    train_jobs: deque[StageJob] = deque()
    study_jobs: deque[StageJob] = deque()

    def make_job(train: TrainStage | None, studies: Sequence[StudyStage]) -> StageJob:
        return StageJob(train, tuple(studies), plan.spec.name, device, data_root)

    def missing_studies(run_id: str) -> list[StudyStage]:
        todo = []
        for study in studies_of.get(run_id, []):
            if study.id in seen:
                continue
            seen.add(study.id)
            if store.done(study.id, progress.log) and not force:
                report.cached.append(study.id)
                progress.set(study.id, "cached")
            else:
                todo.append(study)
        return todo

    def queue_studies(run_id: str) -> None:
        todo = missing_studies(run_id)
        if todo and chain:
            study_jobs.append(make_job(None, todo))
        else:
            study_jobs.extend(make_job(None, (s,)) for s in todo)

    def fail(stage: TrainStage | StudyStage, message: str) -> None:
        report.failed.append(StageFailure(stage.id, _label(stage), _point(stage), message))
        progress.set(stage.id, "failed")
        progress.log(f"FAILED  {_label(stage)} ({stage.id}) at grid point {_point(stage) or '{}'}: {message}")

    for run in plan.runs:
        if run.id in seen:
            continue
        seen.add(run.id)
        if store.done(run.id, progress.log) and not force:
            report.cached.append(run.id)
            progress.set(run.id, "cached")
            queue_studies(run.id)
        else:
            train_jobs.append(make_job(run, missing_studies(run.id) if chain else ()))

    if executor.prefetch_data:
        prefetch = DataCache(torch.device("cpu"), data_root)
        for job in train_jobs:
            assert job.train is not None
            prefetch.get(job.train.config)
        del prefetch  # only the download into the shared data folder was wanted

    in_flight: dict[Any, _Flight] = {}
    shared: dict[str, Any] = {}  # run id -> its checkpoints, shared by its outstanding study jobs
    outstanding: dict[str, int] = {}  # run id -> study jobs of it queued or in flight

    def submit(job: StageJob, attempts: int = 0) -> None:
        inputs = None
        if job.train is None:
            run_id = job.studies[0].run.id
            if run_id not in shared:
                shared[run_id] = executor.share(load_run(store, run_id))
            inputs = shared[run_id]
        in_flight[executor.submit(job, inputs)] = _Flight(job, attempts)

    def settle(job: StageJob, outcomes: list[StageOutcome], error: str | None) -> None:
        """Store what succeeded, report what failed; a failed train stage fails its studies."""
        nonlocal last_index
        by_id = {o.stage_id: o for o in outcomes}
        for stage in job.stages:
            outcome = by_id.get(stage.id)
            if isinstance(stage, StudyStage) and stage.run.id in failed_runs:
                fail(stage, f"its run {stage.run.label} failed")
                continue
            message = error or (outcome.error if outcome is not None else "the worker returned no result for it")
            if outcome is None or message is not None:
                fail(stage, message or "no result")
                if isinstance(stage, TrainStage):
                    failed_runs.add(stage.id)
                continue
            store.write_stage(stage.id, outcome.attrs, outcome.tensors)
            progress.set(stage.id, "done")
            where = f" on {outcome.host}" if outcome.host else ""
            progress.log(f"done    {_label(stage)} ({stage.id}){where} in {outcome.seconds:.1f} s")
            (report.trained if isinstance(stage, TrainStage) else report.studied).append(stage.id)
        if job.train is not None and not chain:
            if job.train.id in failed_runs:
                for study in studies_of.get(job.train.id, []):
                    if study.id not in seen:
                        seen.add(study.id)
                        fail(study, f"its run {job.train.label} failed")
            else:
                queue_studies(job.train.id)
        if job.train is None:
            run_id = job.studies[0].run.id
            outstanding[run_id] -= 1
            if outstanding[run_id] == 0:
                shared.pop(run_id, None)
        if time.monotonic() - last_index >= index_interval:
            write_index(store, plan, report.failed, driver_device)
            last_index = time.monotonic()

    failed_runs: set[str] = set()
    try:
        with progress:
            while train_jobs or study_jobs or in_flight:
                capacity = executor.capacity()
                while (study_jobs or train_jobs) and (capacity is None or len(in_flight) < capacity):
                    if study_jobs:
                        job = study_jobs.popleft()
                        run_id = job.studies[0].run.id
                        outstanding[run_id] = outstanding.get(run_id, 0) + 1
                        try:
                            submit(job)
                        except (RedundancyError, KeyError, ValueError) as exc:  # the stored run cannot be read
                            settle(job, [], str(exc))
                    else:
                        submit(train_jobs.popleft())
                for handle, flight in in_flight.items():
                    progress.set(flight.job.stages[0].id, "running" if executor.is_running(handle) else "queued")
                progress.refresh()
                for handle in executor.wait(list(in_flight), timeout=0.25):
                    flight = in_flight.pop(handle)
                    try:
                        outcomes, error = executor.result(handle), None
                    except StageLost as exc:
                        if executor.retries_in_driver and flight.attempts < executor.options.max_retries:
                            progress.log(f"retry   {flight.job.name} (attempt {flight.attempts + 2}): {exc}")
                            submit(flight.job, flight.attempts + 1)
                            continue
                        outcomes, error = [], str(exc)
                    except StageCrashed as exc:
                        outcomes, error = [], f"crashed: {exc}"
                    settle(flight.job, outcomes, error)
    except BaseException:
        executor.cancel(list(in_flight))
        write_index(store, plan, report.failed, driver_device)
        raise
    write_index(store, plan, report.failed, driver_device)
    report.seconds = time.perf_counter() - start
    return report


def run_with_executor(
    plan: Plan,
    store: Store,
    options: ExecutorOptions,
    *,
    device: str = "auto",
    force: bool = False,
    quiet: bool = False,
    data_root: str | None = None,
    console: Console | None = None,
) -> RunReport:
    """Run ``plan`` on the executor ``options`` names: the one entry point of ``redundancy run``."""
    if options.kind == "local":
        from redundancy.engine.runner import run_plan

        return run_plan(plan, store, device=resolve_device(device), force=force, quiet=quiet, data_root=data_root, console=console)
    if device != "auto":
        # Checked on the driver so that a typo fails once, not once per stage; whether the
        # device exists is the workers' business (the driver may have no GPU).
        try:
            torch.device(device)
        except RuntimeError:
            raise RedundancyError(f"--device {device!r} is not a device (expected auto, cpu, cuda or cuda:N)") from None
    executor = make_executor(options, spec_name=plan.spec.name)
    try:
        return run_distributed(plan, store, executor, device=device, force=force, quiet=quiet, data_root=data_root, console=console)
    finally:
        executor.close()
