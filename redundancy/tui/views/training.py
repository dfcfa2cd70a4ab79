"""Training curves of a run: loss and accuracy vs iteration, from ``/metrics/*``.

Unlike study curves these are datasets of the train stage (``/metrics/iteration``,
``train_loss``, ``val_loss``, ``val_accuracy``, ``test_loss``, ``test_accuracy``),
read only when a run is selected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redundancy.tui.model import Panel, PlotPanel, Series, Table

RUN_FIELDS = (
    "model", "width", "dataset", "data_source", "seed", "iterations", "best_iteration",
    "test_accuracy", "test_accuracy_at_best", "best_val_loss", "device",
)


def table(attrs: dict[str, Any]) -> Table:
    """The run's headline numbers, one per row, from its train stage's attributes."""
    return Table(["", "value"], [[key, attrs.get(key)] for key in RUN_FIELDS if key in attrs])


def panels(metrics: dict[str, np.ndarray]) -> list[Panel]:
    """Loss (train, validation, test) and accuracy (validation, test) against iteration."""
    if "iteration" not in metrics:
        return []
    x = [float(v) for v in metrics["iteration"]]
    out: list[Panel] = []
    for what in ("loss", "accuracy"):
        lines = []
        for split in ("train", "val", "test"):
            key = f"{split}_{what}"
            if key in metrics:
                y = [float(v) for v in metrics[key]]
                n = min(len(x), len(y))
                lines.append(Series(key, x[:n], y[:n]))
        if lines:
            out.append(PlotPanel(f"{what} vs iteration", "iteration", what, lines))
    return out
