"""Typed study results: a study's ``summary`` and ``curves`` as records with fields.

The schema is ``docs/results.md``'s. A :class:`Results` holds :class:`Row`
records (the summary), :class:`Curve` records (the curves) and top-level
scalars; every record carries a ``key`` of named fields (layer, checkpoint,
criterion, direction, basis ...), so no consumer parses ``"fc1@best"`` back.
Each kind declares its key fields in :data:`KINDS` (a plain dict a new kind
adds one :class:`KindSchema` to).

:func:`decode` is the one place stored text becomes these types: from a
stage's ``results`` attribute when it has one, else from the version-0.1
``summary`` / ``curves`` attributes every store written so far carries. It
never raises on a well-formed JSON value of an unexpected shape: what it cannot
place becomes a generic record keyed by its path. Plain Python only (no torch,
no numpy needed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA = 1

Key = dict[str, Any]


@dataclass(frozen=True)
class Curve:
    """One curve: ``series[x]`` is the x axis, every other series a y over it (same length).

    ``seeds[name]`` (seeds × points) is kept for stochastic curves, whose
    ``series[name]`` is then the mean over seeds and ``series[name + "_std"]``
    its standard deviation (ddof 0)."""

    key: Key
    x: str
    series: dict[str, list[Any]]
    seeds: dict[str, list[list[Any]]] = field(default_factory=dict)

    @property
    def xs(self) -> list[Any]:
        return list(self.series.get(self.x, []))

    def ys(self) -> dict[str, list[Any]]:
        """Every series but the x axis."""
        return {k: v for k, v in self.series.items() if k != self.x}

    def label(self, *fields: str) -> str:
        """The named key fields that are set, joined for a legend (``magnitude smallest``)."""
        return " ".join(str(self.key[f]) for f in fields if self.key.get(f) is not None)


@dataclass(frozen=True)
class Row:
    """One row of a study's summary: its key fields and its values."""

    key: Key
    values: dict[str, Any]


@dataclass(frozen=True)
class Results:
    """Everything a study stage says in text: summary rows, curves and scalars."""

    kind: str
    summary: list[Row] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    scalars: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    def select(self, **key: Any) -> list[Curve]:
        """The curves whose key fields equal the given values (``select(layer="fc1", basis="top")``)."""
        return [c for c in self.curves if all(c.key.get(k) == v for k, v in key.items())]

    def rows(self, **key: Any) -> list[Row]:
        return [r for r in self.summary if all(r.key.get(k) == v for k, v in key.items())]

    def groups(self, *fields: str) -> dict[tuple[Any, ...], list[Curve]]:
        """Curves grouped by the values of ``fields`` (e.g. one group per layer and checkpoint), in order."""
        out: dict[tuple[Any, ...], list[Curve]] = {}
        for c in self.curves:
            out.setdefault(tuple(c.key.get(f) for f in fields), []).append(c)
        return out


@dataclass(frozen=True)
class KindSchema:
    """What a study kind's records carry: the key fields of every record (in order)."""

    kind: str
    key_fields: tuple[str, ...]
    decode_v01: Callable[[Any, Any, Mapping[str, Any]], Results]
    #: Fills key fields 0.1 text omits from the stage's tensors (``tensor(name)`` gives one or None).
    complete: Callable[[Results, Callable[[str], Any]], Results] | None = None


# --- JSON encoding ---------------------------------------------------------------------------------


def strict(value: Any) -> Any:
    """``value`` with NaN and infinities as None, so ``json.dumps(..., allow_nan=False)`` accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def to_plain(results: Results) -> dict[str, Any]:
    """The schema's JSON object (strict: NaN and infinities as null)."""
    return strict({
        "schema": results.schema,
        "kind": results.kind,
        "summary": [{"key": r.key, "values": r.values} for r in results.summary],
        "curves": [{"key": c.key, "x": c.x, "series": c.series, **({"seeds": c.seeds} if c.seeds else {})} for c in results.curves],
        "scalars": results.scalars,
    })


