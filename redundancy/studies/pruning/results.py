"""The pruning study's typed results: one curve per (layer, checkpoint, criterion, direction).

Decodes the 0.1 summary (``"fc1@best magnitude:smallest"``) and curves into
records keyed by named fields; ``iteration`` is filled from the stage's
``<layer>@<checkpoint>/iteration`` tensors when the text omits it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from redundancy.store.keys import LayerAt, checkpoint_ref, split_criterion, split_layer_at, split_panel_row, tensor_path
from redundancy.store.results import ACCURACY, Arms, Curve, Key, KindSchema, Metric, Results, Row, is_list


PRUNING_KEY = ("layer", "checkpoint", "iteration", "criterion", "direction", "units")


def _pruning_curve(key: Key, raw: Mapping[str, Any]) -> Curve:
    series: dict[str, list[Any]] = {}
    seeds: dict[str, list[list[Any]]] = {}
    units = key.get("units")
    for name, values in raw.items():
        if name == "seeds" and isinstance(values, list):
            seeds["accuracy"] = values
        elif name == "std" and is_list(values):
            series["accuracy_std"] = values
        elif is_list(values):
            series[name] = values
    removed = series.get("units_removed")
    if removed is not None and isinstance(units, int) and units > 0 and "fraction_removed" not in series:
        series["fraction_removed"] = [None if u is None else u / units for u in removed]
    return Curve(key, "units_removed", series, seeds)


def _is_pruning_panel(tree: Any) -> bool:
    return isinstance(tree, Mapping) and any(isinstance(v, Mapping) and "units_removed" in v for v in tree.values())


def decode_pruning(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    panels: list[tuple[str, Any, Mapping[str, Any]]] = []  # (layer, checkpoint, panel)
    one_panel = _is_pruning_panel(curves)
    if one_panel:
        panels.append((str(config.get("layer", "")), checkpoint_ref(config.get("checkpoint", "")), curves))
    elif isinstance(curves, Mapping):
        for lc, panel in curves.items():
            if _is_pruning_panel(panel):
                layer, ref = split_layer_at(str(lc))
                panels.append((layer, ref, panel))
    out_curves: list[Curve] = []
    keys: dict[tuple[str, Any, str, str | None], Key] = {}
    for layer, ref, panel in panels:
        for name, raw in panel.items():
            if not isinstance(raw, Mapping):
                continue
            criterion, direction = split_criterion(str(name))
            units = raw.get("units") if isinstance(raw.get("units"), int) else None
            key = {"layer": layer, "checkpoint": ref, "iteration": None, "criterion": criterion, "direction": direction, "units": units}
            keys[(layer, ref, criterion, direction)] = key
            out_curves.append(_pruning_curve(key, raw))
    rows: list[Row] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        unpruned = summary.get("accuracy_unpruned") if one_panel else None
        if one_panel and panels:
            layer0, ref0 = panels[0][0], panels[0][1]
        for name, values in summary.items():
            if not isinstance(values, Mapping):
                if not one_panel or name not in ("layer", "checkpoint", "units", "accuracy_unpruned"):
                    scalars[str(name)] = values
                continue
            text = str(name)
            if one_panel:
                layer, ref, crit = layer0, ref0, text
            else:
                lc, crit = split_panel_row(text)
                layer, ref = split_layer_at(lc)
            criterion, direction = split_criterion(crit)
            key = dict(keys.get((layer, ref, criterion, direction)) or
                       {"layer": layer, "checkpoint": ref, "iteration": None, "criterion": criterion, "direction": direction, "units": None})
            vals = dict(values)
            if unpruned is not None and "accuracy_unpruned" not in vals:
                vals["accuracy_unpruned"] = unpruned
            rows.append(Row(key, vals))
    return Results("pruning", rows, out_curves, scalars)


def _with_iterations(results: Results, tensor: Callable[[str], Any]) -> Results:
    """``iteration`` of each (layer, checkpoint) from the study's ``<layer>@<checkpoint>/iteration`` tensor."""
    found: dict[tuple[Any, Any], Any] = {}

    def fill(key: Key) -> Key:
        if key.get("iteration") is not None or key.get("layer") is None:
            return key
        lc = (key["layer"], key.get("checkpoint"))
        if lc not in found:
            value = tensor(tensor_path(LayerAt(*lc), "iteration"))
            found[lc] = int(value) if value is not None and getattr(value, "ndim", 0) == 0 else None
        return key if found[lc] is None else {**key, "iteration": found[lc]}

    return Results(
        results.kind,
        [Row(fill(r.key), r.values) for r in results.summary],
        [Curve(fill(c.key), c.x, c.series, c.seeds) for c in results.curves],
        results.scalars,
        results.schema,
    )


