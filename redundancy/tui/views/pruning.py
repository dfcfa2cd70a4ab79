"""View of a ``pruning`` study: accuracy as units are removed, one line per criterion.

Its typed curves (``docs/results.md``) are keyed by layer, checkpoint,
criterion and direction, with ``x = units_removed``. The random baseline is
drawn with its ±std band (``accuracy_std``), as the seed's error bars, so a
criterion above the band is better than chance and one below it does harm.
"""

from __future__ import annotations

from typing import Any

from redundancy.store.keys import LayerAt, tensor_path
from redundancy.store.results import Curve, Results
from redundancy.tui.model import Panel, PlotPanel, Table, TablePanel
from redundancy.tui.views.base import StudyView, curve_panel, line, numbers, screen_table, varying


#: Columns of a criterion's row that say how much can go; a table of their own after the accuracies.
HOW_MUCH = ("removable@", "auc_percentile")


def table(summary: dict[str, Any]) -> Table:
    """One row per criterion: accuracy at fixed fractions removed and the area under the curve,
    the headline number, which stays in view beside the criterion in a narrow terminal. How many
    units can go and the AUC's percentile among random orders are a panel of their own
    (:func:`panels`), so this table keeps a column per number."""
    main = {k: ({c: v for c, v in row.items() if not str(c).startswith(HOW_MUCH)} if isinstance(row, dict) else row)
            for k, row in summary.items()}
    out = screen_table(main, "criterion")
    out.headline = "auc" if "auc" in out.columns[1:] else None
    return out


def how_much_panel(results: Results) -> TablePanel | None:
    """Per criterion: units removable within 1 and 5 points of the unpruned accuracy (count and fraction)
    and the AUC's percentile among the random orders' AUCs."""
    rows = [r for r in results.summary if any(str(c).startswith(HOW_MUCH) for c in r.values)]
    if not rows:
        return None
    fields = [f for f in ("layer", "checkpoint") if len({r.key.get(f) for r in rows}) > 1]
    columns = list(dict.fromkeys(c for r in rows for c in r.values if str(c).startswith(HOW_MUCH)))

    def name(r: Any) -> str:
        crit = str(r.key.get("criterion")) + (f":{r.key['direction']}" if r.key.get("direction") else "")
        return tensor_path(LayerAt(r.key.get("layer"), r.key.get("checkpoint")), crit) if fields else crit

    return TablePanel("how much can go: units removable within 1 / 5 points; AUC percentile among random orders",
                      Table(["criterion", *columns], [[name(r), *(r.values.get(c) for c in columns)] for r in rows]))


def label(curve: Curve, fields: list[str]) -> str:
    """``magnitude:smallest``, with ``fc1@best/`` in front when the study has several layers or checkpoints."""
    k = curve.key
    name = str(k.get("criterion")) + (f":{k['direction']}" if k.get("direction") else "")
    if "layer" in fields or "checkpoint" in fields:
        return tensor_path(LayerAt(k.get("layer"), k.get("checkpoint")), name)
    return name


def panels(results: Results) -> list[Panel]:
    out: list[Panel] = []
    for ykey, title, ylabel in (
        ("accuracy", "test accuracy vs units removed (random: mean ± std)", "accuracy"),
        ("loss", "test loss vs units removed", "loss"),
        ("frame_potential", "frame potential of the remaining units", "FP(Ŵ)"),
    ):
        panel = curve_panel(results.curves, title, ykey, "units removed", ylabel, label=label)
        if panel is not None:
            panel.logy_ok = ykey == "loss"
            out.append(panel)
    # opt-in fine-tuning: accuracy of each criterion's smaller network after retraining, at its own levels
    tuned = [c for c in results.curves if numbers(c.series.get("finetuned_accuracy")) is not None]
    fields = varying(tuned)
    lines = [s for c in tuned if (s := line(label(c, fields) or "finetuned", c, "finetuned_accuracy", x="finetune_units_removed",
                                                std="finetuned_std")) is not None]
    if lines:
        out.append(PlotPanel("test accuracy after fine-tuning vs units removed", "units removed", "accuracy", lines))
    # parameters and FLOPs of the structurally smaller network depend only on how many units are gone
    for ykey, title in (("params", "parameters of the smaller network"), ("flops", "FLOPs of the smaller network (one input)")):
        first = next((c for c in results.curves if numbers(c.series.get(ykey)) is not None), None)
        cost = line(ykey, first, ykey) if first is not None else None
        if cost is not None:
            out.append(PlotPanel(f"{title} vs units removed", "units removed", ykey, [cost]))
    how_much = how_much_panel(results)
    if how_much is not None:
        out.insert(1 if out else 0, how_much)
    return out


VIEW = StudyView("pruning", table, panels, "accuracy vs units removed per criterion, random mean ± std")
