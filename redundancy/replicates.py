"""Networks as the unit of replication: arms compared across the runs of a seed grid.

A study that compares arms (unit tickets against ``random:reinit``, pruning criteria
against the random order) computes, inside one run, numbers of one trained network:
its own seeds vary the batch order and the fresh draws, never the network the arms
are cut from. Whether an arm is better *in general* is a question about networks, so
the replicates here are the runs of a seed grid (``seeds: [...]``), each an
independently initialized and trained network, and the statistics are computed when
the store is read, from each run's summary (no stage spans runs, so every stage keeps
its own identity and cache).

Per grid point (the axes other than ``seed``), arm a and level ℓ, with v_i(a, ℓ) the
arm's number on network i (averaged over the study's seeds) and r the reference arm:

- d_i = v_i(a, ℓ) − v_i(r, ℓ), the paired difference on network i;
- d̄ with its 95 % t interval (s with n − 1, :func:`redundancy.stats.t_interval`) and
  the paired t-test across networks (:func:`redundancy.stats.paired_difference`);
- p Holm-adjusted over every arm × level tested at that point (:func:`redundancy.stats.holm`).

A "best" arm is named only with at least :data:`MIN_NETWORKS_FOR_BEST` networks: it is
chosen on the first half of the networks (in seed order) and its margin measured on the
other half, so the margin is not the maximum of several noisy estimates. With one
network every comparison is conditional on that network, and says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redundancy.present.format import MISSING, fmt
from redundancy.present.tables import SEED_AXIS, TableData, point_label
from redundancy.stats import CONFIDENCE, DDOF, PairedDifference, holm, paired_difference
from redundancy.store.document import Document, as_document
from redundancy.store.results import Arms, kind_schema

#: Fewer networks than this and no arm is named best: halves of fewer than three say nothing.
MIN_NETWORKS_FOR_BEST = 6


@dataclass(frozen=True)
class ArmEffect:
    """One arm against its reference at one level, across networks: the per-network differences
    (``differences[i]`` belongs to ``networks[i]``), their mean, interval and test, and p after
    Holm's adjustment over every arm × level of the comparison."""

    arm: str
    level: str
    reference: str
    networks: tuple[str, ...]
    differences: tuple[float, ...]
    test: PairedDifference
    p_holm: float | None


@dataclass(frozen=True)
class BestArm:
    """The arm with the largest mean difference on ``chosen_on`` at ``level`` and its margin over the
    reference measured on the other networks, ``measured_on`` (None when the reference itself won)."""

    level: str
    arm: str
    chosen_on: tuple[str, ...]
    measured_on: tuple[str, ...]
    margin: PairedDifference | None


@dataclass(frozen=True)
class NetworkComparison:
    """The arms of one study at one grid point, compared across its networks."""

    study: str
    kind: str
    point: Mapping[str, Any]
    networks: tuple[str, ...]
    levels: tuple[str, ...]
    effects: tuple[ArmEffect, ...]
    best: tuple[BestArm, ...]
    confidence: float = CONFIDENCE

    @property
    def conditional(self) -> bool:
        """One network: every difference is that network's, not networks' in general."""
        return len(self.networks) == 1

    def note(self) -> str:
        """What the numbers rest on, in one paragraph."""
        n = len(self.networks)
        tests = sum(1 for e in self.effects if e.test.p_value is not None)
        how = (f"Differences are arm − reference in points (× 100), paired by network ({', '.join(self.networks)}), "
               f"each network's value the mean over the study's own seeds; {self.confidence:.0%} t interval "
               f"(s with n − {DDOF}); two-sided paired t-test across networks; p (Holm) adjusted over all {tests} "
               "arm × level tests.")
        if self.conditional:
            return (f"conditional on one network ({self.networks[0]}): the differences are this network's, and another "
                    "network may rank the arms otherwise; no interval or test across networks. " + how)
        if n < MIN_NETWORKS_FOR_BEST:
            return (f"{n} networks, fewer than {MIN_NETWORKS_FOR_BEST}: no best arm is named (it would be chosen and "
                    "measured on the same networks); every arm is reported. " + how)
        return (f"best arm chosen on the first {n // 2} networks and its margin measured on the other {n - n // 2}. " + how)