def compared_arms(summary: Mapping[str, Any]) -> Arms | None:
    """Each criterion's ``auc`` tested against the random order's of the same layer and checkpoint
    (the ``random`` row, mean over its seeds). None without a random baseline."""
    values: dict[tuple[str, str], float] = {}
    tested: dict[str, str] = {}
    for name, row in summary.items():
        if not isinstance(row, Mapping) or not isinstance(row.get("auc"), (int, float)) or isinstance(row.get("auc"), bool):
            continue
        values[(str(name), "auc")] = float(row["auc"])
    for arm, _ in values:
        prefix, _, criterion = arm.rpartition(" ")
        reference = f"{prefix} random" if prefix else "random"
        if criterion != "random" and (reference, "auc") in values:
            tested[arm] = reference
    return Arms(values, tested, ("auc",)) if tested else None


METRICS = (
    Metric("layer", "the layer whose units are removed"),
    Metric("checkpoint", "the weights pruned: best (lowest validation loss), final, or an iteration, with its iteration"),
    Metric("units", "units of the layer: rows of a Linear weight, filters of a Conv", "count"),
    Metric("accuracy_unpruned", "test accuracy of the network before any unit is removed", ACCURACY),
    Metric("acc@*%", "test accuracy with that percentage of the layer's units removed in the criterion's order, without retraining (linear between levels; random: mean over seeds)", ACCURACY),
    Metric("auc", "area under accuracy against the fraction of units removed (trapezoids; the mean accuracy over the sweep when max_fraction is 1)", "accuracy × fraction removed, 0–1"),
    Metric("auc_percentile", "where the criterion's auc sits among the random orders' aucs (mid-rank; 50: like random order)", "percent"),
    Metric("removable@*pt", "the most units removable in the criterion's order with accuracy within that many points of the unpruned network", "count"),
    Metric("removable@*pt_fraction", "removable units as a fraction of the layer's units", "fraction, 0–1"),
    Metric("ft@*%", "test accuracy after fine-tuning the network with that percentage of units removed", ACCURACY),
    Metric("params_dense", "parameters of the whole dense network", "count"),
    Metric("flops_dense", "floating-point operations of one forward pass of one input through the dense network (2 per multiply-add)", "FLOPs"),
    Metric("params_at_max", "parameters of the network with the most units removed (built smaller)", "count"),
    Metric("flops_at_max", "FLOPs of one forward pass of one input with the most units removed", "FLOPs"),
    Metric("best_pruned", "the criterion with the highest accuracy right after pruning, before fine-tuning"),
    Metric("best_finetuned", "the criterion with the highest accuracy after fine-tuning"),
    Metric("kendall_tau", "Kendall's τ between the criteria's rankings before and after fine-tuning (1: same order)", "−1 to 1"),
    Metric("ranking_pruned", "criteria from best to worst right after pruning"),
    Metric("ranking_finetuned", "criteria from best to worst after fine-tuning"),
)

SCHEMA = KindSchema("pruning", PRUNING_KEY, decode_pruning, _with_iterations, arms=compared_arms, metrics=METRICS)
