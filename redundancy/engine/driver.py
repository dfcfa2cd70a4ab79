"""Run a plan through any executor: the one driver, and the store's one writer.

For every executor (:mod:`redundancy.engine.executors`) the driver does the
same things the same way:

- **Cache**: a stage whose file passes the store's validation
  (:meth:`~redundancy.store.Store.done`) is not computed again; a file that
  fails it is moved aside and its stage recomputed.
- **Groups**: runs that stack (:mod:`redundancy.engine.stacking`) are grouped
  from the whole plan and the device type, never from what is cached, and a
  group is one job on every executor, so the same spec stores the same bits
  whether it runs here, on Ray or on SLURM. On CPU no runs stack.
- **Jobs**: a training job goes out first; a run's studies ride in its job
  (executors with ``chain_studies``) or go out as soon as its training is
  stored, with the checkpoints read back from the store, so a study sees
  exactly what it would see in any other run. Study jobs go before further
  training jobs, so grid points finish one by one.
- **Retries and failures**: a job whose worker died is sent again (by the
  executor, or here for executors with ``retries_in_driver``) up to
  ``max_retries`` times; a stage that raised fails alone with its message
  and grid point, and the studies of a failed run fail with it.
- **Index**: ``index.h5`` is rebuilt when the run starts, at most every
  ``index_interval`` seconds while stages finish, and at the end (also when
  interrupted). Every stage file is complete on its own, so a run killed
  between two rebuilds loses nothing: the next run rebuilds the index.
- **Events**: everything above is reported to ``on_event`` as plain records
  (:mod:`redundancy.engine.events`); the driver never prints.

Workers never write stage files; they return each stage file's content and
the driver writes it (see :mod:`redundancy.engine.jobs`).

:class:`Driver` holds one run's state (what is cached, queued, in flight,
failed) with a method per step; :func:`drive` makes one and runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from redundancy import plugins
from redundancy.engine.codec import load_run
from redundancy.engine.events import (
    EventFn, Notice, RunFinished, RunStarted, StageCached, StageDone, StageFailed, StageQueued, StageResumed, StageRetried, StageStarted, ignore,
)
from redundancy.engine.executors import Executor, LocalExecutor, LocalOptions, make_executor
from redundancy.engine.executors.base import ExecutorOptions
from redundancy.engine.index import default_store_root, describe_plan, write_index
from redundancy.engine.job import Stage, StageCrashed, StageJob, StageLost, StageOutcome, error_text, stage_label, stage_point
from redundancy.engine.plan import Plan, StudyStage, TrainStage
from redundancy.engine.schedule import Schedule
from redundancy.engine.stacking import stacking_support
from redundancy.engine.stages import DataCache, StageFailure
from redundancy.errors import RedundancyError, StoreError, StoreWriteError
from redundancy.spec.schema import RunConfig
from redundancy.store import Store

__all__ = [
    "INDEX_INTERVAL_S", "Driver", "RunReport", "default_store_root", "describe_plan", "drive", "inputs_key", "run_plan",
    "run_with_executor", "write_index",
]

INDEX_INTERVAL_S = 2.0
"""Least time between two rebuilds of the store's index while stages finish (each rebuild writes and fsyncs the whole index)."""


@dataclass
class RunReport:
    """What a run did: stage ids per outcome, and the failures with their grid points."""

    trained: list[str] = field(default_factory=list)
    studied: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[StageFailure] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Flight:
    job: StageJob
    attempts: int
    started: bool = False


def inputs_key(job: StageJob) -> str:
    """What a study job reads: its run's id, or ``<run>+<partner>`` for a study of two runs."""
    first = job.studies[0]
    return first.run.id if first.partner is None else f"{first.run.id}+{first.partner.id}"


