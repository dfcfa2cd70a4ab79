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
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from redundancy.engine.codec import load_run
from redundancy.engine.events import (
    EventFn,
    Notice,
    RunFinished,
    RunStarted,
    StageCached,
    StageDone,
    StageFailed,
    StageQueued,
    StageResumed,
    StageRetried,
    StageStarted,
    ignore,
)
from redundancy.engine.executors import Executor, LocalExecutor, LocalOptions, make_executor
from redundancy.engine.executors.base import ExecutorOptions
from redundancy.engine.job import Stage, StageCrashed, StageJob, StageLost, StageOutcome, error_text, stage_label, stage_point
from redundancy.engine.plan import Plan, StudyStage, TrainStage
from redundancy.engine.stages import DataCache, StageFailure, current_environment, provenance
from redundancy.engine.stacking import stack_groups, stacking_support
from redundancy import plugins
from redundancy.errors import RedundancyError, StoreError, StoreWriteError
from redundancy.spec.schema import RunConfig
from redundancy.store import Store, to_json
from redundancy.store import layout as L

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


# --- the index ------------------------------------------------------------------------------------


def index_links(plan: Plan) -> dict[str, str]:
    links = {L.run_link(r.label): r.id for r in plan.runs}
    links.update({L.study_link(s.run.label, s.name): s.id for s in plan.studies})
    return links


def plan_table(plan: Plan) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in plan.runs:
        rows.append({"id": r.id, "kind": "train", "run": r.label, "name": r.label, "point": r.point})
    for s in plan.studies:
        rows.append({"id": s.id, "kind": s.config.kind, "run": s.run.label, "name": s.name, "point": s.run.point})
    return rows


def write_index(store: Store, plan: Plan, failures: list[StageFailure], device: torch.device) -> None:
    attrs = {
        L.A_SPEC_NAME: plan.spec.name,
        L.A_SPEC_TEXT: plan.spec_text,
        L.A_SPEC_RESOLVED: to_json(plan.spec.model_dump(mode="json")),
        L.A_PLAN: to_json(plan_table(plan)),
        L.A_FAILURES: to_json([f.__dict__ for f in failures]),
        **provenance(device),
    }
    store.write_index(attrs, index_links(plan))


def describe_plan(plan: Plan, store: Store) -> list[tuple[str, str, str, str]]:
    """(stage id, kind, label, status) rows for ``--dry-run`` (which only reads: a broken stage file stays where it is)."""
    rows = []
    # One listing per folder instead of a stat per stage: a 100,000-point grid has 300,000 stages.
    present, stale = _listing(store.stage_dir), _listing(store.stage_dir / L.STALE)
    for stage in plan.stages:
        name = L.stage_file(stage.id)
        problem = "missing" if present is not None and name not in present else store.stage_problem(stage.id)
        status = "cached" if problem is None else "to run" if problem == "missing" else f"to run (its file {problem})"
        if problem is not None and (stale is None or name in stale) and store.stale_reusable(stage.id):
            status = f"cached in {L.STAGES}/{L.STALE}/ (moved back when run)"
        if isinstance(stage, TrainStage):
            rows.append((stage.id, "train", stage.label, status))
        else:
            rows.append((stage.id, stage.config.kind, f"{stage.run.label}/{stage.name}", status))
    return rows


