"""Typed study results: a study's ``summary`` and ``curves`` as records with fields.

The schema is ``docs/results.md``'s. A :class:`Results` holds :class:`Row`
records (the summary), :class:`Curve` records (the curves) and top-level
scalars; every record carries a ``key`` of named fields (layer, checkpoint,
criterion, direction, basis ...), so no consumer parses ``"fc1@best"`` back.
Each built-in kind declares its key fields and its decoder in a
:class:`KindSchema` in its own package (``redundancy/studies/<kind>/results.py``),
found through the study registry (:func:`kind_schema`); this module holds the
types, the encoding and the generic decoder every other kind gets.

:func:`decode` is the one place stored text becomes these types: from a
stage's ``results`` attribute when it has one, else from the version-0.1
``summary`` / ``curves`` attributes every store written so far carries. It
never raises on a well-formed JSON value of an unexpected shape: what it cannot
place becomes a generic record keyed by its path. Plain Python only (no torch,
no numpy needed).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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
class Arms:
    """One network's arms of a study that compares arms with a reference arm.

    ``values[(arm, level)]`` is the arm's number at a level (a unit ticket's accuracy at
    ``keep 25%``, a pruning criterion's ``auc``), already averaged over the study's own seeds;
    ``reference[arm]`` names the arm it is compared with, for every arm that is tested (in
    order); ``levels`` are the levels in order. Read across networks by
    :mod:`redundancy.replicates`."""

    values: Mapping[tuple[str, str], float]
    reference: Mapping[str, str]
    levels: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    """What one summary number means, as readers define it where they show it.

    ``name`` is the key as stored, or a pattern of keys (``acc@*%`` for ``acc@10%``,
    ``acc@25%``...; :func:`fnmatch.fnmatchcase`); ``unit`` says what the number counts
    or measures ("" for a name or a yes/no).
    """

    name: str
    meaning: str
    unit: str = ""

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.name)

    def text(self) -> str:
        return f"{self.meaning} [{self.unit}]" if self.unit else self.meaning


def define(metrics: Sequence[Metric], key: str) -> Metric | None:
    """The first of ``metrics`` that defines ``key``, else None."""
    return next((m for m in metrics if m.matches(key)), None)


#: Fractions of test samples classified right: the unit of every accuracy a study stores.
ACCURACY = "fraction of test samples, 0–1"


@dataclass(frozen=True)
class Plot:
    """A plot a kind declares once for every reader: the TUI and the report draw it alike.

    The series ``y`` of every curve that carries it (and whose key fields equal ``where``'s),
    against the curve's x axis; one line per curve, named by the values of ``label``'s key
    fields (by default the fields that tell the curves apart), with ``<y>_std``, when stored, as a
    ±std band. ``xlabel`` and ``ylabel`` say what the axes measure, units included.
    """

    title: str
    y: str
    xlabel: str
    ylabel: str
    label: tuple[str, ...] = ()
    where: tuple[tuple[str, Any], ...] = ()

    def curves(self, results: Results) -> list[Curve]:
        """The curves this plot draws, in order: those carrying ``y`` whose key matches ``where``."""
        return [c for c in results.curves
                if isinstance(c.series.get(self.y), list) and all(c.key.get(f) == v for f, v in self.where)]

    def line_label(self, curve: Curve, varying: Sequence[str]) -> str:
        """A line's legend: ``label``'s key fields (or the ``varying`` ones) that are set, else ``y``."""
        return curve.label(*(self.label or tuple(varying))) or self.y


@dataclass(frozen=True)
class KindSchema:
    """What a study kind's records carry: the key fields of every record (in order), what each
    summary number means (``metrics``: ``show --explain``, TUI tooltips and the report glossary)
    and which plots readers draw (``plots``)."""

    kind: str
    key_fields: tuple[str, ...]
    decode_v01: Callable[[Any, Any, Mapping[str, Any]], Results]
    #: Fills key fields 0.1 text omits from the stage's tensors (``tensor(name)`` gives one or None).
    complete: Callable[[Results, Callable[[str], Any]], Results] | None = None
    #: For a kind that compares arms: its summary's :class:`Arms` (None when it has none to compare).
    arms: Callable[[Mapping[str, Any]], Arms | None] | None = None
    metrics: tuple[Metric, ...] = ()
    #: The plots every reader draws for this kind (a kind without its own TUI view or report figure).
    plots: tuple[Plot, ...] = ()


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


def is_list(v: Any) -> bool:
    return isinstance(v, list)


def numbers(v: Any) -> bool:
    return isinstance(v, list) and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)


# any other kind


X_CANDIDATES = ("iteration", "units_removed", "k", "rounds", "round", "step", "x", "index")


def _generic_curves(tree: Any, path: tuple[str, ...], out: list[Curve]) -> None:
    if not isinstance(tree, Mapping):
        return
    lists = {str(k): v for k, v in tree.items() if is_list(v)}
    x = next((c for c in X_CANDIDATES if numbers(lists.get(c))), None)
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


#: Where a kind's schema comes from: the study registry sets it (:func:`set_schema_source`) when it
#: is imported, so the store decodes a built-in kind's records without importing any study code.
_schema_source: Callable[[str], KindSchema | None] | None = None


def set_schema_source(source: Callable[[str], KindSchema | None]) -> None:
    """Register the function that gives a built-in kind's :class:`KindSchema` (the study registry's)."""
    global _schema_source
    _schema_source = source


def kind_schema(kind: str) -> KindSchema | None:
    """The schema a built-in study kind declares in its package (``redundancy/studies/<kind>/results.py``).

    The study registry names it by string; its module is plain Python, so a
    reader that decodes a stage imports neither torch nor a study's compute.
    Only built-in kinds: a kind named in store text is data, never imported.
    """
    return _schema_source(kind) if _schema_source is not None else None


def key_fields(kind: str) -> tuple[str, ...]:
    """The key fields of a kind's records (``("path",)`` for a kind without a schema)."""
    schema = kind_schema(kind)
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
    schema = kind_schema(kind)
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
