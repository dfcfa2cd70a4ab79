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

from redundancy.engine.events import Event, Notice, StageResumed, StageStarted, StageStep
from redundancy.engine.plan import StudyStage, TrainStage
from redundancy.engine.resume import store_resume
from redundancy.engine.stages import DataCache, execute_study, execute_train, provenance, resolve_device
from redundancy.engine.stacking import execute_train_group
from redundancy.engine.threads import stage_threads, using_threads
from redundancy.errors import RedundancyError
from redundancy import plugins
from redundancy.plugins import raised_at
from redundancy.store import Store, now_iso
from redundancy.engine.codec import artifacts_from, study_attrs, study_tensors, train_attrs, train_tensors
from redundancy.studies import RunArtifacts
from redundancy.train import StepCallback, TrainingDiverged, TrainResult

Stage = TrainStage | StudyStage

STEP_EVERY_S = 0.2
"""Least time between two step events of a running stage (evaluations and the last step always report)."""


def stage_label(stage: Stage) -> str:
    """How logs and progress views name a stage: ``train <run>`` or ``<kind> <run>/<study>``."""
    if isinstance(stage, TrainStage):
        return f"train {stage.label}"
    return f"{stage.config.kind} {stage.run.label}/{stage.name}"


def stage_point(stage: Stage) -> dict[str, Any]:
    """The grid point a stage belongs to."""
    return stage.point if isinstance(stage, TrainStage) else stage.run.point


@dataclass(frozen=True)
class StageJob:
    """What one executor call runs: a training (``train``: one run, or a stacked group), studies, or both.

    ``keep`` names the trained runs whose results come back (a stacked group
    trains whole even when some members are stored, so that no member's result
    depends on which others were cached); empty means all. ``store_root`` is
    the store folder, absolute, for resume states and progress files.
    ``plugin_files`` are the plugin modules found beside the spec (module -> file), which
    a worker process loads from there as the driver did.
    """

    train: tuple[TrainStage, ...] = ()
    studies: tuple[StudyStage, ...] = ()
    keep: tuple[str, ...] = ()
    spec_name: str = ""
    device: str = "auto"
    data_root: str | None = None
    store_root: str | None = None
    plugin_files: tuple[tuple[str, str], ...] = ()

    @property
    def stages(self) -> list[Stage]:
        """The stages whose outcomes the job returns, in order."""
        kept = [s for s in self.train if not self.keep or s.id in self.keep]
        return [*kept, *self.studies]

    @property
    def label(self) -> str:
        if len(self.train) > 1:
            return f"train {self.train[0].label} +{len(self.train) - 1} stacked"
        stages = self.stages
        more = f" +{len(stages) - 1}" if len(stages) > 1 else ""
        return f"{stage_label(stages[0])}{more}"

    @property
    def threads(self) -> int:
        """The most CPU threads any of the job's stages computes with (each stage's count comes from its spec)."""
        runs = [s.config for s in self.train] + [s.run.config for s in self.studies]
        return max((stage_threads(run) for run in runs), default=1)

    @property
    def name(self) -> str:
        """A worker's title while it runs the job: ``redundancy <first stage id> <label>``."""
        first = self.stages[0]
        return f"redundancy {first.id} {self.label.split(' ', 1)[1]}"


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
    resumed_from: int | None = None
    note: str = ""
    warnings: list[str] = field(default_factory=list)  # lines for the run's log, from a worker that has no live events


class StageLost(Exception):
    """The worker running a job died (killed, preempted, out of memory) before returning."""


class StageCrashed(Exception):
    """A job failed outside its stages (the worker could not unpickle it or import redundancy); re-running would too."""


