"""The task every executor runs: a job of stages, computed where it is called, its stage files handed back.

A job is a training (one run, or several runs equal but for their seeds trained
stacked as one model), its run's studies, or both chained. :func:`run_job`
computes it in whatever process calls it (this one for the ``local``
executor, a Ray worker, a SLURM job) and returns each stage file's content
(attributes and tensors); the driver alone writes stage files, so a stage file
appears only once its stage has completely succeeded and a worker killed
mid-job leaves no stage behind.

Two small files a worker may write itself when it can reach the store folder
(``store_root``): a training's resume state (so a killed training goes on from
it) and its progress file (so a viewer can draw a running training's curves).
Neither is a stage file; a worker that cannot reach the folder skips both.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from redundancy import plugins
from redundancy.data import DataBundle
from redundancy.engine.codec import artifacts_from, study_attrs, study_tensors, train_attrs, train_tensors
from redundancy.engine.events import Event, Notice, StageResumed, StageStarted, StageStep
from redundancy.engine.job import Stage, StageCrashed, StageJob, StageLost, StageOutcome, error_text, stage_label, stage_point
from redundancy.engine.plan import StudyStage, TrainStage
from redundancy.engine.resume import store_resume
from redundancy.engine.stacking import execute_train_group
from redundancy.engine.stages import DataCache, execute_study, execute_train, provenance, resolve_device
from redundancy.engine.threads import stage_threads, using_threads
from redundancy.errors import RedundancyError
from redundancy.store import Store, now_iso
from redundancy.studies import RunArtifacts
from redundancy.studies.base import ProgressFn
from redundancy.train import Resume, StepCallback, TrainingDiverged, TrainResult

__all__ = [
    "STAGE_FAILURES", "STEP_EVERY_S", "Stage", "StageCrashed", "StageJob", "StageLost", "StageOutcome", "error_text", "run_job",
    "stage_label", "stage_point", "worker_data",
]

STEP_EVERY_S = 0.2
"""Least time between two step events of a running stage (evaluations and the last step always report)."""


#: What a stage's failure may be: any exception, and ``sys.exit`` called by plugin code inside it
#: (a real Ctrl-C, KeyboardInterrupt, still stops the run).
STAGE_FAILURES = (Exception, SystemExit)


# One data cache per worker process: Ray reuses workers, so each loads a dataset once.
_WORKER_DATA: dict[str, DataCache] = {}


def worker_data(device: torch.device, data_root: str | None, caches: dict[str, DataCache] | None = None) -> DataCache:
    """The data cache for ``device`` and ``data_root`` in ``caches`` (by default this process's own)."""
    caches = _WORKER_DATA if caches is None else caches
    key = f"{device}|{data_root}"
    if key not in caches:
        caches[key] = DataCache(device, data_root)
    return caches[key]


# One store object per folder and worker process: it journals the process once (see redundancy.store.files).
_WORKER_STORES: dict[str, Store] = {}


def _reachable_store(root: str | None) -> Store | None:
    """The store for resume states and progress files, when this process can see its folder."""
    if root is None or not Path(root).is_dir():
        return None
    if root not in _WORKER_STORES:
        _WORKER_STORES[root] = Store(root)
    return _WORKER_STORES[root]


def _steps(
    ids: list[str], label: str, total: int, emit: Callable[[Event], None] | None, store: Store | None, stacked: int = 1
) -> StepCallback | None:
    """The training callback: throttled step events, and the progress file at every evaluation."""
    if emit is None and store is None:
        return None
    start = time.perf_counter()
    last = [-1.0]
    series: dict[str, list[float]] = {"iteration": [], "train_loss": [], "val_loss": [], "val_accuracy": [], "test_accuracy": []}

    def callback(it: int, metrics: dict[str, float] | None) -> None:
        now = time.perf_counter()
        if metrics is None and it != total and now - last[0] < STEP_EVERY_S:
            return
        last[0] = now
        rate = it / max(now - start, 1e-9)
        if metrics is not None and store is not None:
            series["iteration"].append(it)
            for key in ("train_loss", "val_loss", "val_accuracy", "test_accuracy"):
                series[key].append(float(metrics.get(key, float("nan"))))
            content = {
                "label": label, "iteration": it, "total": total, "rate": rate, "stacked": stacked,
                "pid": os.getpid(), "host": platform.node(), "updated": now_iso(), "series": series,
            }
            for stage_id in ids:
                store.write_progress(stage_id, content)
        if emit is not None:
            m = {k: v for k, v in (metrics or {}).items() if not (isinstance(v, float) and math.isnan(v))}  # no training loss before the first step
            emit(StageStep(ids[0], label, it, total, rate, m.get("train_loss"), m.get("val_accuracy"), m.get("test_accuracy")))

    return callback


def run_job(
    job: StageJob,
    artifacts: RunArtifacts | None = None,
    emit: Callable[[Event], None] | None = None,
    caches: dict[str, DataCache] | None = None,
) -> list[StageOutcome]:
    """Run ``job``'s stages here and return each stage file's content; never raises for a stage's failure.

    ``artifacts`` are the studied run's checkpoints when the job has no
    training. ``emit`` (in the driver's own process) hears the stages start,
    step and resume; ``caches`` holds its loaded datasets (by default this
    process keeps them for its later jobs). A stage that raises anything comes back with ``error`` set
    (the message for the failures a stage reports, such as a diverged loss;
    type and place for anything else), so one bad stage never takes its job's
    other results with it. A failed training ends the job: its studies need it.
    """
    start = time.perf_counter()
    try:
        place = _place(job, caches)
    except STAGE_FAILURES as exc:
        return [_outcome(stage.id, start, exc) for stage in job.stages]

    outcomes: list[StageOutcome] = []
    results: dict[str, TrainResult] = {}
    if job.train:
        ids = [s.id for s in job.stages if isinstance(s, TrainStage)]
        if emit is not None:
            first = job.train[0]
            emit(StageStarted(ids[0], job.label if len(job.train) > 1 else stage_label(first), first.config.train.iterations))
        try:
            trained = _train(job, ids, place, emit)
        except STAGE_FAILURES as exc:
            return [_outcome(s.id, start, exc) for s in job.stages if isinstance(s, TrainStage)]
        outcomes, results = _train_outcomes(job, trained, start)
    for study in job.studies:
        done = _study(job, study, place, artifacts, results, emit)
        if done is not None:
            outcomes.append(done)
    return outcomes


@dataclass
class _Place:
    """Where a job computes: its device, its data cache and the store folder when reachable."""

    device: torch.device
    cache: DataCache
    store: Store | None


def _place(job: StageJob, caches: dict[str, DataCache] | None) -> _Place:
    """Ready this process for ``job``: its plugins loaded as the driver found them, its device and data."""
    plugins.restore(dict(job.plugin_files))
    device = resolve_device(job.device)
    return _Place(device, worker_data(device, job.data_root, caches), _reachable_store(job.store_root))


def _outcome(stage_id: str, start: float, error: BaseException | None = None) -> StageOutcome:
    """A stage's outcome, timed from ``start``, with ``error`` as its one-line failure."""
    done = StageOutcome(stage_id, host=platform.node(), pid=os.getpid(), seconds=time.perf_counter() - start)
    if error is not None:
        done.error = error_text(error)
    return done


@dataclass
class _Trained:
    """A job's training as it came out: one result (or divergence) per run, and what their stage files record beside it."""

    results: list[TrainResult | TrainingDiverged]
    data: DataBundle
    prov: dict[str, Any]
    resumed: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _train(job: StageJob, ids: list[str], place: _Place, emit: Callable[[Event], None] | None) -> _Trained:
    """Train the job's runs (one, or a group stacked as one model); raises what the training raised."""
    first = job.train[0]
    resumed: list[int] = []
    warnings: list[str] = []
    with using_threads(stage_threads(first.config)):
        data = place.cache.get(first.config)
        total = int(first.config.train.iterations or 0)
        if len(job.train) > 1:
            callback = _steps(ids, job.label, total, emit, place.store, len(job.train))
            trained: list[TrainResult | TrainingDiverged] = execute_train_group([s.config for s in job.train], data, place.device, callback)
        else:
            callback = _steps(ids, stage_label(first), total, emit, place.store)
            resume = _resume(first, place.store, emit, resumed, warnings)
            trained = [execute_train(first.config, data, place.device, callback, resume=resume)]
        prov = provenance(place.device)  # inside the block: it records the thread count the stage computed with
    return _Trained(trained, data, prov, resumed, warnings)


def _resume(
    stage: TrainStage, store: Store | None, emit: Callable[[Event], None] | None, resumed: list[int], warnings: list[str]
) -> Resume | None:
    """The training's resume hooks when the store folder is reachable: a resume is noted in ``resumed``
    (and emitted), a warning emitted or, without live events, kept in ``warnings`` for the run's log."""
    if store is None:
        return None

    def announce(iteration: int) -> None:
        resumed.append(iteration)
        if emit is not None:
            emit(StageResumed(stage.id, stage_label(stage), iteration))

    def warn(line: str) -> None:
        if emit is not None:
            emit(Notice(line))
        else:
            warnings.append(line)

    return store_resume(store, stage, announce, warn)


def _train_outcomes(job: StageJob, trained: _Trained, start: float) -> tuple[list[StageOutcome], dict[str, TrainResult]]:
    """The kept runs' outcomes (stage file content, or the error), and their results for the job's studies."""
    outcomes: list[StageOutcome] = []
    results: dict[str, TrainResult] = {}
    for stage, result in zip(job.train, trained.results):
        if job.keep and stage.id not in job.keep:
            continue
        done = _outcome(stage.id, start, result if isinstance(result, Exception) else None)
        if isinstance(result, TrainResult):
            try:
                done.attrs = train_attrs(stage, result, trained.data, trained.prov, job.spec_name)
                done.tensors = train_tensors(result)
                results[stage.id] = result
            except STAGE_FAILURES as exc:
                done = _outcome(stage.id, start, exc)
        done.resumed_from = trained.resumed[0] if trained.resumed else None
        done.warnings = list(trained.warnings)
        if len(job.train) > 1:
            done.note = f"stacked with {len(job.train) - 1} more"
        outcomes.append(done)
    return outcomes, results


def _study(
    job: StageJob,
    study: StudyStage,
    place: _Place,
    artifacts: RunArtifacts | None,
    results: dict[str, TrainResult],
    emit: Callable[[Event], None] | None,
) -> StageOutcome | None:
    """One study's outcome; None when its run trained in this job and failed (the driver reports it with its run)."""
    start = time.perf_counter()
    try:
        if job.train:
            if study.run.id not in results:
                return None
            studied = artifacts_from(study.run.id, study.run.config, results[study.run.id])
        elif artifacts is None:
            raise RedundancyError(f"study {study.name} was sent without its run's checkpoints")
        else:
            studied = artifacts
        label = stage_label(study)
        if emit is not None:
            emit(StageStarted(study.id, label))
        with using_threads(stage_threads(study.run.config)):
            data = place.cache.get(study.run.config)
            result = execute_study(study.config, studied, data, place.device, _study_progress(study.id, label, emit))
            done = _outcome(study.id, start)
            done.attrs = study_attrs(study, result, provenance(place.device), job.spec_name)
        done.tensors = study_tensors(result)
    except STAGE_FAILURES as exc:
        return _outcome(study.id, start, exc)
    return done


def _study_progress(stage_id: str, label: str, emit: Callable[[Event], None] | None) -> ProgressFn | None:
    """A study's progress hook: its fraction done and message as step events (none without live events)."""
    if emit is None:
        return None

    def progress(fraction: float, message: str) -> None:
        emit(StageStep(stage_id, label, min(max(fraction, 0.0), 1.0), 1, message=message))

    return progress