def _listing(folder: Path) -> set[str] | None:
    """Names in ``folder`` (none when it does not exist); None when it cannot be listed (each stage then says why)."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()
    except OSError:
        return None


def default_store_root(spec_name: str, store: str | Path | None) -> Path:
    """``--store PATH`` if given, else ``store/<spec name>``."""
    return Path(store) if store is not None else Path("store") / spec_name


# --- the driver -----------------------------------------------------------------------------------


def _cached_elsewhere(store: Store, cached: Sequence[str], refresh: bool, notice: Callable[[str], None]) -> set[str]:
    """Say which cached stages were computed under another environment than this process's, one
    notice per distinct environment; return them when ``refresh`` asks to recompute them."""
    from redundancy.store.environment import cached_elsewhere_message, describe, differences

    here = current_environment()
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for stage_id in cached:
        other = differences(store.stage_environment(stage_id), here)
        if other:
            groups.setdefault(tuple(sorted(other.items(), key=lambda kv: L.ENVIRONMENT.index(kv[0]))), []).append(stage_id)
    for other, ids in groups.items():
        if refresh:
            notice(f"recomputing {len(ids)} stage{'s' if len(ids) != 1 else ''} cached under {describe(dict(other))} (--refresh-env)")
        else:
            notice(cached_elsewhere_message(len(ids), dict(other)))
    return {stage_id for ids in groups.values() for stage_id in ids} if refresh else set()


@dataclass
class _Flight:
    job: StageJob
    attempts: int
    started: bool = False


def inputs_key(job: StageJob) -> str:
    """What a study job reads: its run's id, or ``<run>+<partner>`` for a study of two runs."""
    first = job.studies[0]
    return first.run.id if first.partner is None else f"{first.run.id}+{first.partner.id}"