def from_plain(obj: Any) -> Results:
    """A :class:`Results` from the schema's JSON object; raises ValueError naming what is wrong."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("kind"), str):
        raise ValueError("results is not an object with a 'kind'")
    rows, curves = [], []
    for r in obj.get("summary") or []:
        if not isinstance(r, Mapping) or not isinstance(r.get("key"), Mapping) or not isinstance(r.get("values"), Mapping):
            raise ValueError("a summary record without 'key' and 'values' objects")
        rows.append(Row(dict(r["key"]), dict(r["values"])))
    for c in obj.get("curves") or []:
        if not isinstance(c, Mapping) or not isinstance(c.get("key"), Mapping) or not isinstance(c.get("series"), Mapping):
            raise ValueError("a curve record without 'key' and 'series' objects")
        series = {str(k): list(v) for k, v in c["series"].items() if isinstance(v, list)}
        seeds = {str(k): list(v) for k, v in (c.get("seeds") or {}).items() if isinstance(v, list)}
        curves.append(Curve(dict(c["key"]), str(c.get("x", "")), series, seeds))
    scalars = obj.get("scalars") or {}
    return Results(obj["kind"], rows, curves, dict(scalars) if isinstance(scalars, Mapping) else {}, int(obj.get("schema", SCHEMA)))


# --- decoding version-0.1 summaries and curves -------------------------------------------------------


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)


def checkpoint_ref(text: Any) -> Any:
    """``"best"``, ``"final"`` or an iteration: a checkpoint as the spec names it (digits become an int)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    s = str(text).strip()
    s = s.split(" ", 1)[0]  # "best (iteration 500)" -> "best"
    return int(s) if s.isdigit() else s


def split_layer_checkpoint(text: str) -> tuple[str, Any]:
    """``("fc1", "best")`` from ``"fc1@best"`` (split at the last ``@``); no ``@``: (text, None)."""
    layer, at, ref = text.rpartition("@")
    if not at:
        return text, None
    return layer, checkpoint_ref(ref)


def split_criterion(text: str) -> tuple[str, str | None]:
    """``("magnitude", "smallest")`` from ``"magnitude:smallest"``; ``("random", None)`` from ``"random"``."""
    name, colon, direction = text.partition(":")
    return name, (direction if colon else None)


# pruning


PRUNING_KEY = ("layer", "checkpoint", "iteration", "criterion", "direction", "units")


def _pruning_curve(key: Key, raw: Mapping[str, Any]) -> Curve:
    series: dict[str, list[Any]] = {}
    seeds: dict[str, list[list[Any]]] = {}
    units = key.get("units")
    for name, values in raw.items():
        if name == "seeds" and isinstance(values, list):
            seeds["accuracy"] = values
        elif name == "std" and _is_list(values):
            series["accuracy_std"] = values
        elif _is_list(values):
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
                layer, ref = split_layer_checkpoint(str(lc))
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
                lc, _, crit = text.partition(" ")
                layer, ref = split_layer_checkpoint(lc)
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
            value = tensor(f"{lc[0]}@{lc[1]}/iteration")
            found[lc] = int(value) if value is not None and getattr(value, "ndim", 0) == 0 else None
        return key if found[lc] is None else {**key, "iteration": found[lc]}

    return Results(
        results.kind,
        [Row(fill(r.key), r.values) for r in results.summary],
        [Curve(fill(c.key), c.x, c.series, c.seeds) for c in results.curves],
        results.scalars,
        results.schema,
    )


# subspace


SUBSPACE_KEY = ("layer", "checkpoint", "iteration", "target", "basis", "rank")
BASES = ("top", "bottom", "random")


def split_subspace_row(text: str) -> tuple[str, Any, str | None]:
    """``("fc1", "final", "update")`` from ``"fc1@final:update"``."""
    lc, colon, target = text.rpartition(":")
    if not colon:
        lc, target = text, None
    layer, ref = split_layer_checkpoint(lc)
    return layer, ref, target