class Driver:
    """One run of ``plan`` on ``executor``, this process the store's only writer (see :func:`drive`).

    :meth:`run` goes through the steps in order: the :class:`Schedule` finds the
    cached stages and queues the first jobs, :meth:`announce` and :meth:`prefetch`
    ready the run, then until nothing is left :meth:`dispatch` sends jobs,
    :meth:`collect` takes them back and :meth:`settle` stores their outcomes and
    queues what they unlock; :meth:`write_index` keeps the store's index current.
    """

    def __init__(
        self,
        plan: Plan,
        store: Store,
        executor: Executor,
        *,
        device: str | torch.device = "auto",
        force: bool = False,
        refresh_env: bool = False,
        data_root: str | None = None,
        on_event: EventFn | None = None,
        stacking: Callable[[RunConfig], bool] | None = None,
        index_interval: float = INDEX_INTERVAL_S,
    ):
        self.plan, self.store, self.executor = plan, store, executor
        self.device_name = str(device)
        self.force, self.refresh_env, self.data_root = force, refresh_env, data_root
        self.stacking, self.index_interval = stacking, index_interval
        self.emit: EventFn = on_event or ignore
        self.report = RunReport()
        self.device_type = "cpu"
        self.index_device = torch.device("cpu")
        self.last_index = 0.0
        template = StageJob(
            spec_name=plan.spec.name, device=self.device_name, data_root=data_root,
            store_root=str(store.root.resolve()), plugin_files=tuple(sorted(plugins.beside().items())),
        )
        self.schedule = Schedule(plan, store, template, chain=executor.chain_studies)
        self.failed_runs: set[str] = set()
        self.in_flight: dict[Any, _Flight] = {}
        self.shared: dict[str, Any] = {}  # run id -> its checkpoints, shared by its outstanding study jobs
        self.outstanding: dict[str, int] = {}  # run id -> study jobs of it queued or in flight

    def run(self) -> RunReport:
        """Run the plan's unfinished stages; the report says what was trained, studied, cached and failed."""
        self.executor.bind(self.emit)
        start = time.perf_counter()
        self.device_type = self.executor.device_type(self.device_name)
        self.store.prepare()
        self.index_device = torch.device(self.device_type if self.executor.live_events else "cpu")  # a remote driver computes nothing
        self.write_index()
        self.plan_jobs()
        self.announce()
        self.prefetch()
        try:
            while self.schedule.train_jobs or self.schedule.study_jobs or self.in_flight:
                self.dispatch()
                if not self.executor.live_events:
                    self.report_started()
                self.collect()
        except BaseException:
            self.executor.cancel(list(self.in_flight))
            self.write_index()
            raise
        self.write_index()
        self.store.clean_temporaries()  # a worker killed mid-write (a lost Ray task, say) leaves its temporaries behind
        self.report.seconds = time.perf_counter() - start
        r = self.report
        self.emit(RunFinished(len(r.trained), len(r.studied), len(r.cached), len(r.failed), r.seconds))
        return r

    def write_index(self) -> None:
        """Rebuild the store's index from the plan and the failures so far."""
        write_index(self.store, self.plan, self.report.failed, self.index_device)
        self.last_index = time.monotonic()

    def notice(self, message: str) -> None:
        self.emit(Notice(message))

    def plan_jobs(self) -> None:
        """Find the stored stages and queue jobs for the rest (see :class:`Schedule`)."""
        self.report.cached.extend(self.schedule.find(force=self.force, refresh_env=self.refresh_env, notice=self.notice))
        supported = self.stacking or stacking_support(self.device_type, DataCache(torch.device("cpu"), self.data_root))
        self.schedule.queue_training(supported, force=self.force)

    def announce(self) -> None:
        """Tell the executor what is coming, and the listener every stage: cached or queued."""
        self.executor.prepare([*self.schedule.train_jobs, *self.schedule.study_jobs], self.device_type)
        every, cached = self.schedule.every, self.schedule.cached
        self.emit(RunStarted(len(every), len(every) - len(cached), self.executor.describe()))
        for stage in every:
            if stage.id in cached:
                self.emit(StageCached(stage.id, stage_label(stage)))
            else:
                self.emit(StageQueued(stage.id, stage_label(stage), stage_point(stage)))

    def prefetch(self) -> None:
        """Load each training's data once here first, for executors whose workers may lack the internet
        (only the download into the shared data folder is wanted: the loaded data is dropped)."""
        if not self.executor.prefetch_data:
            return
        cache = DataCache(torch.device("cpu"), self.data_root)
        for job in self.schedule.train_jobs:
            try:
                cache.get(job.train[0].config)
            except Exception:  # noqa: BLE001 - the job meets the same problem when it loads its data, and fails with it as its stage's failure
                pass

    def dispatch(self) -> None:
        """Send queued jobs while the executor has room: study jobs first, so grid points finish one by one."""
        capacity, queued = self.executor.capacity(), self.schedule
        while (queued.study_jobs or queued.train_jobs) and (capacity is None or len(self.in_flight) < capacity):
            if queued.study_jobs:
                self.submit_study(queued.study_jobs.popleft())
            else:
                self.submit(queued.train_jobs.popleft())

    def submit(self, job: StageJob, attempts: int = 0) -> None:
        """Send ``job``; a study job takes its run's checkpoints, read from the store once and shared."""
        inputs = None
        if not job.train:
            run_id = inputs_key(job)
            if run_id not in self.shared:
                first = job.studies[0]
                artifacts = load_run(self.store, first.run.id)
                if first.partner is not None:
                    artifacts = replace(artifacts, partner=load_run(self.store, first.partner.id))
                self.shared[run_id] = self.executor.share(artifacts)
            inputs = self.shared[run_id]
        self.in_flight[self.executor.submit(job, inputs)] = _Flight(job, attempts)

    def submit_study(self, job: StageJob) -> None:
        """Send a study job; one whose run cannot be read back fails with that reason."""
        run_id = inputs_key(job)
        self.outstanding[run_id] = self.outstanding.get(run_id, 0) + 1
        try:
            self.submit(job)
        except StoreWriteError:
            raise
        except (RedundancyError, OSError, KeyError, ValueError) as exc:  # the stored run cannot be read
            self.settle(job, [], f"its run's stage file cannot be read: {error_text(exc)}")

    def report_started(self) -> None:
        """For executors whose jobs report nothing live: a job's stages have started once it runs."""
        for handle, flight in self.in_flight.items():
            if not flight.started and self.executor.is_running(handle):
                flight.started = True
                for stage in flight.job.stages:
                    total = stage.config.train.iterations if isinstance(stage, TrainStage) else None
                    self.emit(StageStarted(stage.id, stage_label(stage), total))

    def collect(self) -> None:
        """Take back the jobs that finished (waiting a little for one); send a lost one again while retries are left."""
        for handle in self.executor.wait(list(self.in_flight), timeout=0.25):
            flight = self.in_flight.pop(handle)
            try:
                outcomes, error = self.executor.result(handle), None
            except StageLost as exc:
                if self.executor.retries_in_driver and flight.attempts < self.executor.max_retries:
                    first = flight.job.stages[0]
                    self.emit(StageRetried(first.id, flight.job.label, flight.attempts + 2, str(exc)))
                    self.submit(flight.job, flight.attempts + 1)
                    continue
                outcomes, error = [], str(exc)
            except StageCrashed as exc:
                outcomes, error = [], f"crashed: {exc}"
            self.settle(flight.job, outcomes, error)

    def settle(self, job: StageJob, outcomes: list[StageOutcome], error: str | None) -> None:
        """Store what succeeded, report what failed; a failed training fails its studies."""
        by_id = {o.stage_id: o for o in outcomes}
        for stage in job.stages:
            outcome = by_id.get(stage.id)
            if isinstance(stage, StudyStage) and any(r.id in self.failed_runs for r in stage.runs):
                self.fail(stage, f"its run {next(r for r in stage.runs if r.id in self.failed_runs).label} failed")
                continue
            message = error or (outcome.error if outcome is not None else "the worker returned no result for it")
            if outcome is None or message is not None:
                self.fail(stage, message or "no result")
                continue
            self.store_outcome(stage, outcome)
        if job.train:
            trained = [run for run in job.stages if isinstance(run, TrainStage)]
            for study, message in self.schedule.after_training(trained, self.failed_runs):
                self.fail(study, message)
        else:
            run_id = inputs_key(job)
            self.outstanding[run_id] -= 1
            if self.outstanding[run_id] == 0:
                self.shared.pop(run_id, None)
        if time.monotonic() - self.last_index >= self.index_interval:
            self.write_index()

    def store_outcome(self, stage: Stage, outcome: StageOutcome) -> None:
        """Write a finished stage's file (this process alone writes the store) and say so."""
        for line in outcome.warnings:
            self.notice(line)
        try:
            self.store.write_stage(stage.id, outcome.attrs, outcome.tensors)
        except StoreWriteError:
            raise
        except StoreError as exc:  # what the stage returned cannot be stored (a tensor without a numeric type)
            self.fail(stage, str(exc))
            return
        if isinstance(stage, TrainStage):
            self.store.drop_resume(stage.id)
            self.store.drop_progress(stage.id)
            self.report.trained.append(stage.id)
            self.schedule.ready.add(stage.id)
        else:
            self.report.studied.append(stage.id)
        live = self.executor.live_events
        if outcome.resumed_from is not None and not live:
            self.emit(StageResumed(stage.id, stage_label(stage), outcome.resumed_from))
        self.emit(StageDone(stage.id, stage_label(stage), outcome.seconds, "" if live else outcome.host, outcome.note))

    def fail(self, stage: Stage, message: str) -> None:
        """Report ``stage`` failed with ``message``; a failed training's progress file goes."""
        self.report.failed.append(StageFailure(stage.id, stage_label(stage), stage_point(stage), message))
        if isinstance(stage, TrainStage):
            self.failed_runs.add(stage.id)
            self.store.drop_progress(stage.id)
        self.emit(StageFailed(stage.id, stage_label(stage), stage_point(stage), message))