def drive(
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
) -> RunReport:
    """Run ``plan``'s unfinished stages on ``executor`` (all of them with ``force``); this process alone writes the store.

    A finished stage computed under another environment (library versions, BLAS, CPU capability:
    :mod:`redundancy.store.environment`) is reused and named in a notice; ``refresh_env`` recomputes
    such stages instead.

    ``stacking(run)`` says whether a run may stack with others equal but for
    their seeds (default :func:`~redundancy.engine.stacking.stacking_support`
    for the device type the executor will compute on: never on CPU).
    """
    emit = on_event or ignore
    executor.bind(emit)
    device_name = str(device)
    report = RunReport()
    start = time.perf_counter()

    def notice(message: str) -> None:
        emit(Notice(message))

    device_type = executor.device_type(device_name)
    store.prepare()
    index_device = torch.device(device_type if executor.live_events else "cpu")  # a remote driver computes nothing
    write_index(store, plan, report.failed, index_device)
    last_index = time.monotonic()

    runs: list[TrainStage] = list({r.id: r for r in plan.runs}.values())  # two grid points may share a stage
    studies_of: dict[str, list[StudyStage]] = {}
    paired_of: dict[str, list[StudyStage]] = {}  # run id -> studies that read it and another run
    for study in {s.id: s for s in plan.studies}.values():
        if study.partner is None:
            studies_of.setdefault(study.run.id, []).append(study)
        else:
            for run in study.runs:
                paired_of.setdefault(run.id, []).append(study)
    paired = list({s.id: s for ss in paired_of.values() for s in ss}.values())
    every: list[Stage] = [*runs, *(s for ss in studies_of.values() for s in ss), *paired]
    cached = {s.id for s in every if not force and store.done(s.id, notice)}
    cached -= _cached_elsewhere(store, [s.id for s in every if s.id in cached], refresh_env, notice)
    ready = {r.id for r in runs if r.id in cached}  # runs whose stage file is written
    queued_pairs: set[str] = set()
    for stage in every:
        if stage.id in cached:
            report.cached.append(stage.id)

    supported = stacking or stacking_support(device_type, DataCache(torch.device("cpu"), data_root))
    chain = executor.chain_studies
    store_root = str(store.root.resolve())
    plugin_files = tuple(sorted(plugins.beside().items()))

    def make_job(train: Sequence[TrainStage], studies: Sequence[StudyStage], keep: Sequence[str] = ()) -> StageJob:
        return StageJob(tuple(train), tuple(studies), tuple(keep), plan.spec.name, device_name, data_root, store_root, plugin_files)

    def pending_studies(run_id: str) -> list[StudyStage]:
        return [s for s in studies_of.get(run_id, []) if s.id not in cached]

    train_jobs: deque[StageJob] = deque()
    study_jobs: deque[StageJob] = deque()

    def queue_studies(run_id: str) -> None:
        todo = pending_studies(run_id)
        if todo and chain:
            study_jobs.append(make_job((), todo))
        else:
            study_jobs.extend(make_job((), (s,)) for s in todo)
        queue_pairs(run_id)

    def queue_pairs(run_id: str) -> None:
        """Queue the studies reading ``run_id`` and another run once both runs are written (one job each)."""
        for study in paired_of.get(run_id, []):
            if study.id in cached or study.id in queued_pairs or not all(r.id in ready for r in study.runs):
                continue
            queued_pairs.add(study.id)
            study_jobs.append(make_job((), (study,)))

    for group in stack_groups(runs, supported):
        todo = [s for s in group if s.id not in cached]
        for stage in group:
            if stage.id in cached:
                queue_studies(stage.id)
        if not todo:
            continue
        for stage in todo:
            if force:
                store.drop_resume(stage.id)
        keep = [s.id for s in todo] if len(todo) < len(group) else []
        chained = [s for stage in todo for s in pending_studies(stage.id)] if chain else []
        train_jobs.append(make_job(group, chained, keep))
    for run in runs:  # pairs of runs that are both stored already
        if run.id in ready:
            queue_pairs(run.id)

    executor.prepare([*train_jobs, *study_jobs], device_type)
    emit(RunStarted(len(every), len(every) - len(cached), executor.describe()))
    for stage in every:
        if stage.id in cached:
            emit(StageCached(stage.id, stage_label(stage)))
        else:
            emit(StageQueued(stage.id, stage_label(stage), stage_point(stage)))

    if executor.prefetch_data:
        prefetch = DataCache(torch.device("cpu"), data_root)
        for job in train_jobs:
            try:
                prefetch.get(job.train[0].config)
            except Exception:  # noqa: BLE001 - the job meets the same problem when it loads its data, and fails with it as its stage's failure
                pass
        del prefetch  # only the download into the shared data folder was wanted

    failed_runs: set[str] = set()
    in_flight: dict[Any, _Flight] = {}
    shared: dict[str, Any] = {}  # run id -> its checkpoints, shared by its outstanding study jobs
    outstanding: dict[str, int] = {}  # run id -> study jobs of it queued or in flight

    def fail(stage: Stage, message: str) -> None:
        report.failed.append(StageFailure(stage.id, stage_label(stage), stage_point(stage), message))
        if isinstance(stage, TrainStage):
            failed_runs.add(stage.id)
            store.drop_progress(stage.id)
        emit(StageFailed(stage.id, stage_label(stage), stage_point(stage), message))

    def submit(job: StageJob, attempts: int = 0) -> None:
        inputs = None
        if not job.train:
            run_id = inputs_key(job)
            if run_id not in shared:
                first = job.studies[0]
                artifacts = load_run(store, first.run.id)
                if first.partner is not None:
                    artifacts = replace(artifacts, partner=load_run(store, first.partner.id))
                shared[run_id] = executor.share(artifacts)
            inputs = shared[run_id]
        in_flight[executor.submit(job, inputs)] = _Flight(job, attempts)

    def store_outcome(stage: Stage, outcome: StageOutcome) -> None:
        for line in outcome.warnings:
            notice(line)
        try:
            store.write_stage(stage.id, outcome.attrs, outcome.tensors)
        except StoreWriteError:
            raise
        except StoreError as exc:  # what the stage returned cannot be stored (a tensor without a numeric type)
            fail(stage, str(exc))
            return
        if isinstance(stage, TrainStage):
            store.drop_resume(stage.id)
            store.drop_progress(stage.id)
            report.trained.append(stage.id)
            ready.add(stage.id)
        else:
            report.studied.append(stage.id)
        if outcome.resumed_from is not None and not executor.live_events:
            emit(StageResumed(stage.id, stage_label(stage), outcome.resumed_from))
        host = "" if executor.live_events else outcome.host
        emit(StageDone(stage.id, stage_label(stage), outcome.seconds, host, outcome.note))

    def settle(job: StageJob, outcomes: list[StageOutcome], error: str | None) -> None:
        """Store what succeeded, report what failed; a failed training fails its studies."""
        nonlocal last_index
        by_id = {o.stage_id: o for o in outcomes}
        for stage in job.stages:
            outcome = by_id.get(stage.id)
            if isinstance(stage, StudyStage) and any(r.id in failed_runs for r in stage.runs):
                fail(stage, f"its run {next(r for r in stage.runs if r.id in failed_runs).label} failed")
                continue
            message = error or (outcome.error if outcome is not None else "the worker returned no result for it")
            if outcome is None or message is not None:
                fail(stage, message or "no result")
                continue
            store_outcome(stage, outcome)
        if job.train and not chain:
            for run in job.stages:
                if not isinstance(run, TrainStage):
                    continue
                if run.id in failed_runs:
                    for study in pending_studies(run.id):
                        fail(study, f"its run {run.label} failed")
                else:
                    queue_studies(run.id)
        if job.train:
            for run in job.stages:
                if not isinstance(run, TrainStage):
                    continue
                if run.id in failed_runs:
                    for study in paired_of.get(run.id, []):
                        if study.id not in cached and study.id not in queued_pairs:
                            queued_pairs.add(study.id)
                            fail(study, f"its run {run.label} failed")
                elif chain:
                    queue_pairs(run.id)  # chained executors queue a run's own studies with its training, never a pair
        if not job.train:
            run_id = inputs_key(job)
            outstanding[run_id] -= 1
            if outstanding[run_id] == 0:
                shared.pop(run_id, None)
        if time.monotonic() - last_index >= index_interval:
            write_index(store, plan, report.failed, index_device)
            last_index = time.monotonic()

    try:
        while train_jobs or study_jobs or in_flight:
            capacity = executor.capacity()
            while (study_jobs or train_jobs) and (capacity is None or len(in_flight) < capacity):
                if study_jobs:
                    job = study_jobs.popleft()
                    run_id = inputs_key(job)
                    outstanding[run_id] = outstanding.get(run_id, 0) + 1
                    try:
                        submit(job)
                    except StoreWriteError:
                        raise
                    except (RedundancyError, OSError, KeyError, ValueError) as exc:  # the stored run cannot be read
                        settle(job, [], f"its run's stage file cannot be read: {error_text(exc)}")
                else:
                    submit(train_jobs.popleft())
            if not executor.live_events:
                for handle, flight in in_flight.items():
                    if not flight.started and executor.is_running(handle):
                        flight.started = True
                        for stage in flight.job.stages:
                            total = stage.config.train.iterations if isinstance(stage, TrainStage) else None
                            emit(StageStarted(stage.id, stage_label(stage), total))
            for handle in executor.wait(list(in_flight), timeout=0.25):
                flight = in_flight.pop(handle)
                try:
                    outcomes, error = executor.result(handle), None
                except StageLost as exc:
                    if executor.retries_in_driver and flight.attempts < executor.max_retries:
                        first = flight.job.stages[0]
                        emit(StageRetried(first.id, flight.job.label, flight.attempts + 2, str(exc)))
                        submit(flight.job, flight.attempts + 1)
                        continue
                    outcomes, error = [], str(exc)
                except StageCrashed as exc:
                    outcomes, error = [], f"crashed: {exc}"
                settle(flight.job, outcomes, error)
    except BaseException:
        executor.cancel(list(in_flight))
        write_index(store, plan, report.failed, index_device)
        raise
    write_index(store, plan, report.failed, index_device)
    store.clean_temporaries()  # a worker killed mid-write (a lost Ray task, say) leaves its temporaries behind
    report.seconds = time.perf_counter() - start
    emit(RunFinished(len(report.trained), len(report.studied), len(report.cached), len(report.failed), report.seconds))
    return report


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
