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

from redundancy.store.results import Curve, KindSchema, Metric, Results, Row, is_list, numbers

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


METRICS = (
    Metric("partner", "whom the run's units are matched with: seed (the next seed), spawn (copies from rewind iterations) or teacher"),
    Metric("units", "hidden units of the layer matched", "count"),
    Metric("mean", "mean similarity of matched unit pairs (|cosine| of weights or correlation of activations)", "similarity, 0–1"),
    Metric("median", "median similarity of matched unit pairs", "similarity, 0–1"),
    Metric("null_mean", "mean similarity of random unit pairs, the chance level", "similarity, 0–1"),
    Metric("above_*", "fraction of matched pairs whose similarity is at least the threshold", "fraction of units, 0–1"),
    Metric("null_above_*", "fraction of random pairs at least as similar, the chance level", "fraction of pairs, 0–1"),
    Metric("rank_correlation", "Spearman's ρ between the norms of matched units", "−1 to 1"),
    Metric("kept_overlap_*", "overlap of the units magnitude pruning keeps in both networks at that fraction removed, after alignment", "fraction, 0–1"),
    Metric("chance_*", "the overlap two random kept sets of that size have", "fraction, 0–1"),
    Metric("loss_barrier", "rise of test loss along the straight path between the networks above the endpoints' average", "cross-entropy, nats"),
    Metric("error_barrier", "rise of test error along the path above the endpoints' average", "fraction of test samples"),
    Metric("loss_ends", "mean test loss of the two endpoint networks", "cross-entropy, nats"),
    Metric("error_ends", "mean test error of the two endpoint networks", "fraction of test samples"),
    Metric("pairs", "pairs of copies averaged", "count"),
    Metric("student_units", "units of the student's first hidden layer", "count"),
    Metric("teacher_units", "units of the teacher's hidden layer", "count"),
    Metric("students_per_teacher_unit", "mean number of student units specialized to each teacher unit", "count"),
    Metric("teacher_units_covered", "fraction of teacher units with at least one specialized student unit", "fraction, 0–1"),
    Metric("specialized_fraction", "fraction of student units whose best similarity to a teacher unit reaches the threshold", "fraction, 0–1"),
    Metric("null_specialized_fraction", "the same fraction against a random teacher, the chance level", "fraction, 0–1"),
    Metric("largest_share", "largest share of the output weight one teacher unit's students carry", "fraction, 0–1"),
    Metric("mean_best_similarity", "mean over student units of their best similarity to a teacher unit", "similarity, 0–1"),
)

SCHEMA = KindSchema("correspondence", KEY, decode_correspondence, metrics=METRICS)
