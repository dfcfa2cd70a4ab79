"""What every study kind provides, and what the engine hands it.

A study kind is one module under ``redundancy/studies/`` that registers a
:class:`StudyKind` in :data:`redundancy.studies.STUDIES`:

- ``config``: its pydantic config class (a :class:`StudyConfig` with ``kind``
  fixed to its name), so specs are validated before anything runs;
- ``run(config, ctx) -> StudyResult``: the compute, a pure function of the
  resolved config and the run's tensors (``ctx``); it never touches the store;
- ``check(config, info) -> [(field path, message)]``: optional semantic checks
  against the resolved run (does the layer exist, is k below the rank ...).

The result's ``tensors`` are written as HDF5 datasets, its ``summary`` and
``curves`` (JSON-able) feed ``redundancy show --json``, the TUI and the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from redundancy.spec.schema import StudyConfig

if TYPE_CHECKING:
    from redundancy.data import DataBundle
    from redundancy.models import LayeredNet
    from redundancy.spec.schema import RunConfig, TrainConfig
    from redundancy.train import TrainResult


@dataclass
class StudyResult:
    """A study's output: tensors to store (``"a/b/c"`` paths), a summary and curves (JSON-able).

    ``results`` is the typed form (:class:`~redundancy.store.results.Results`) when the kind's
    schema is not one the readers know (a plugin's); it is stored beside summary and curves.
    """

    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    results: Any = None


@dataclass
class RunArtifacts:
    """A finished training run as a study sees it: config, checkpoints and metrics (CPU tensors)."""

    run_id: str
    config: RunConfig
    checkpoints: dict[int, dict[str, torch.Tensor]]
    best_iteration: int
    final_iteration: int
    metrics: dict[str, np.ndarray]
    #: The second training stage of a study that pairs two runs (a correspondence study's next seed), else None.
    partner: RunArtifacts | None = None


ProgressFn = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


@dataclass
class StudyContext:
    """Everything a study's compute may use; built by the engine for one run."""

    run: RunArtifacts
    data: DataBundle
    device: torch.device
    progress: ProgressFn = _no_progress

    def checkpoint_iteration(self, ref: str | int) -> int:
        """Resolve ``final``, ``best`` or an iteration to a stored checkpoint iteration."""
        if ref == "final":
            return self.run.final_iteration
        if ref == "best":
            return self.run.best_iteration
        if ref == "init":
            return 0
        it = int(ref)
        if it not in self.run.checkpoints:
            raise KeyError(f"no checkpoint at iteration {it}; stored: {sorted(self.run.checkpoints)}")
        return it

    def state(self, ref: str | int) -> dict[str, torch.Tensor]:
        return self.run.checkpoints[self.checkpoint_iteration(ref)]

    def build_model(self, state: dict[str, torch.Tensor] | None = None) -> LayeredNet:
        """The run's model on the context's device in eval mode, loaded with ``state`` if given."""
        from redundancy.models import build_model

        cfg = self.run.config
        model = build_model(cfg.model, self.data.input_shape, self.data.num_classes, cfg.seed)
        if state is not None:
            model.load_state_dict(state)
        return model.to(self.device).eval()

    def train(
        self,
        train: TrainConfig | None = None,
        *,
        init_state: dict[str, torch.Tensor] | None = None,
        masks: dict[str, torch.Tensor] | None = None,
        seed: int | None = None,
        keep: Sequence[int] = (),
    ) -> TrainResult:
        """Train the run's model again (lottery rounds): from ``init_state``, with weight ``masks``."""
        from redundancy.train import train_model

        cfg = self.run.config
        return train_model(
            cfg.model,
            train or cfg.train,
            self.data,
            seed=cfg.seed if seed is None else seed,
            device=self.device,
            init_state=init_state,
            masks=masks,
            keep=keep,
        )

    def train_many(
        self,
        train: TrainConfig | None,
        inits: Sequence[tuple[dict[str, torch.Tensor] | None, dict[str, torch.Tensor] | None]],
        *,
        keep: Sequence[int] = (),
    ) -> list[TrainResult]:
        """Train several networks of the run's model with the run's seed (same batches for all).

        ``inits`` gives each network's (initial state, weight masks). They train as
        one stacked model where the device makes that pay (``train.stack: auto``),
        else one after another; each result is what :meth:`train` would give it,
        within floating-point tolerance. A diverging network raises its error.
        """
        from redundancy.train import Member, TrainingDiverged, train_members

        cfg = self.run.config
        members = [Member(cfg.seed, init_state, masks) for init_state, masks in inits]
        results = train_members(cfg.model, train or cfg.train, self.data, members, device=self.device, keep=keep)
        for result in results:
            if isinstance(result, TrainingDiverged):
                raise result
        return results  # type: ignore[return-value]


# check(config, info): ``info`` is the spec loader's SpecInfo (the run's layers and checkpoints); the
# loader sits above the studies, so it is not named here.
CheckFn = Callable[[Any, Any], list[tuple[Sequence[str | int], str]]]
RunFn = Callable[[Any, StudyContext], StudyResult]


@dataclass(frozen=True)
class StudyKind:
    name: str
    config: type[StudyConfig]
    run: RunFn
    check: CheckFn | None = None
    description: str = ""
    #: A plugin's :class:`~redundancy.store.results.KindSchema`: its stages then carry typed results
    #: that readers decode without importing the plugin (built-in kinds declare theirs in the registry).
    results: Any = None
