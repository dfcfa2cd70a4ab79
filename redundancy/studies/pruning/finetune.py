"""Retraining the ``pruning`` study's pruned networks (seed §2.3): each criterion's network, built
structurally smaller at a few levels, trained for a few iterations; which criterion wins before and after."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from redundancy.models import LayeredNet
from redundancy.spec.schema import ResolvedTrain
from redundancy.studies.base import StudyContext, StudyResult
from redundancy.studies.common.structural import hidden_widths, kept_after, narrow_model_config, shrink_state
from redundancy.studies.pruning.config import FinetuneConfig, PruningConfig
from redundancy.studies.pruning.panel import Panel
from redundancy.studies.pruning.summary import kendall_tau, ranking


def finetune_train(config: FinetuneConfig, run_train: ResolvedTrain) -> ResolvedTrain:
    """The run's resolved training config for fine-tuning: ``iterations`` steps at ``lr`` (no schedule),
    evaluated 20 times, keeping only what the loop always keeps."""
    return run_train.model_copy(
        update={
            "iterations": config.iterations,
            "lr": config.lr if config.lr is not None else run_train.lr,
            "lr_milestones": [],
            "checkpoints": None,
            "eval_interval": max(1, min(1000, config.iterations // 20)),
        }
    )


def finetune_pruned(
    ctx: StudyContext, model: LayeredNet, state: dict[str, torch.Tensor], layer: str, orders: Sequence[torch.Tensor],
    removed: int, train: ResolvedTrain, keep: Sequence[int] = (),
) -> list[Any]:
    """Train the structurally pruned network of each order (``removed`` units of ``layer`` gone) from its
    pruned weights, all with the run's seed (same batches); one stacked model where that pays."""
    from redundancy.train import Member, TrainingDiverged, train_members

    names = model.names
    states = [shrink_state(state, names, {layer: kept_after(order, removed)}) for order in orders]
    widths = hidden_widths(model)
    widths[names.index(layer)] -= removed
    narrow = narrow_model_config(ctx.run.config.model, widths)
    seed = ctx.run.config.seed
    results = train_members(narrow, train, ctx.data, [Member(seed, st, None) for st in states], device=ctx.device, keep=keep)
    for result in results:
        if isinstance(result, TrainingDiverged):
            raise result
    return results


def _store(config: PruningConfig, panel: Panel, removed: int, trained: list[Any], pre: np.ndarray, post: np.ndarray,
           result: StudyResult) -> tuple[dict[str, float], dict[str, float]]:
    """Each curve's accuracy before and after fine-tuning at ``removed`` units, into the curves and tensors;
    returns them by curve key, before and after."""
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    level = f"{removed:06d}"
    for key, parts, rows in panel.groups():
        curve = panel.curves[key]
        curve["pruned_accuracy"].append(float(pre[rows].mean()))
        curve["finetuned_accuracy"].append(float(post[rows].mean()))
        if len(rows) > 1:
            curve.setdefault("finetuned_std", []).append(float(post[rows].std()))
        before[key], after[key] = float(pre[rows].mean()), float(post[rows].mean())
        result.tensors[panel.path(*parts, "finetuned", level, "accuracy")] = post[rows] if len(rows) > 1 else np.float64(post[rows][0])
        result.tensors[panel.path(*parts, "finetuned", level, "pruned_accuracy")] = pre[rows] if len(rows) > 1 else np.float64(pre[rows][0])
        if config.store_weights:  # the fine-tuned smaller network's parameters, (seeds, ...) for random
            finals = [trained[i].checkpoints[trained[i].final_iteration] for i in rows]
            for param in finals[0]:
                values = [f[param].detach().cpu().numpy() for f in finals]
                result.tensors[panel.path(*parts, "finetuned", level, "weights", param)] = np.stack(values) if len(rows) > 1 else values[0]
    return before, after


def finetune_panel(config: PruningConfig, ctx: StudyContext, panel: Panel, model: LayeredNet, state: dict[str, torch.Tensor],
                   result: StudyResult, progress: float) -> None:
    """Fine-tune every order's network at each of ``config.finetune.levels``; the curves, rows and the
    panel's ``finetune`` row (the best criterion before and after, and Kendall's τ between the rankings)."""
    assert config.finetune is not None
    ft_train = finetune_train(config.finetune, ctx.run.config.train)
    metric = "test_accuracy" if config.split == "test" else "val_accuracy"
    n = panel.n
    removed_levels = sorted({int(round(f * n)) for f in config.finetune.levels})
    before: dict[int, dict[str, float]] = {}
    after: dict[int, dict[str, float]] = {}
    for key in panel.curves:
        panel.curves[key].update(finetune_units_removed=removed_levels, pruned_accuracy=[], finetuned_accuracy=[])
    for r in removed_levels:
        ctx.progress(progress, f"{panel.at}: fine-tuning {len(panel.plan)} networks with {r} of {n} units removed")
        trained = finetune_pruned(ctx, model, state, panel.at.layer, panel.orders, r, ft_train)
        pre = np.asarray([t.metric_at(metric, 0) for t in trained])
        post = np.asarray([t.metric_at(metric, t.final_iteration) for t in trained])
        before[r], after[r] = _store(config, panel, r, trained, pre, post, result)
    for key in panel.curves:
        for r, ft_acc in zip(removed_levels, panel.curves[key]["finetuned_accuracy"]):
            result.summary[panel.row(key)][f"ft@{100 * r / n:.0f}%"] = ft_acc
    changes: dict[str, Any] = {}
    for r in removed_levels:
        order_keys = list(before[r])
        changes[f"{100 * r / n:.0f}% removed ({r} units)"] = {
            "best_pruned": ranking(before[r]).split(" ")[0],
            "best_finetuned": ranking(after[r]).split(" ")[0],
            "kendall_tau": kendall_tau([before[r][k] for k in order_keys], [after[r][k] for k in order_keys]),
            "ranking_pruned": ranking(before[r]),
            "ranking_finetuned": ranking(after[r]),
        }
    result.summary[panel.row("finetune")] = changes