def drive(plan: Plan, store: Store, executor: Executor, **options: Any) -> RunReport:
    """Run ``plan``'s unfinished stages on ``executor`` (all of them with ``force``); this process alone writes the store.

    A finished stage computed under another environment (library versions, BLAS, CPU capability:
    :mod:`redundancy.store.environment`) is reused and named in a notice; ``refresh_env`` recomputes
    such stages instead.

    ``stacking(run)`` says whether a run may stack with others equal but for
    their seeds (default :func:`~redundancy.engine.stacking.stacking_support`
    for the device type the executor will compute on: never on CPU). ``options`` are
    :class:`Driver`'s keyword arguments (``device``, ``force``, ``refresh_env``, ``data_root``,
    ``on_event``, ``stacking``, ``index_interval``).
    """
    return Driver(plan, store, executor, **options).run()


def run_plan(
    plan: Plan,
    store: Store,
    *,
    device: str | torch.device = "auto",
    force: bool = False,
    refresh_env: bool = False,
    data_root: str | None = None,
    on_event: EventFn | None = None,
    stacking: Callable[[RunConfig], bool] | None = None,
    workers: int | str = 1,
) -> RunReport:
    """Run ``plan`` on this machine (the ``local`` executor), by default in this process; see :func:`drive`.

    ``workers`` above 1 (or ``"auto"``) runs independent jobs side by side in
    that many worker processes; the stored results are the same.
    """
    executor = LocalExecutor(LocalOptions(workers=workers), spec_name=plan.spec.name)
    try:
        return drive(
            plan, store, executor, device=device, force=force, refresh_env=refresh_env, data_root=data_root, on_event=on_event,
            stacking=stacking,
        )
    finally:
        executor.close()


def run_with_executor(
    plan: Plan,
    store: Store,
    options: ExecutorOptions,
    *,
    device: str = "auto",
    force: bool = False,
    refresh_env: bool = False,
    data_root: str | None = None,
    on_event: EventFn | None = None,
) -> RunReport:
    """Make the executor ``options`` names, run ``plan`` on it, and release it."""
    executor = make_executor(options, spec_name=plan.spec.name)
    try:
        return drive(plan, store, executor, device=device, force=force, refresh_env=refresh_env, data_root=data_root, on_event=on_event)
    finally:
        executor.close()
