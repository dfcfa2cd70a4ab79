"""Training curves of a run: loss and accuracy vs iteration, from its metric series.

Unlike study curves these are datasets of the train stage (the metric series
``iteration``, ``train_loss``, ``val_loss``, ``val_accuracy``, ``test_loss``,
``test_accuracy``), read through the store's reader only when a run is selected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redundancy.store import layout as L
from redundancy.tui.model import Panel, PlotPanel, Series, Table

RUN_FIELDS = (
    L.A_MODEL, L.A_WIDTH, L.A_DATASET, L.A_DATA_SOURCE, L.A_SEED, L.A_ITERATIONS, L.A_BEST_ITERATION,
    L.A_TEST_ACCURACY, L.A_TEST_ACCURACY_AT_BEST, L.A_BEST_VAL_LOSS, L.A_DEVICE,
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
            out.append(PlotPanel(f"{what} vs iteration", "iteration", what, lines, logy_ok=what == "loss"))
    return out
