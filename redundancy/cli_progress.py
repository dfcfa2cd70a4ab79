"""How ``redundancy run`` shows a run's events: Rich progress bars, or plain log lines with ``--quiet``.

The engine reports plain events (:mod:`redundancy.engine.events`); this module
alone draws them. The live view has one bar per running stage (iterations,
rate, loss and validation accuracy of a training; a study's own progress) and,
for more than one stage to compute, one overall bar with the count and an
estimate of the time left. Finished, cached, failed and retried stages are
logged above the bars. Every text from a spec or a store is shown literally.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from redundancy.engine.events import (
    Event,
    Notice,
    RunStarted,
    StageCached,
    StageDone,
    StageFailed,
    StageResumed,
    StageRetried,
    StageStarted,
    StageStep,
)

STUDY_STEPS = 1000
"""A study's bar counts thousandths (studies report a fraction done)."""

LOGGED = (RunStarted, StageCached, StageResumed, StageDone, StageFailed, StageRetried, Notice)


class RunView:
    """A callback for the driver's events: ``with RunView(console, quiet) as view: drive(..., on_event=view)``."""

    def __init__(self, console: Console, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("{task.description}", markup=False, style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", markup=False),
            TextColumn("{task.fields[stats]}", markup=False),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.overall: TaskID | None = None
        self.stats: dict[str, str] = {}

    def __enter__(self) -> RunView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def log(self, line: str) -> None:
        if line:
            self.progress.console.print(Text(line), soft_wrap=True, highlight=False)

    def __call__(self, event: Event) -> None:
        if self.quiet:
            if isinstance(event, LOGGED) or (isinstance(event, StageStep) and event.evaluated and event.completed > 0):
                self.log(event.line())
            return
        if isinstance(event, LOGGED):
            self.log(event.line())
        if isinstance(event, RunStarted) and event.pending > 1:
            cached = event.total - event.pending
            label = f"all stages ({cached} cached)" if cached else "all stages"
            self.overall = self.progress.add_task(label, total=event.pending, rate="", stats="")
        elif isinstance(event, StageStarted):
            total = event.total if event.total else STUDY_STEPS
            self.tasks[event.stage_id] = self.progress.add_task(event.label, total=total, rate="", stats="")
        elif isinstance(event, StageStep):
            task = self.tasks.get(event.stage_id)
            if task is None:
                return
            if event.total == 1:
                self.progress.update(task, completed=int(STUDY_STEPS * event.completed), stats=event.message)
                return
            if event.evaluated:  # no training loss at iteration 0: only what was measured is shown
                loss = f"loss {event.loss:.3f}" if event.loss is not None else ""
                acc = f"val acc {event.accuracy:.3f}" if event.accuracy is not None else ""
                self.stats[event.stage_id] = " ".join(filter(None, (loss, acc)))
            rate = f"{event.rate:,.0f} it/s" if event.rate is not None else ""
            self.progress.update(task, completed=event.completed, rate=rate, stats=self.stats.get(event.stage_id, ""))
        elif isinstance(event, (StageDone, StageFailed)):
            task = self.tasks.pop(event.stage_id, None)
            if task is not None:
                self.progress.remove_task(task)
            if self.overall is not None:
                self.progress.advance(self.overall)