def network_label(point: Mapping[str, Any], run: str) -> str:
    """``seed=3`` for a run of the seed axis, else the run's name."""
    return f"{SEED_AXIS}={point[SEED_AXIS]}" if SEED_AXIS in point else run


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def compare(study: str, kind: str, point: Mapping[str, Any], networks: Sequence[tuple[str, Arms]],
            confidence: float = CONFIDENCE) -> NetworkComparison:
    """Compare the arms of ``networks`` ((label, that network's :class:`Arms`), in seed order)."""
    labels = tuple(label for label, _ in networks)
    levels: list[str] = []
    tested: dict[str, str] = {}
    for _, arms in networks:
        levels += [lv for lv in arms.levels if lv not in levels]
        for a, r in arms.reference.items():
            tested.setdefault(a, r)

    def pairs(arm: str, reference: str, level: str, among: Sequence[str]) -> tuple[list[str], list[float], list[float]]:
        names, a, b = [], [], []
        for label, arms in networks:
            va, vb = arms.values.get((arm, level)), arms.values.get((reference, level))
            if label in among and _finite(va) and _finite(vb):
                names.append(label)
                a.append(float(va))  # type: ignore[arg-type]
                b.append(float(vb))  # type: ignore[arg-type]
        return names, a, b

    raw: list[tuple[str, str, str, tuple[str, ...], tuple[float, ...], PairedDifference]] = []
    for level in levels:
        for arm, reference in tested.items():
            names, a, b = pairs(arm, reference, level, labels)
            if names:
                raw.append((arm, level, reference, tuple(names), tuple(x - y for x, y in zip(a, b)),
                            paired_difference(a, b, confidence)))
    adjusted = holm([r[5].p_value for r in raw])
    effects = tuple(ArmEffect(arm, level, ref, names, diffs, test, p)
                    for (arm, level, ref, names, diffs, test), p in zip(raw, adjusted))

    best: list[BestArm] = []
    if len(labels) >= MIN_NETWORKS_FOR_BEST:
        chosen_on, measured_on = labels[: len(labels) // 2], labels[len(labels) // 2:]
        for level in levels:
            scored = []
            for arm, reference in tested.items():
                names, a, b = pairs(arm, reference, level, chosen_on)
                if names:
                    scored.append((sum(a) / len(a) - sum(b) / len(b), arm, reference))
            if not scored:
                continue
            top, arm, reference = max(scored, key=lambda s: s[0])
            if top <= 0:  # no arm beat its reference on the choosing half
                best.append(BestArm(level, reference, chosen_on, measured_on, None))
                continue
            _, a, b = pairs(arm, reference, level, measured_on)
            best.append(BestArm(level, arm, chosen_on, measured_on, paired_difference(a, b, confidence)))
    return NetworkComparison(study, kind, dict(point), labels, tuple(levels), effects, tuple(best), confidence)


def network_comparisons(doc: Document | Mapping[str, Any]) -> list[NetworkComparison]:
    """Every comparison of arms a store holds (``doc`` is the store's
    :class:`~redundancy.store.document.Document`, or its ``show --json`` shape): one per study
    of a kind that compares arms and per grid point other than the seed, over the done runs of
    that point (a store without a grid is one network)."""
    doc = as_document(doc)
    run_points = doc.run_points()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for st in doc.studies:
        if not st.done or not isinstance(st.summary, Mapping):
            continue
        schema = kind_schema(st.kind)
        if schema is None or schema.arms is None:
            continue
        arms = schema.arms(st.summary)
        if arms is None:
            continue
        point = dict(st.grid_point or run_points.get(st.run, {}))
        rest = {k: v for k, v in point.items() if k != SEED_AXIS}
        key = (st.name, json.dumps(rest, sort_keys=True, default=str))
        g = groups.setdefault(key, {"kind": st.kind, "point": rest, "networks": []})
        g["networks"].append((point.get(SEED_AXIS), network_label(point, st.run), arms))
    out = []
    for (study, _), g in groups.items():
        nets = sorted(g["networks"], key=lambda n: (n[0] is None, n[0] if isinstance(n[0], (int, float)) else 0, n[1]))
        out.append(compare(study, g["kind"], g["point"], [(label, arms) for _, label, arms in nets]))
    return out


def to_plain(c: NetworkComparison) -> dict[str, Any]:
    """A comparison as JSON-able data (``show --json``'s ``comparisons``)."""

    def test(t: PairedDifference | None) -> dict[str, Any] | None:
        if t is None:
            return None
        d = t.difference
        return {"mean_difference": d.mean, "ci_low": d.low, "ci_high": d.high, "sd": d.sd, "n": d.n, "t": t.t, "p_value": t.p_value}

    return {
        "study": c.study, "kind": c.kind, "point": dict(c.point), "networks": list(c.networks), "levels": list(c.levels),
        "confidence": c.confidence, "ddof": DDOF, "conditional": c.conditional, "note": c.note(),
        "effects": [{"arm": e.arm, "level": e.level, "reference": e.reference, "networks": list(e.networks),
                     "differences": list(e.differences), **(test(e.test) or {}), "p_holm": e.p_holm} for e in c.effects],
        "best": [{"level": b.level, "arm": b.arm, "chosen_on": list(b.chosen_on), "measured_on": list(b.measured_on),
                  "margin": test(b.margin)} for b in c.best],
    }


# --- the comparisons as tables, for show, the TUI and the report -----------------------------------

#: Differences are shown in points: accuracy (and the area under an accuracy curve) × 100.
POINTS = 100.0


def _signed(v: float | None) -> str:
    return MISSING if v is None or not math.isfinite(v) else f"{v * POINTS:+.2f}"


def _interval(low: float | None, high: float | None) -> str:
    return MISSING if low is None or high is None else f"[{low * POINTS:+.2f}, {high * POINTS:+.2f}]"


def _t(v: float | None) -> str:
    return MISSING if v is None else (f"{v:+.2f}" if math.isfinite(v) else ("+inf" if v > 0 else "-inf"))


def comparison_table_data(c: NetworkComparison) -> list[TableData]:
    """A comparison of arms across networks (:class:`redundancy.replicates.NetworkComparison`): a table
    per level (keep fraction, ``auc``) with a row per arm: the mean paired difference against the
    reference in points (× 100), its interval, t, p and Holm's p over every arm × level; then, when a
    best arm is named, a row per level with its margin on the held-out networks. The last table's
    caption says what the numbers rest on (and that they are conditional, for one network)."""
    where = f" at {point_label(c.point)}" if c.point else ""
    n = len(c.networks)
    references = list(dict.fromkeys(e.reference for e in c.effects))
    against = f" − {references[0]}" if len(references) == 1 else " − reference"
    pct = f"{c.confidence:.0%} CI"
    tables = []
    for level in c.levels:
        effects = [e for e in c.effects if e.level == level]
        if not effects:
            continue
        title = f"across networks: {c.study} ({c.kind}){where}, {level}: arm{against}, points, {n} network{'s' if n != 1 else ''}"
        columns = ["arm", *(["against"] if len(references) > 1 else []), "diff", pct, "t", "p", "p (Holm)"]
        rows = [[e.arm, *([e.reference] if len(references) > 1 else []), _signed(e.test.difference.mean),
                 _interval(e.test.difference.low, e.test.difference.high), _t(e.test.t), fmt(e.test.p_value), fmt(e.p_holm)]
                for e in effects]
        tables.append(TableData(title, columns, rows))
    if c.best:
        best_rows = []
        for b in c.best:
            m = b.margin
            best_rows.append([b.level, b.arm, ", ".join(b.chosen_on), ", ".join(b.measured_on),
                              _signed(None if m is None else m.difference.mean),
                              MISSING if m is None else _interval(m.difference.low, m.difference.high),
                              MISSING if m is None else fmt(m.p_value)])
        tables.append(TableData(f"best arm: {c.study}{where}, chosen on some networks, margin (points) on the others",
                                ["level", "best", "chosen on", "measured on", "margin", pct, "p"], best_rows))
    if tables:
        tables[-1].caption = c.note()
    return tables
