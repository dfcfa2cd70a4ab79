"""The correspondence study's typed results (plain Python: readers import this, never the compute).

Every record's key names its ``section`` and the fields that place it:

- ``similarity`` (rows and curves): ``pair``, ``layer``, ``matching``; the curve has
  ``x = threshold`` with ``matched_fraction`` and ``null_fraction``.
- ``pruning`` (rows): ``pair``, ``layer``, ``matching``: ``rank_correlation``,
  ``kept_overlap_<removed>`` and ``chance_<removed>``.
- ``path`` (rows and curves): ``pair``, ``alignment`` (``none``, ``weights``,
  ``activations``); the curve has ``x = alpha`` with ``loss`` and ``error``.
- ``stability`` (rows per ``rewind``, curves per ``alignment``): ``x = rewind_iteration``
  with ``loss_barrier`` and ``error_barrier`` (mean over pairs of copies, ``_std``
  beside them, ``seeds.loss_barrier`` per pair).
- ``teacher`` (rows and curves): ``layer``, ``matching``; the curve has
  ``x = teacher_unit`` with ``students`` and ``share``.

Scalar: ``partner``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.results import Curve, KindSchema, Results, Row, is_list, numbers

KEY = ("section", "pair", "layer", "matching", "alignment", "rewind")
ALIGNMENTS = ("none", "weights", "activations")

# section -> the key fields its nested levels name, outermost first
LEVELS: dict[str, tuple[str, ...]] = {
    "similarity": ("pair", "layer", "matching"),
    "pruning": ("pair", "layer", "matching"),
    "path": ("pair", "alignment"),
    "stability": ("rewind", "alignment"),
    "teacher": ("layer", "matching"),
}
CURVE_LEVELS: dict[str, tuple[str, ...]] = {**LEVELS, "stability": ("alignment",)}
X_AXES = {"similarity": "threshold", "path": "alpha", "stability": "rewind_iteration", "teacher": "teacher_unit"}


def _key(section: str, values: dict[str, Any]) -> dict[str, Any]:
    key: dict[str, Any] = dict.fromkeys(KEY)
    key["section"] = section
    for k, v in values.items():
        key[k] = v
    if isinstance(key.get("rewind"), str) and key["rewind"].startswith("rewind "):
        tail = key["rewind"][len("rewind "):]
        key["rewind"] = int(tail) if tail.isdigit() else tail
    return key


def _walk(tree: Any, fields: tuple[str, ...], found: dict[str, Any], out: list[tuple[dict[str, Any], Mapping[str, Any]]]) -> None:
    if not isinstance(tree, Mapping):
        return
    if not fields:
        out.append((found, tree))
        return
    for name, sub in tree.items():
        _walk(sub, fields[1:], {**found, fields[0]: str(name)}, out)


def decode_correspondence(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    rows: list[Row] = []
    out_curves: list[Curve] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        for section, tree in summary.items():
            if not isinstance(tree, Mapping):
                scalars[str(section)] = tree
                continue
            leaves: list[tuple[dict[str, Any], Mapping[str, Any]]] = []
            _walk(tree, LEVELS.get(str(section), ("pair",)), {}, leaves)
            for found, cells in leaves:
                rows.append(Row(_key(str(section), found), {k: v for k, v in cells.items() if not isinstance(v, Mapping)}))
    if isinstance(curves, Mapping):
        for section, tree in curves.items():
            x = X_AXES.get(str(section))
            if x is None:
                continue
            leaves = []
            _walk(tree, CURVE_LEVELS[str(section)], {}, leaves)
            for found, raw in leaves:
                if not numbers(raw.get(x)):
                    continue
                series = {k: v for k, v in raw.items() if numbers(v)}
                seeds = {"loss_barrier": raw["pairs"]} if is_list(raw.get("pairs")) and section == "stability" else {}
                out_curves.append(Curve(_key(str(section), found), x, series, seeds))
    if "partner" not in scalars and isinstance(config, Mapping) and "partner" in config:
        scalars["partner"] = config["partner"]
    return Results("correspondence", rows, out_curves, scalars)


SCHEMA = KindSchema("correspondence", KEY, decode_correspondence)
