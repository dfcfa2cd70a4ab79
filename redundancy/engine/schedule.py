"""What a run has to do, in order: the plan's stages sorted, the stored ones found, and jobs queued as they become possible.

A :class:`Schedule` answers the driver's questions about the plan and no more:
which stages are cached (:meth:`Schedule.find`), which jobs train the rest
(:meth:`Schedule.queue_training`: one per group of runs that stack, with the
runs' studies when the executor chains them), and which study jobs a stored or
failed training unlocks (:meth:`Schedule.after_training`). Study jobs go out
before further training jobs, so grid points finish one by one. It sends
nothing and writes nothing: :mod:`redundancy.engine.driver` does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

from redundancy.engine.job import Stage, StageJob
from redundancy.engine.plan import Plan, StudyStage, TrainStage
from redundancy.engine.stacking import stack_groups
from redundancy.engine.stages import current_environment
from redundancy.spec.schema import RunConfig
from redundancy.store import Store
from redundancy.store import layout as L
from redundancy.store.environment import cached_elsewhere_message, describe, differences


class Schedule:
    """The stages of ``plan`` left to run in ``store``, and the queues of jobs that run them.

    Every job is ``template`` (a :class:`StageJob` that says where and how jobs
    compute) with its stages; ``chain`` puts a run's studies in its training's job.
    """

    def __init__(self, plan: Plan, store: Store, template: StageJob, *, chain: bool):
        self.store, self.template, self.chain = store, template, chain
        self.runs: list[TrainStage] = list({r.id: r for r in plan.runs}.values())  # two grid points may share a stage
        self.studies_of: dict[str, list[StudyStage]] = {}
        self.paired_of: dict[str, list[StudyStage]] = {}  # run id -> studies that read it and another run
        for study in {s.id: s for s in plan.studies}.values():
            if study.partner is None:
                self.studies_of.setdefault(study.run.id, []).append(study)
            else:
                for run in study.runs:
                    self.paired_of.setdefault(run.id, []).append(study)
        paired = list({s.id: s for ss in self.paired_of.values() for s in ss}.values())
        self.every: list[Stage] = [*self.runs, *(s for ss in self.studies_of.values() for s in ss), *paired]
        self.cached: set[str] = set()
        self.ready: set[str] = set()  # runs whose stage file is written
        self.queued_pairs: set[str] = set()
        self.train_jobs: deque[StageJob] = deque()
        self.study_jobs: deque[StageJob] = deque()

    def find(self, *, force: bool, refresh_env: bool, notice: Callable[[str], None]) -> list[str]:
        """Find the stages already stored (none with ``force``; those computed under another
        environment are named, and with ``refresh_env`` computed again); return their ids in plan order."""
        self.cached = {s.id for s in self.every if not force and self.store.done(s.id, notice)}
        self.cached -= self._cached_elsewhere([s.id for s in self.every if s.id in self.cached], refresh_env, notice)
        self.ready = {r.id for r in self.runs if r.id in self.cached}
        return [s.id for s in self.every if s.id in self.cached]

    def _cached_elsewhere(self, cached: Sequence[str], refresh: bool, notice: Callable[[str], None]) -> set[str]:
        """Say which cached stages were computed under another environment than this process's, one
        notice per distinct environment; return them when ``refresh`` asks to recompute them."""
        here = current_environment()
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for stage_id in cached:
            other = differences(self.store.stage_environment(stage_id), here)
            if other:
                groups.setdefault(tuple(sorted(other.items(), key=lambda kv: L.ENVIRONMENT.index(kv[0]))), []).append(stage_id)
        for other, ids in groups.items():
            if refresh:
                notice(f"recomputing {len(ids)} stage{'s' if len(ids) != 1 else ''} cached under {describe(dict(other))} (--refresh-env)")
            else:
                notice(cached_elsewhere_message(len(ids), dict(other)))
        return {stage_id for ids in groups.values() for stage_id in ids} if refresh else set()

    def make_job(self, train: Sequence[TrainStage], studies: Sequence[StudyStage], keep: Sequence[str] = ()) -> StageJob:
        return replace(self.template, train=tuple(train), studies=tuple(studies), keep=tuple(keep))

    def queue_training(self, supported: Callable[[RunConfig], bool], *, force: bool) -> None:
        """A job per group of runs to train (a stacked group whole: :mod:`~redundancy.engine.stacking`), with
        their studies when chained; study jobs for the runs already stored. ``force`` drops resume states."""
        for group in stack_groups(self.runs, supported):
            todo = [s for s in group if s.id not in self.cached]
            for stage in group:
                if stage.id in self.cached:
                    self.queue_studies(stage.id)
            if not todo:
                continue
            for stage in todo:
                if force:
                    self.store.drop_resume(stage.id)
            keep = [s.id for s in todo] if len(todo) < len(group) else []
            chained = [s for stage in todo for s in self.pending_studies(stage.id)] if self.chain else []
            self.train_jobs.append(self.make_job(group, chained, keep))
        for run in self.runs:  # pairs of runs that are both stored already
            if run.id in self.ready:
                self.queue_pairs(run.id)

    def pending_studies(self, run_id: str) -> list[StudyStage]:
        return [s for s in self.studies_of.get(run_id, []) if s.id not in self.cached]

    def queue_studies(self, run_id: str) -> None:
        """Queue a stored run's own studies (one job when chained, else one each), then the pairs it completes."""
        todo = self.pending_studies(run_id)
        if todo and self.chain:
            self.study_jobs.append(self.make_job((), todo))
        else:
            self.study_jobs.extend(self.make_job((), (s,)) for s in todo)
        self.queue_pairs(run_id)

    def queue_pairs(self, run_id: str) -> None:
        """Queue the studies reading ``run_id`` and another run once both runs are written (one job each)."""
        for study in self.paired_of.get(run_id, []):
            if study.id in self.cached or study.id in self.queued_pairs or not all(r.id in self.ready for r in study.runs):
                continue
            self.queued_pairs.add(study.id)
            self.study_jobs.append(self.make_job((), (study,)))

    def after_training(self, trained: Sequence[TrainStage], failed: set[str]) -> list[tuple[StudyStage, str]]:
        """Queue what a training job's stored runs unlock; return the studies that fail with the runs in ``failed``.

        Executors that do not chain get each stored run's own studies now; a chaining
        executor had them in the training's job, so only the pairs a run completes are queued.
        """
        failures: list[tuple[StudyStage, str]] = []
        if not self.chain:
            for run in trained:
                if run.id in failed:
                    failures += [(study, f"its run {run.label} failed") for study in self.pending_studies(run.id)]
                else:
                    self.queue_studies(run.id)
        for run in trained:
            if run.id in failed:
                for study in self.paired_of.get(run.id, []):
                    if study.id not in self.cached and study.id not in self.queued_pairs:
                        self.queued_pairs.add(study.id)
                        failures.append((study, f"its run {run.label} failed"))
            elif self.chain:
                self.queue_pairs(run.id)
        return failures
