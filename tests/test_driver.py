"""The one driver: any executor through a registry, events, failures as messages, a throttled index, progress files.

A test executor (``inline``: jobs computed in this process when their result
is asked for, the first ``lose`` of them lost as if their worker died) is
registered in a few lines and runs the tiny spec from the command line.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
from pydantic import Field
from rich.console import Console
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.cli_progress import RunView
from redundancy.engine import drive, make_plan, run_plan
from redundancy.engine import events as ev
from redundancy.engine.executors import EXECUTORS, Executor, ExecutorOptions, LocalOptions, make_executor, resolve_options, spec_executor_options
from redundancy.engine.jobs import StageJob, StageLost, StageOutcome, run_job
from redundancy.errors import RedundancyError
from redundancy.spec.loader import load_spec
from redundancy.store import Store
from support.tiny import tiny_text, write_spec

ENGINE = Path(__file__).resolve().parents[1] / "redundancy" / "engine"
GRID = tiny_text("grid", seeds=[0, 1], iterations=60, checkpoints=[10], tail="studies:\n  - kind: pruning\n    layer: fc1\n    seeds: 1\n")


class InlineOptions(ExecutorOptions):
    kind: Literal["inline"] = "inline"
    lose: int = Field(0, ge=0, description="jobs lost before any is computed")
    max_retries: int = Field(1, ge=0)


class InlineExecutor(Executor):
    kind = "inline"
    Options = InlineOptions
    retries_in_driver = True

    def __init__(self, options: InlineOptions, *, spec_name: str = ""):
        super().__init__(options, spec_name=spec_name)
        self.jobs: dict[int, tuple[StageJob, Any]] = {}
        self.submitted = 0
        self.lost = 0

    def submit(self, job: StageJob, shared: Any = None) -> Any:
        self.submitted += 1
        self.jobs[self.submitted] = (job, shared)
        return self.submitted

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        return list(handles)

    def result(self, handle: Any) -> list[StageOutcome]:
        job, shared = self.jobs.pop(handle)
        if self.lost < self.options.lose:  # type: ignore[attr-defined]
            self.lost += 1
            raise StageLost("worker vanished")
        return run_job(job, shared)


@pytest.fixture
def inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXECUTORS, "inline", InlineExecutor)


def plan_in(folder: Path, text: str = GRID) -> Any:
    return make_plan(load_spec(write_spec(folder, text)))


def test_a_registered_executor_is_validated_and_runs_a_spec(inline: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(GRID + "executor:\n  kind: inline\n  lsoe: 1\n")
    bad = CliRunner().invoke(app, ["validate", "spec.yaml"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "spec.yaml:23:3: executor.lsoe: unknown field 'lsoe'; did you mean 'lose'?" in " ".join(bad.output.split())
    (tmp_path / "spec.yaml").write_text(GRID + "executor:\n  kind: inline\n  lose: 1\n")
    assert CliRunner().invoke(app, ["validate", "spec.yaml"]).exit_code == 0
    result = CliRunner().invoke(app, ["run", "spec.yaml", "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "retry   train seed0" in result.output and "worker vanished" in result.output
    store = Store(tmp_path / "store" / "grid")
    assert len(store.stage_ids()) == 4 and not store.progress_ids()
    # flags the chosen executor has no option for name the executors that have it
    with pytest.raises(RedundancyError, match="--partition applies to --executor slurm, not inline"):
        resolve_options(InlineOptions(), partition="gpu")


def test_unknown_executor_kind_is_one_line_with_its_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(GRID + "executor:\n  kind: kubernetes\n")
    result = CliRunner().invoke(app, ["validate", "spec.yaml"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "spec.yaml:22:9: executor.kind: unknown executor 'kubernetes'; expected 'local', 'ray' or 'slurm'" in " ".join(result.output.split())
    # without kind, the section carries options for whichever executor --executor picks
    (tmp_path / "spec.yaml").write_text(GRID + "executor:\n  cpus_per_stage: 2\n  max_retires: 3\n")
    typo = CliRunner().invoke(app, ["validate", "spec.yaml"])
    assert typo.exit_code == 2 and "executor.max_retires: unknown field 'max_retires'; did you mean 'max_retries'?" in " ".join(typo.output.split())
    (tmp_path / "spec.yaml").write_text(GRID + "executor:\n  cpus_per_stage: 2\n  time_limit: '1:00:00'\n")
    options = spec_executor_options(load_spec(tmp_path / "spec.yaml").spec.executor)
    assert resolve_options(options) == LocalOptions()
    slurm = resolve_options(options, kind="slurm")
    assert slurm.cpus_per_stage == 2 and slurm.time_limit == 60  # type: ignore[attr-defined]


def test_events_progress_file_and_cache(tmp_path: Path) -> None:
    plan = plan_in(tmp_path)
    store = Store(tmp_path / "store")
    seen: list[ev.Event] = []
    progress_at_eval: list[dict[str, Any] | None] = []

    def on_event(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.StageStep) and event.evaluated:
            progress_at_eval.append(store.read_progress(event.stage_id))

    report = run_plan(plan, store, device="cpu", on_event=on_event)
    assert not report.failed and len(report.trained) == 2 and len(report.studied) == 2
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished" and kinds.count("StageQueued") == 4
    assert kinds.count("StageStarted") == 4 and kinds.count("StageDone") == 4
    steps = [e for e in seen if isinstance(e, ev.StageStep) and e.evaluated and e.completed > 0]
    assert steps and all(e.loss is not None and e.accuracy is not None and e.rate for e in steps)
    at_start = [e for e in seen if isinstance(e, ev.StageStep) and e.total > 1 and e.completed == 0]
    assert at_start and all(e.loss is None and e.accuracy is not None for e in at_start)  # no training loss before a step
    assert not any("nan" in e.line() for e in seen if isinstance(e, ev.StageStep))
    # while training, the store holds its curves so far; none is left once stored, and none is ever a stage
    first = progress_at_eval[0]
    assert first is not None and first["total"] == 60 and first["series"]["iteration"] == [0]
    assert progress_at_eval[-1] is not None and len(progress_at_eval[-1]["series"]["val_accuracy"]) >= 3
    assert not store.progress_ids() and len(store.stage_ids()) == 4
    # a second run finds everything cached
    again: list[ev.Event] = []
    report2 = run_plan(plan, store, device="cpu", on_event=again.append)
    assert len(report2.cached) == 4 and [type(e).__name__ for e in again].count("StageCached") == 4
    # a progress file left by a killed run is not a stage and does not stop the stage from counting as done
    store.write_progress(plan.runs[0].id, {"iteration": 20, "series": {}})
    assert store.done(plan.runs[0].id) and plan.runs[0].id in store.progress_ids()


class CountingIndex(Store):
    def __init__(self, root: Path):
        super().__init__(root)
        self.index_writes = 0

    def write_index(self, attrs: dict[str, Any], links: dict[str, str]) -> None:
        self.index_writes += 1
        super().write_index(attrs, links)


def test_index_is_rebuilt_at_start_and_end_not_after_every_stage(tmp_path: Path) -> None:
    plan = plan_in(tmp_path)
    store = CountingIndex(tmp_path / "store")
    executor = make_executor(LocalOptions(), spec_name=plan.spec.name)
    report = drive(plan, store, executor, device="cpu", index_interval=3600)
    assert len(report.trained) + len(report.studied) == 4 and store.index_writes == 2
    index = store.index_attrs()
    assert len(json.loads(index["plan"])) == 4 and json.loads(index["failures"]) == []


def test_an_unexpected_exception_fails_its_stage_with_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import redundancy.engine.jobs as jobs

    real = jobs.execute_train

    def flaky(run: Any, *args: Any, **kwargs: Any) -> Any:
        if run.seed == 1:
            raise ZeroDivisionError("boom")
        return real(run, *args, **kwargs)

    monkeypatch.setattr(jobs, "execute_train", flaky)
    plan = plan_in(tmp_path)
    store = Store(tmp_path / "store")
    report = run_plan(plan, store, device=torch.device("cpu"))
    failed = {f.label: f for f in report.failed}
    assert set(failed) == {"train seed1", "pruning seed1/pruning"}
    assert re.fullmatch(r"ZeroDivisionError: boom \(at test_driver\.py:\d+\)", failed["train seed1"].error)
    assert failed["train seed1"].point == {"seed": 1}
    assert "its run seed1 failed" in failed["pruning seed1/pruning"].error
    assert len(report.trained) == 1 and len(report.studied) == 1 and not store.progress_ids()


def test_run_view_draws_bars_or_log_lines() -> None:
    events = [
        ev.RunStarted(3, 2, "this process"),
        ev.StageCached("a", "train [red]a"),
        ev.StageStarted("b", "train b", 60),
        ev.StageStep("b", "train b", 20, 60, 1000.0, 0.5, 0.75, 0.7),
        ev.StageDone("b", "train b", 1.0),
        ev.StageStarted("c", "pruning b/p"),
        ev.StageStep("c", "pruning b/p", 0.5, 1, message="level 3"),
        ev.StageFailed("c", "pruning b/p", {"seed": 1}, "it broke"),
    ]
    for quiet in (True, False):
        out = io.StringIO()
        with RunView(Console(file=out, width=160, force_terminal=not quiet), quiet=quiet) as view:
            for event in events:
                view(event)
        text = out.getvalue()
        assert "cached  train [red]a (a)" in text  # spec text is shown literally, never as markup
        assert "done    train b (b) in 1.0 s" in text and "FAILED  pruning b/p (c) at grid point {'seed': 1}: it broke" in text
        assert ("train b it 20/60 loss 0.500 val acc 0.750 test acc 0.7000" in text) == quiet


def test_the_engine_never_imports_rich() -> None:
    offenders = [
        f"{path.relative_to(ENGINE)}:{n}"
        for path in sorted(ENGINE.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.match(r"\s*(from|import)\s+rich\b", line)
    ]
    assert not offenders, offenders


def test_the_tui_draws_a_running_training_from_its_progress_file(tmp_path: Path) -> None:
    from redundancy.engine.driver import write_index
    from redundancy.tui import details, source

    plan = plan_in(tmp_path)
    store = Store(tmp_path / "store")
    store.prepare()
    write_index(store, plan, [], torch.device("cpu"))
    run = plan.runs[0]
    listing = source.list_store(store.root)
    group = listing.group(run.label)
    assert group is not None and group.train is not None and group.train.status == "pending"
    assert "pending" in details.run_detail(listing, group).message
    before = source.fingerprint(store.root)
    series = {"iteration": [0, 20, 40], "train_loss": [0.7, 0.5, 0.4], "val_accuracy": [0.5, 0.8, 0.9]}
    store.write_progress(run.id, {"iteration": 40, "total": 60, "pid": 1, "host": "node", "updated": "now", "series": series})
    assert source.fingerprint(store.root) != before  # a polling viewer notices
    listing = source.list_store(store.root)
    detail = details.run_detail(listing, listing.group(run.label))  # type: ignore[arg-type]
    assert "iteration 40 of 60" in detail.message and "node" in detail.message
    assert [p.title for p in detail.panels] == ["loss vs iteration", "accuracy vs iteration"]  # type: ignore[union-attr]
    assert listing.group(run.label).train.status == "pending"  # type: ignore[union-attr]
