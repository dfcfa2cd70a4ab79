"""Run a plan: skip finished stages, execute the rest, write each one as it finishes.

The driver (this module) is the store's one writer. The local executor runs
stages in this process; other executors (``redundancy.engine.executors``) run
the same pure stage functions elsewhere and hand results back here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from redundancy.engine.plan import Plan, StudyStage, TrainStage
from redundancy.engine.resume import store_resume
from redundancy.engine.stages import DataCache, StageFailure, execute_study, execute_train, provenance
from redundancy.engine.stacking import execute_train_group, stack_groups, stacking_support
from redundancy.engine.threads import stage_threads, using_threads
from redundancy.errors import RedundancyError, StoreWriteError
from redundancy.spec.schema import RunConfig
from redundancy.store import Store, to_json
from redundancy.store import layout as L
from redundancy.store.stages import load_run, store_study, store_train
from redundancy.train import TrainingDiverged


@dataclass
class RunReport:
    """What a run did: stage ids per outcome, and the failures with their grid points."""

    trained: list[str] = field(default_factory=list)
    studied: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[StageFailure] = field(default_factory=list)
    seconds: float = 0.0


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


class StageProgress:
    """Rich progress bars (or plain log lines with ``quiet``) for each stage."""

    def __init__(self, console: Console, quiet: bool):
        self.console = console
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
            transient=False,
        )

    def __enter__(self) -> StageProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def log(self, message: str) -> None:
        if self.quiet:
            self.console.print(message, markup=False, highlight=False)
        else:
            self.progress.console.print(message, markup=False, highlight=False)

    def train_callback(self, label: str, total: int) -> Callable[[int, dict[str, float] | None], None]:
        task = self.progress.add_task(f"train {label}", total=total, rate="", stats="")
        start = time.perf_counter()
        state = {"last": 0, "stats": ""}

        def callback(it: int, metrics: dict[str, float] | None) -> None:
            if metrics is not None:
                state["stats"] = f"loss {metrics['train_loss']:.3f} val acc {metrics['val_accuracy']:.3f}"
                if self.quiet and it > 0:
                    self.log(f"train {label} it {it}/{total} {state['stats']} test acc {metrics['test_accuracy']:.4f}")
            if it - int(state["last"]) >= 25 or it == total or metrics is not None:
                elapsed = max(time.perf_counter() - start, 1e-9)
                self.progress.update(task, completed=it, rate=f"{it / elapsed:,.0f} it/s", stats=state["stats"])
                state["last"] = it

        return callback

    def study_callback(self, label: str) -> Callable[[float, str], None]:
        task = self.progress.add_task(label, total=1000, rate="", stats="")

        def callback(fraction: float, message: str) -> None:
            self.progress.update(task, completed=int(1000 * min(max(fraction, 0.0), 1.0)), stats=message)

        return callback


def run_plan(
    plan: Plan,
    store: Store,
    *,
    device: torch.device,
    force: bool = False,
    quiet: bool = False,
    data_root: str | None = None,
    console: Console | None = None,
    stacking: Callable[[RunConfig], bool] | None = None,
) -> RunReport:
    """Execute ``plan`` in this process; finished stages are skipped unless ``force``.

    Every stage computes with its spec's thread count (:mod:`redundancy.engine.threads`).
    Runs train stacked where ``stacking(run)`` says so (by default
    :func:`~redundancy.engine.stacking.stacking_support`: never on CPU), in
    groups formed from the whole plan. A training stage keeps resume states in
    the store and goes on from the last one when it was killed.
    """
    console = console or Console(stderr=True)
    report = RunReport()
    start = time.perf_counter()
    store.prepare()
    data_cache = DataCache(device, data_root)
    spec_name = plan.spec.name
    failed_runs: set[str] = set()
    write_index(store, plan, report.failed, device)

    with StageProgress(console, quiet) as progress:
        for group in stack_groups(plan.runs, stacking or stacking_support(data_cache)):
            todo = [s for s in group if force or not store.done(s.id, progress.log)]
            for stage in group:
                if stage.id not in {s.id for s in todo}:
                    report.cached.append(stage.id)
                    progress.log(f"cached  train {stage.label} ({stage.id})")
            if not todo:
                continue
            if len(group) > 1:
                with using_threads(stage_threads(group[0].config)):
                    failed_runs.update(_train_stacked_group(group, todo, plan, store, data_cache, device, progress, report))
                continue
            (stage,) = group
            began = time.perf_counter()
            if force:
                store.drop_resume(stage.id)
            try:
                with using_threads(stage_threads(stage.config)):
                    data = data_cache.get(stage.config)
                    callback = progress.train_callback(stage.label, stage.config.train.iterations)
                    announce = f"resume  train {stage.label} ({stage.id}) from iteration {{}}"
                    resume = store_resume(store, stage, lambda it: progress.log(announce.format(it)))
                    result = execute_train(stage.config, data, device, callback, resume=resume)
                    store_train(store, stage, result, data, provenance(device), spec_name)
            except StoreWriteError:
                raise
            except RedundancyError as exc:
                _fail(report, progress, stage, exc)
                failed_runs.add(stage.id)
                continue
            store.drop_resume(stage.id)
            report.trained.append(stage.id)
            progress.log(f"done    train {stage.label} ({stage.id}) in {time.perf_counter() - began:.1f} s")
            write_index(store, plan, report.failed, device)

        for study in plan.studies:
            if study.run.id in failed_runs:
                _fail(report, progress, study, RedundancyError(f"its run {study.run.label} failed"))
                continue
            if store.done(study.id, progress.log) and not force:
                report.cached.append(study.id)
                progress.log(f"cached  {study.config.kind} {study.run.label}/{study.name} ({study.id})")
                continue
            began = time.perf_counter()
            try:
                with using_threads(stage_threads(study.run.config)):
                    data = data_cache.get(study.run.config)
                    artifacts = load_run(store, study.run.id)
                    label = f"{study.config.kind} {study.run.label}/{study.name}"
                    result = execute_study(study.config, artifacts, data, device, progress.study_callback(label))
                    store_study(store, study, result, provenance(device), spec_name)
            except StoreWriteError:
                raise
            except (RedundancyError, KeyError, ValueError) as exc:
                _fail(report, progress, study, exc)
                continue
            report.studied.append(study.id)
            progress.log(f"done    {study.config.kind} {study.run.label}/{study.name} ({study.id}) in {time.perf_counter() - began:.1f} s")
            write_index(store, plan, report.failed, device)

    write_index(store, plan, report.failed, device)
    report.seconds = time.perf_counter() - start
    return report


def _train_stacked_group(
    group: list[TrainStage],
    todo: list[TrainStage],
    plan: Plan,
    store: Store,
    data_cache: DataCache,
    device: torch.device,
    progress: StageProgress,
    report: RunReport,
) -> list[str]:
    """Train runs equal but for their seeds as one stacked model; store the ``todo`` ones, each as its own stage.

    The whole group trains even when some of its members are stored already, so
    that a member's result never depends on which others were cached. Returns
    the failed ids.
    """
    first = group[0]
    label = f"{first.label} +{len(group) - 1} stacked"
    began = time.perf_counter()
    try:
        data = data_cache.get(first.config)
        results = execute_train_group([s.config for s in group], data, device, progress.train_callback(label, first.config.train.iterations))
    except RedundancyError as exc:
        for stage in todo:
            _fail(report, progress, stage, exc)
        return [s.id for s in todo]
    failed: list[str] = []
    for stage, result in zip(group, results):
        if stage.id not in {s.id for s in todo}:
            continue
        if isinstance(result, TrainingDiverged):
            _fail(report, progress, stage, result)
            failed.append(stage.id)
            continue
        store_train(store, stage, result, data, provenance(device), plan.spec.name)
        report.trained.append(stage.id)
        progress.log(f"done    train {stage.label} ({stage.id}) in {time.perf_counter() - began:.1f} s, stacked with {len(group) - 1} more")
        write_index(store, plan, report.failed, device)
    return failed


def _fail(report: RunReport, progress: StageProgress, stage: TrainStage | StudyStage, exc: Exception) -> None:
    if isinstance(stage, TrainStage):
        label, point = f"train {stage.label}", stage.point
    else:
        label, point = f"{stage.config.kind} {stage.run.label}/{stage.name}", stage.run.point
    message = str(exc) or type(exc).__name__
    report.failed.append(StageFailure(stage.id, label, point, message))
    progress.log(f"FAILED  {label} ({stage.id}) at grid point {point or '{}'}: {message}")


def describe_plan(plan: Plan, store: Store) -> list[tuple[str, str, str, str]]:
    """(stage id, kind, label, status) rows for ``--dry-run`` (which only reads: a broken stage file stays where it is)."""
    rows = []
    for stage in plan.stages:
        problem = store.stage_problem(stage.id)
        status = "cached" if problem is None else "to run" if problem == "missing" else f"to run (its file {problem})"
        if isinstance(stage, TrainStage):
            rows.append((stage.id, "train", stage.label, status))
        else:
            rows.append((stage.id, stage.config.kind, f"{stage.run.label}/{stage.name}", status))
    return rows


def default_store_root(spec_name: str, store: str | Path | None) -> Path:
    """``--store PATH`` if given, else ``store/<spec name>``."""
    return Path(store) if store is not None else Path("store") / spec_name