def error_text(exc: BaseException) -> str:
    """An exception as one line: the message for the errors a stage reports, type and place for the rest."""
    if isinstance(exc, (RedundancyError, KeyError, ValueError)):
        return str(exc) or type(exc).__name__
    if isinstance(exc, SystemExit):  # plugin code (a model's forward, say) that ends the process
        return f"sys.exit({exc.code!r}) was called{raised_at(exc)}"
    return f"{type(exc).__name__}: {exc}{raised_at(exc)}"


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
    outcomes: list[StageOutcome] = []

    def outcome(stage_id: str, start: float, error: BaseException | None = None) -> StageOutcome:
        done = StageOutcome(stage_id, host=platform.node(), pid=os.getpid(), seconds=time.perf_counter() - start)
        if error is not None:
            done.error = error_text(error)
        return done

    start = time.perf_counter()
    try:
        plugins.restore(dict(job.plugin_files))
        device = resolve_device(job.device)
        cache = worker_data(device, job.data_root, caches)
        store = _reachable_store(job.store_root)
    except STAGE_FAILURES as exc:
        return [outcome(stage.id, start, exc) for stage in job.stages]

    results: dict[str, TrainResult] = {}
    if job.train:
        first = job.train[0]
        ids = [s.id for s in job.stages if isinstance(s, TrainStage)]
        if emit is not None:
            emit(StageStarted(ids[0], job.label if len(job.train) > 1 else stage_label(first), first.config.train.iterations))
        resumed: list[int] = []
        warnings: list[str] = []
        try:
            with using_threads(stage_threads(first.config)):
                data = cache.get(first.config)
                total = int(first.config.train.iterations or 0)
                if len(job.train) > 1:
                    callback = _steps(ids, job.label, total, emit, store, len(job.train))
                    trained: list[TrainResult | TrainingDiverged] = execute_train_group([s.config for s in job.train], data, device, callback)
                else:
                    callback = _steps(ids, stage_label(first), total, emit, store)

                    def announce(iteration: int) -> None:
                        resumed.append(iteration)
                        if emit is not None:
                            emit(StageResumed(first.id, stage_label(first), iteration))

                    def warn(line: str) -> None:
                        if emit is not None:
                            emit(Notice(line))
                        else:
                            warnings.append(line)

                    resume = store_resume(store, first, announce, warn) if store is not None else None
                    trained = [execute_train(first.config, data, device, callback, resume=resume)]
                prov = provenance(device)  # inside the block: it records the thread count the stage computed with
        except STAGE_FAILURES as exc:
            return [outcome(s.id, start, exc) for s in job.stages if isinstance(s, TrainStage)]
        for stage, result in zip(job.train, trained):
            if job.keep and stage.id not in job.keep:
                continue
            done = outcome(stage.id, start, result if isinstance(result, Exception) else None)
            if isinstance(result, TrainResult):
                try:
                    done.attrs = train_attrs(stage, result, data, prov, job.spec_name)
                    done.tensors = train_tensors(result)
                    results[stage.id] = result
                except STAGE_FAILURES as exc:
                    done = outcome(stage.id, start, exc)
            done.resumed_from = resumed[0] if resumed else None
            done.warnings = list(warnings)
            if len(job.train) > 1:
                done.note = f"stacked with {len(job.train) - 1} more"
            outcomes.append(done)

    for study in job.studies:
        start = time.perf_counter()
        try:
            if job.train:
                if study.run.id not in results:
                    continue  # its training failed: the driver reports the study with it
                studied = artifacts_from(study.run.id, study.run.config, results[study.run.id])
            elif artifacts is None:
                raise RedundancyError(f"study {study.name} was sent without its run's checkpoints")
            else:
                studied = artifacts
            label = stage_label(study)
            if emit is not None:
                emit(StageStarted(study.id, label))

            def progress(fraction: float, message: str, _id: str = study.id, _label: str = label) -> None:
                if emit is not None:
                    emit(StageStep(_id, _label, min(max(fraction, 0.0), 1.0), 1, message=message))

            with using_threads(stage_threads(study.run.config)):
                data = cache.get(study.run.config)
                result = execute_study(study.config, studied, data, device, progress if emit is not None else None)
                done = outcome(study.id, start)
                done.attrs = study_attrs(study, result, provenance(device), job.spec_name)
            done.tensors = study_tensors(result)
        except STAGE_FAILURES as exc:
            outcomes.append(outcome(study.id, start, exc))
            continue
        outcomes.append(done)
    return outcomes
