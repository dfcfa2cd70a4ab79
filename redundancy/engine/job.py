"""A job and its outcomes: the plain records the driver, the executors and the workers pass around.

The driver makes :class:`StageJob` s, an executor sends them wherever it
computes, :func:`redundancy.engine.jobs.run_job` turns each into
:class:`StageOutcome` s, and the executor hands those back (or says the job was
lost, :class:`StageLost`, or crashed outside its stages, :class:`StageCrashed`).
They import nothing of the computation (training, studies, data), so every side can import
them, and :mod:`redundancy.engine.jobs` re-exports them where the job is run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redundancy.engine.plan import StudyStage, TrainStage
from redundancy.engine.threads import stage_threads
from redundancy.errors import RedundancyError
from redundancy.plugins import raised_at

Stage = TrainStage | StudyStage


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
