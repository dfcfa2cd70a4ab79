"""The dynamics study's typed results: one curve per layer over training iterations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.results import Curve, KindSchema, Results, Row, is_list


DYNAMICS_KEY = ("layer",)


def decode_dynamics(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves = []
    if isinstance(curves, Mapping):
        for layer, raw in curves.items():
            if isinstance(raw, Mapping) and is_list(raw.get("iteration")):
                out_curves.append(Curve({"layer": str(layer)}, "iteration", {k: v for k, v in raw.items() if is_list(v)}))
    rows, scalars = [], {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if isinstance(values, Mapping):
                rows.append(Row({"layer": str(name)}, dict(values)))
            else:
                scalars[str(name)] = values
    return Results("dynamics", rows, out_curves, scalars)


SCHEMA = KindSchema("dynamics", DYNAMICS_KEY, decode_dynamics)