def decode_subspace(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves: list[Curve] = []
    extra: dict[tuple[str, Any, str | None], dict[str, Any]] = {}
    if isinstance(curves, Mapping):
        for row_key, row in curves.items():
            if not isinstance(row, Mapping):
                continue
            layer, ref, target = split_subspace_row(str(row_key))
            rank = row.get("rank") if isinstance(row.get("rank"), int) else None
            base = {"layer": layer, "checkpoint": ref, "iteration": None, "target": target}
            extra[(layer, ref, target)] = {k: row[k] for k in ("accuracy_full", "accuracy_reset") if k in row}
            for basis, raw in row.items():
                if basis in ("singular_values", "accuracy_full", "accuracy_reset", "rank") or not isinstance(raw, Mapping):
                    continue
                series = {k: v for k, v in raw.items() if _is_list(v) and k not in ("seeds", "std")}
                if _is_list(raw.get("std")):
                    series["accuracy_std"] = raw["std"]
                seeds = {"accuracy": raw["seeds"]} if _is_list(raw.get("seeds")) else {}
                out_curves.append(Curve({**base, "basis": basis, "rank": rank}, "k", series, seeds))
            sv = row.get("singular_values")
            if _numbers(sv):
                out_curves.append(Curve({**base, "basis": None, "rank": rank}, "index",
                                        {"index": list(range(1, len(sv) + 1)), "singular_value": sv}))
    rows: list[Row] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if not isinstance(values, Mapping):
                scalars[str(name)] = values
                continue
            row_key, slash, basis = str(name).rpartition("/")
            if not slash:
                row_key, basis = str(name), None
            layer, ref, target = split_subspace_row(row_key)
            vals = dict(values)
            rank = vals.pop("rank", None)
            rows.append(Row({"layer": layer, "checkpoint": ref, "iteration": None, "target": target, "basis": basis, "rank": rank}, vals))
    return Results("subspace", rows, out_curves, scalars)


# lottery


LOTTERY_KEY = ("variant", "layer", "direction")
LOTTERY_VARIANTS = ("ticket", "reinit", "random_mask")


def decode_lottery(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves: list[Curve] = []
    if isinstance(curves, Mapping):
        rounds = curves.get("rounds") if _is_list(curves.get("rounds")) else None
        for variant in LOTTERY_VARIANTS:
            raw = curves if variant == "ticket" else curves.get(variant)
            if not isinstance(raw, Mapping) or not _is_list(raw.get("accuracy")):
                continue
            n = len(raw["accuracy"])
            series: dict[str, list[Any]] = {"round": list(rounds) if rounds is not None else list(range(n))}
            if _is_list(curves.get("sparsity")):
                series["sparsity"] = curves["sparsity"]
            for k in ("accuracy", "early_stop_accuracy", "early_stop_iteration"):
                if _is_list(raw.get(k)):
                    series[k] = raw[k]
            out_curves.append(Curve({"variant": variant, "layer": None, "direction": None}, "round", series))
        per_layer = curves.get("sparsity_per_layer") if isinstance(curves.get("sparsity_per_layer"), Mapping) else {}
        concentration = curves.get("concentration") if isinstance(curves.get("concentration"), Mapping) else {}
        for layer, stats in concentration.items():
            if not isinstance(stats, Mapping):
                continue
            for direction, raw in (("incoming", stats), ("outgoing", stats.get("outgoing"))):
                if not isinstance(raw, Mapping):
                    continue
                series = {k: v for k, v in raw.items() if _is_list(v)}
                n = max((len(v) for v in series.values()), default=0)
                series = {"round": list(rounds) if rounds is not None else list(range(n)), **series}
                if direction == "incoming":
                    if _is_list(per_layer.get(layer)):
                        series["sparsity"] = per_layer[layer]
                    spear = stats.get("spearman")
                    if isinstance(spear, Mapping):
                        series.update({f"spearman_{k}": v for k, v in spear.items() if _is_list(v)})
                out_curves.append(Curve({"variant": None, "layer": str(layer), "direction": direction}, "round", series))
    rows: list[Row] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if isinstance(values, Mapping):
                rows.append(Row({"variant": None, "layer": str(name), "direction": "incoming"}, dict(values)))
            elif name == "pruned %" or str(name).endswith(" acc %"):
                continue  # display strings of 0.1; the curves hold the numbers
            else:
                scalars[str(name)] = values
    return Results("lottery", rows, out_curves, scalars)


# dynamics


DYNAMICS_KEY = ("layer",)


def decode_dynamics(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves = []
    if isinstance(curves, Mapping):
        for layer, raw in curves.items():
            if isinstance(raw, Mapping) and _is_list(raw.get("iteration")):
                out_curves.append(Curve({"layer": str(layer)}, "iteration", {k: v for k, v in raw.items() if _is_list(v)}))
    rows, scalars = [], {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if isinstance(values, Mapping):
                rows.append(Row({"layer": str(name)}, dict(values)))
            else:
                scalars[str(name)] = values
    return Results("dynamics", rows, out_curves, scalars)


# any other kind


X_CANDIDATES = ("iteration", "units_removed", "k", "rounds", "round", "step", "x", "index")


def _generic_curves(tree: Any, path: tuple[str, ...], out: list[Curve]) -> None:
    if not isinstance(tree, Mapping):
        return
    lists = {str(k): v for k, v in tree.items() if _is_list(v)}
    x = next((c for c in X_CANDIDATES if _numbers(lists.get(c))), None)
    if x is not None:
        out.append(Curve({"path": "/".join(path) or None}, x, lists))
    elif path == () and lists:
        out.append(Curve({"path": None}, "", lists))
    for k, v in tree.items():
        if isinstance(v, Mapping):
            _generic_curves(v, (*path, str(k)), out)


def _generic_rows(tree: Any, path: tuple[str, ...], rows: list[Row], scalars: dict[str, Any]) -> None:
    cells = {str(k): v for k, v in tree.items() if not isinstance(v, Mapping)}
    if path and cells:
        rows.append(Row({"path": "/".join(path)}, cells))
    elif not path:
        scalars.update(cells)
    for k, v in tree.items():
        if isinstance(v, Mapping):
            _generic_rows(v, (*path, str(k)), rows, scalars)


def decode_generic(kind: str, summary: Any, curves: Any) -> Results:
    """Any kind without a schema: each dict of scalars a row keyed by its path, each dict of lists
    with an x axis a curve keyed by its path."""
    out_curves: list[Curve] = []
    _generic_curves(curves, (), out_curves)
    rows: list[Row] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        _generic_rows(summary, (), rows, scalars)
    return Results(kind, rows, out_curves, scalars)


KINDS: dict[str, KindSchema] = {
    "pruning": KindSchema("pruning", PRUNING_KEY, decode_pruning, _with_iterations),
    "subspace": KindSchema("subspace", SUBSPACE_KEY, decode_subspace),
    "lottery": KindSchema("lottery", LOTTERY_KEY, decode_lottery),
    "dynamics": KindSchema("dynamics", DYNAMICS_KEY, decode_dynamics),
}


def key_fields(kind: str) -> tuple[str, ...]:
    """The key fields of a kind's records (``("path",)`` for a kind without a schema)."""
    schema = KINDS.get(kind)
    return schema.key_fields if schema is not None else ("path",)


def decode(
    kind: str, summary: Any, curves: Any, config: Mapping[str, Any] | None = None, results: Any = None,
    tensor: Callable[[str], Any] | None = None,
) -> Results:
    """The typed results of one study stage: from ``results`` (the schema's object) when given,
    else from the 0.1 ``summary`` / ``curves`` JSON values and the study's ``config``, with what
    they omit taken from the stage's tensors when ``tensor`` (name -> array or None) is given."""
    if results is not None:
        return from_plain(results)
    schema = KINDS.get(kind)
    if schema is None:
        return decode_generic(kind, summary, curves)
    out = schema.decode_v01(summary, curves, config or {})
    if tensor is not None and schema.complete is not None:
        out = schema.complete(out, tensor)
    return out


def tidy_points(results: Results) -> Iterable[dict[str, Any]]:
    """One dict per curve point: the curve's key fields, ``curve_x`` (the x axis's name), ``x``,
    ``series`` and ``y`` (the tidy long form, one row per point and series)."""
    for c in results.curves:
        xs = c.xs
        for name, ys in c.ys().items():
            for i, y in enumerate(ys):
                yield {**c.key, "curve_x": c.x, "x": xs[i] if i < len(xs) else None, "series": name, "y": y}
