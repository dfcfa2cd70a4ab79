"""What a training gives back: each member's metric series, checkpoints and best iteration, or its divergence."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from redundancy.errors import RedundancyError

METRICS = ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy")


@dataclass
class TrainResult:
    """Checkpoints (iteration -> CPU state dict), metric series on the eval axis, best iteration."""

    checkpoints: dict[int, dict[str, torch.Tensor]]
    metrics: dict[str, np.ndarray]
    best_iteration: int
    final_iteration: int
    extra: dict[str, float] = field(default_factory=dict)

    def metric_at(self, name: str, iteration: int) -> float:
        idx = int(np.searchsorted(self.metrics["iteration"], iteration))
        return float(self.metrics[name][idx])


class TrainingDiverged(RedundancyError):
    """The loss became NaN or infinite."""


@dataclass
class Record:
    """One member's metric series, checkpoints and best point, filled as training goes."""

    series: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in ("iteration",) + METRICS})
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    best_loss: float = float("inf")
    best_iteration: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    failure: TrainingDiverged | None = None

    def result(self, final: int) -> TrainResult | TrainingDiverged:
        if self.failure is not None:
            return self.failure
        assert self.best_state is not None
        self.checkpoints.setdefault(self.best_iteration, self.best_state)
        metrics = {k: np.asarray(v, dtype=np.int64 if k == "iteration" else np.float64) for k, v in self.series.items()}
        return TrainResult(self.checkpoints, metrics, self.best_iteration, final)
