"""What a run reports while it runs: plain event records handed to a callback.

The driver (:mod:`redundancy.engine.driver`) and the stages it runs in this
process emit these; whoever started the run decides what to do with them (the
command line draws progress bars or prints log lines, a test collects them).
Each event can say itself as one plain log line (:meth:`Event.line`), so every
consumer prints the same words. The engine never draws anything itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something that happened to a stage (or to the run), for progress views and logs."""

    def line(self) -> str:
        return ""


@dataclass(frozen=True)
class RunStarted(Event):
    """The plan is known: ``total`` stages in all, ``pending`` of them to compute, on ``where``."""

    total: int
    pending: int
    where: str

    def line(self) -> str:
        return f"run     {self.pending} of {self.total} stage(s) to compute on {self.where}"


@dataclass(frozen=True)
class StageQueued(Event):
    stage_id: str
    label: str
    point: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"queued  {self.label} ({self.stage_id})"


@dataclass(frozen=True)
class StageStarted(Event):
    """A stage began computing; ``total`` is its training iterations (None for a study: progress in [0, 1])."""

    stage_id: str
    label: str
    total: int | None = None
    host: str = ""

    def line(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"start   {self.label} ({self.stage_id}){where}"


@dataclass(frozen=True)
class StageResumed(Event):
    """A training stage goes on from its last resume state instead of from the start."""

    stage_id: str
    label: str
    iteration: int

    def line(self) -> str:
        return f"resume  {self.label} ({self.stage_id}) from iteration {self.iteration}"


@dataclass(frozen=True)
class StageStep(Event):
    """Progress inside a running stage: ``completed`` of ``total`` (iterations, or a fraction of 1 for a study).

    ``loss`` and ``accuracy`` (training loss, validation accuracy) are set at a
    training's evaluations, ``test_accuracy`` too; ``rate`` is iterations per
    second; ``message`` is a study's own word on where it is.
    """

    stage_id: str
    label: str
    completed: float
    total: float
    rate: float | None = None
    loss: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    message: str = ""

    @property
    def evaluated(self) -> bool:
        return self.loss is not None or self.accuracy is not None  # iteration 0 has no training loss yet

    def line(self) -> str:
        if self.total == 1:
            return f"{self.label} {100 * self.completed:.0f}% {self.message}".rstrip()
        text = f"{self.label} it {int(self.completed)}/{int(self.total)}"
        if self.loss is not None:
            text += f" loss {self.loss:.3f}"
        if self.accuracy is not None:
            text += f" val acc {self.accuracy:.3f}"
        if self.test_accuracy is not None:
            text += f" test acc {self.test_accuracy:.4f}"
        return text


@dataclass(frozen=True)
class StageDone(Event):
    stage_id: str
    label: str
    seconds: float
    host: str = ""
    note: str = ""

    def line(self) -> str:
        where = f" on {self.host}" if self.host else ""
        note = f", {self.note}" if self.note else ""
        return f"done    {self.label} ({self.stage_id}){where} in {self.seconds:.1f} s{note}"


@dataclass(frozen=True)
class StageCached(Event):
    stage_id: str
    label: str

    def line(self) -> str:
        return f"cached  {self.label} ({self.stage_id})"


@dataclass(frozen=True)
class StageFailed(Event):
    stage_id: str
    label: str
    point: dict[str, Any]
    error: str

    def line(self) -> str:
        return f"FAILED  {self.label} ({self.stage_id}) at grid point {self.point or '{}'}: {self.error}"


@dataclass(frozen=True)
class StageRetried(Event):
    """A job whose worker died is sent again (``attempt`` counts from 1)."""

    stage_id: str
    label: str
    attempt: int
    reason: str

    def line(self) -> str:
        return f"retry   {self.label} ({self.stage_id}) (attempt {self.attempt}): {self.reason}"


@dataclass(frozen=True)
class Notice(Event):
    """A message about the store or the run that is not about one stage's progress (a broken file moved aside)."""

    message: str

    def line(self) -> str:
        return self.message


@dataclass(frozen=True)
class RunFinished(Event):
    trained: int
    studied: int
    cached: int
    failed: int
    seconds: float

    def line(self) -> str:
        return f"finished {self.trained} trained, {self.studied} studies run, {self.cached} cached, {self.failed} failed in {self.seconds:.1f} s"


EventFn = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The callback of a run nobody watches."""
