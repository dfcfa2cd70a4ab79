"""What every number a reader shows means: one glossary for ``show --explain``, TUI tooltips and the report.

A study kind declares its definitions beside its result schema
(:attr:`redundancy.store.results.KindSchema.metrics`); the run table's columns
are defined here. Readers look a shown key up with :func:`define`, so a metric
is defined once, in the kind that computes it, and every medium says the same.
A grid table's columns are summary paths (``magnitude:smallest/auc``): the
last part names the metric.
"""

from __future__ import annotations

from collections.abc import Iterable

from redundancy.store import layout as L
from redundancy.store.results import ACCURACY, Metric
from redundancy.store.results import define as _define

#: The columns of the runs table (``show``, ``ls``, the report) and a train grid's headline numbers.
RUN_METRICS: tuple[Metric, ...] = (
    Metric("iters", "training iterations (optimizer steps) of the run", "iterations"),
    Metric(L.A_ITERATIONS, "training iterations (optimizer steps) of the run", "iterations"),
    Metric("best", "iteration with the lowest validation loss: the weights a study's checkpoint best names", "iteration"),
    Metric(L.A_BEST_ITERATION, "iteration with the lowest validation loss: the weights a study's checkpoint best names", "iteration"),
    Metric("test acc", "test accuracy of the final weights", ACCURACY),
    Metric(L.A_TEST_ACCURACY, "test accuracy of the final weights", ACCURACY),
    Metric("acc@best", "test accuracy of the best weights (lowest validation loss)", ACCURACY),
    Metric(L.A_TEST_ACCURACY_AT_BEST, "test accuracy of the best weights (lowest validation loss)", ACCURACY),
    Metric(L.A_BEST_VAL_LOSS, "lowest validation loss over training", "cross-entropy, nats"),
    Metric(L.A_SEED, "the run's seed"),
    Metric("best it.", "iteration with the lowest validation loss: the weights a study's checkpoint best names", "iteration"),
    Metric("test acc.", "test accuracy of the final weights", "percent of test samples"),
    Metric("test acc. @best", "test accuracy of the best weights (lowest validation loss)", "percent of test samples"),
)


def metrics_of(kind: str) -> tuple[Metric, ...]:
    """The definitions ``kind`` declares (``train`` for runs); none for a kind whose code a reader may not import."""
    if kind == "train":
        return RUN_METRICS
    from redundancy.studies import result_schema

    schema = result_schema(kind)
    return schema.metrics if schema is not None else ()


def define(kind: str, key: str) -> Metric | None:
    """The definition of ``key`` (a summary key or a grid table's path) as ``kind`` shows it."""
    metrics = metrics_of(kind)
    return _define(metrics, key) or (_define(metrics, key.rsplit("/", 1)[-1]) if "/" in key else None)


def definition(kind: str, key: str) -> str:
    """One line defining ``key`` for a tooltip or a glossary; says so when ``kind`` declares no definition."""
    metric = define(kind, key)
    return metric.text() if metric is not None else f"no definition declared by kind {kind!r}"


def glossary(kind: str, keys: Iterable[str]) -> list[tuple[str, str]]:
    """``(key, definition)`` for each distinct key of ``keys`` as ``kind`` shows it, grouped by
    definition: keys one pattern defines (``acc@10%``, ``acc@25%``) share one line."""
    lines: dict[str, list[str]] = {}
    for key in dict.fromkeys(keys):
        metric = define(kind, key)
        name = metric.name if metric is not None and "*" in metric.name else key
        lines.setdefault(definition(kind, key), [])
        if name not in lines[definition(kind, key)]:
            lines[definition(kind, key)].append(name)
    return [(", ".join(names), text) for text, names in lines.items()]


__all__ = ["RUN_METRICS", "define", "definition", "glossary", "metrics_of"]
