"""The unit-ticket study's typed results: accuracy against the fraction of units kept, per arm.

An arm is a selector (read at a checkpoint for the selectors that read the
trained network) and an init; its 0.1 curve is keyed ``"<selector>[@<checkpoint>]:<init>"``.
Curves have ``x = keep_fraction``; summary rows are either an arm's accuracy per
fraction (``arm`` set) or one fraction's comparison of the best arm with the
``random:reinit`` reference (``keep`` set, e.g. ``"keep 50%"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.keys import split_at_checkpoint
from redundancy.store.results import ACCURACY, Arms, Curve, KindSchema, Metric, Results, Row, is_list, numbers

UNIT_TICKET_KEY = ("arm", "selector", "selected_at", "init", "keep")


def arm_key(label: str, init: str) -> str:
    """``"magnitude_final@best:original"``: an arm's curve and summary key, its selection's label and its init."""
    return f"{label}:{init}"


def _arm_key(name: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    label, _, init = name.rpartition(":")
    selector, ref = split_at_checkpoint(label)
    raw = raw or {}
    selected_at = raw.get("selected_at", ref)
    return {"arm": name, "selector": raw.get("selector", selector), "selected_at": selected_at, "init": raw.get("init", init), "keep": None}


def decode_unit_ticket(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves: list[Curve] = []
    arms: dict[str, Mapping[str, Any]] = {}
    scalars: dict[str, Any] = {}
    if isinstance(curves, Mapping):
        for name, raw in curves.items():
            if name == "dense" and isinstance(raw, Mapping):  # the run's own network, for reference
                scalars.update({f"dense_{k}": v for k, v in raw.items() if not isinstance(v, (list, Mapping))})
                continue
            if not isinstance(raw, Mapping) or not numbers(raw.get("keep_fraction")):
                continue
            arms[str(name)] = raw
            series = {"keep_fraction": raw["keep_fraction"]}
            for k in ("accuracy", "early_stop_accuracy", "params"):
                if numbers(raw.get(k)):
                    series[k] = raw[k]
            for k, target in (("std", "accuracy_std"), ("early_stop_std", "early_stop_accuracy_std")):
                if numbers(raw.get(k)):
                    series[target] = raw[k]
            seeds = {"accuracy": raw["seeds"]} if is_list(raw.get("seeds")) else {}
            out_curves.append(Curve(_arm_key(str(name), raw), "keep_fraction", series, seeds))
    rows: list[Row] = []
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if not isinstance(values, Mapping):
                scalars[str(name)] = values
            elif str(name).startswith("keep "):
                rows.append(Row({"arm": None, "selector": None, "selected_at": None, "init": None, "keep": str(name)}, dict(values)))
            else:
                rows.append(Row(_arm_key(str(name), arms.get(str(name))), dict(values)))
    return Results("unit_ticket", rows, out_curves, scalars)


#: The arm every other arm is compared with: the smaller network trained from a fresh initialization.
REFERENCE = "random:reinit"


def compared_arms(summary: Mapping[str, Any]) -> Arms | None:
    """Each arm's accuracy (mean over the study's seeds) per keep fraction, every arm tested against
    ``random:reinit``. The other ``:reinit`` arms are the same networks as the reference (a fresh
    initialization makes the kept units exchangeable), so they are not tested."""
    values: dict[tuple[str, str], float] = {}
    levels: list[str] = []
    arms: list[str] = []
    for name, row in summary.items():
        if not isinstance(row, Mapping) or str(name).startswith("keep "):
            continue
        for level, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                values[(str(name), str(level))] = float(v)
                if str(level) not in levels:
                    levels.append(str(level))
        arms.append(str(name))
    if REFERENCE not in arms:
        return None
    tested = {a: REFERENCE for a in arms if a != REFERENCE and not a.endswith(":reinit")}
    return Arms(values, tested, tuple(levels)) if tested else None


METRICS = (
    Metric("keep *%", "mean test accuracy over seeds of the smaller network keeping that percentage of units, trained from the arm's initialization", ACCURACY),
    Metric("best", "the arm (selector:init) with the highest mean accuracy at this keep fraction"),
    Metric("accuracy", "mean test accuracy of the best arm", ACCURACY),
    Metric("reference", "the arm the best is compared with: random units, fresh initialization"),
    Metric("reference_accuracy", "mean test accuracy of the reference arm", ACCURACY),
    Metric("margin", "best arm's accuracy minus the reference's", "fraction of test samples"),
    Metric("t", "paired t statistic of best against reference over seeds", "t"),
    Metric("p_value", "two-sided p-value of the paired t-test", "probability"),
    Metric("dense", "test accuracy of the run's dense network", ACCURACY),
    Metric("units", "units kept per pruned layer", "count per layer"),
    Metric("seeds", "seeds per arm", "count"),
)

SCHEMA = KindSchema("unit_ticket", UNIT_TICKET_KEY, decode_unit_ticket, arms=compared_arms, metrics=METRICS)
