"""One panel of the ``pruning`` study: a layer at a checkpoint, its removal orders, their sweep and summary rows.

Tensors are addressed through :mod:`redundancy.store.keys` (``<layer>@<checkpoint>/...``);
the layout is in ``study.py``'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from redundancy.models import LayeredNet
from redundancy.store.keys import LayerAt, panel_row, tensor_path
from redundancy.studies.base import StudyResult
from redundancy.studies.common.orders import frame_potential_along
from redundancy.studies.common.structural import layer_costs, pruned_cost, total_cost
from redundancy.studies.pruning.config import PruningConfig, order_seed
from redundancy.studies.pruning.criteria import CRITERIA, CriterionInput, criterion_of, parse_criterion
from redundancy.studies.pruning.summary import auc_percentile, curve_auc, summary_row


@dataclass(frozen=True)
class Order:
    """One removal order to evaluate: its curve's key, the parts of its tensors' path, its seed index."""

    key: str
    parts: tuple[str, ...]
    seed: int
    order: torch.Tensor


@dataclass
class Panel:
    """A layer at a checkpoint while it is measured: the evaluated levels, every order, and each curve by key."""

    at: LayerAt
    several: bool
    n: int
    levels: list[int]
    plan: list[Order]
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)

    def path(self, *parts: Any) -> str:
        """A tensor of this panel: ``<layer>@<checkpoint>/<parts>``."""
        return tensor_path(self.at, *parts)

    def row(self, key: str) -> str:
        """The summary row of a curve (or ``costs``, ``finetune``): prefixed with the panel when there are several."""
        return panel_row(self.at, key) if self.several else key

    def groups(self) -> Iterator[tuple[str, tuple[str, ...], list[int]]]:
        """(curve key, tensor path parts, indices into ``plan``) of each curve, in the config's order."""
        for key in dict.fromkeys(o.key for o in self.plan):
            rows = [i for i, o in enumerate(self.plan) if o.key == key]
            yield key, self.plan[rows[0]].parts, rows

    @property
    def orders(self) -> list[torch.Tensor]:
        return [o.order for o in self.plan]


def plan_orders(config: PruningConfig, run_seed: int, inp: CriterionInput) -> list[Order]:
    """Every criterion's order (one per seed for a stochastic criterion), as int64 on the CPU."""
    plan: list[Order] = []
    for text in config.criteria:
        name, direction = parse_criterion(text)
        criterion = CRITERIA[name]
        seeds = range(config.seeds) if criterion.stochastic else [0]
        for s in seeds:
            rng = np.random.default_rng(order_seed(config, run_seed, s))
            order = criterion.order(inp, direction or "smallest", rng).to(torch.int64).cpu()
            parts = (name,) if direction is None else (name, direction)
            plan.append(Order(text, parts, s, order))
    return plan


def sweep_curves(panel: Panel, weight: torch.Tensor, acc: torch.Tensor, loss: torch.Tensor, result: StudyResult) -> None:
    """Each curve from the sweep's accuracy and loss (levels × orders), its tensors and its summary row."""
    levels, n = panel.levels, panel.n
    level_idx = torch.as_tensor(levels)
    for key, parts, rows in panel.groups():
        orders = torch.stack([panel.plan[i].order for i in rows])
        fp = torch.stack([frame_potential_along(weight, o)[level_idx] for o in orders]).numpy()
        a, lo = acc[rows].numpy(), loss[rows].numpy()
        curve: dict[str, Any] = {"units_removed": levels, "units": n}
        if criterion_of(key).stochastic:
            curve.update(
                accuracy=a.mean(0).tolist(),
                std=a.std(0).tolist(),
                seeds=a.tolist(),
                loss=lo.mean(0).tolist(),
                frame_potential=fp.mean(0).tolist(),
            )
            tensors = {"order": orders.numpy(), "accuracy": a, "loss": lo, "frame_potential": fp,
                       "accuracy_mean": a.mean(0), "accuracy_std": a.std(0)}
        else:
            curve.update(accuracy=a[0].tolist(), loss=lo[0].tolist(), frame_potential=fp[0].tolist())
            tensors = {"order": orders[0].numpy(), "accuracy": a[0], "loss": lo[0], "frame_potential": fp[0]}
        for name, value in tensors.items():
            result.tensors[panel.path(*parts, name)] = value
        panel.curves[key] = curve
        result.summary[panel.row(key)] = summary_row(levels, curve["accuracy"], n)


def null_percentiles(panel: Panel, result: StudyResult) -> None:
    """The random orders' AUCs are the null: each criterion's AUC as a percentile of it."""
    levels, n = panel.levels, panel.n
    null = next((np.asarray([curve_auc(levels, acc_s, n) for acc_s in curve["seeds"]]) for key, curve in panel.curves.items()
                 if criterion_of(key).stochastic and len(curve.get("seeds", [])) >= 2), None)
    if null is None:
        return
    result.tensors[panel.path("random", "auc")] = null
    for key in panel.curves:
        row = result.summary[panel.row(key)]
        stochastic = criterion_of(key).stochastic  # the null itself: no percentile
        row["auc_percentile"] = None if stochastic else auc_percentile(row["auc"], null)


def costs(panel: Panel, model: LayeredNet, input_shape: Any, result: StudyResult) -> None:
    """Parameters and FLOPs of the structurally smaller network at every level, beside each curve."""
    dense = layer_costs(model, input_shape)
    per_level = [pruned_cost(model, dense, panel.at.layer, k) for k in panel.levels]
    result.tensors[panel.path("params")] = np.asarray([c.params for c in per_level], dtype=np.int64)
    result.tensors[panel.path("flops")] = np.asarray([c.flops for c in per_level], dtype=np.int64)
    for curve in panel.curves.values():
        curve.update(params=[c.params for c in per_level], flops=[c.flops for c in per_level])
    whole = total_cost(dense)
    result.summary[panel.row("costs")] = {
        "params_dense": whole.params, "flops_dense": whole.flops,
        "params_at_max": per_level[-1].params, "flops_at_max": per_level[-1].flops,
    }
