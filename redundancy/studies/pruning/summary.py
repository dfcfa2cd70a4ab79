"""The ``pruning`` study's summary numbers: accuracy at fixed fractions removed, the AUC and its
percentile among random orders, the units removable within a tolerance, and rankings of the criteria."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SUMMARY_PERCENTS = (10, 25, 50, 75, 90)
#: Accuracy drops (points) within which the summary says how many units can go.
REMOVABLE_POINTS = (1, 5)


def summary_row(units_removed: Sequence[int], accuracy: Sequence[float], n_units: int) -> dict[str, float | None]:
    """Accuracy at 10/25/50/75/90 % of units removed (interpolated; None past the sweep) and the AUC.

    The AUC is ∫ accuracy d(fraction removed) over the sweep, by trapezoids.
    """
    x = np.asarray(units_removed, dtype=np.float64) / n_units
    acc = np.asarray(accuracy, dtype=np.float64)
    row: dict[str, float | None] = {}
    for p in SUMMARY_PERCENTS:
        f = p / 100
        row[f"acc@{p}%"] = float(np.interp(f, x, acc)) if f <= x[-1] + 1e-12 else None
    row["auc"] = curve_auc(units_removed, accuracy, n_units)
    for points in REMOVABLE_POINTS:
        k = removable_within(units_removed, accuracy, points)
        row[f"removable@{points}pt"] = k
        row[f"removable@{points}pt_fraction"] = k / n_units
    return row


def curve_auc(units_removed: Sequence[int], accuracy: Sequence[float], n_units: int) -> float:
    """∫ accuracy d(fraction removed) over the sweep, by trapezoids (0 for a single level)."""
    x = np.asarray(units_removed, dtype=np.float64) / n_units
    acc = np.asarray(accuracy, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (acc[1:] + acc[:-1]) / 2)) if len(x) > 1 else 0.0


def auc_percentile(auc: float, null: Sequence[float]) -> float:
    """Where ``auc`` sits in the null distribution of the random orders' AUCs, in percent:
    100 · (#{null < auc} + ½ #{null = auc}) / |null| (mid-rank, so a tie with every draw is 50)."""
    v = np.asarray(null, dtype=np.float64)
    return float(100.0 * ((v < auc).sum() + 0.5 * (v == auc).sum()) / len(v))


def removable_within(units_removed: Sequence[int], accuracy: Sequence[float], points: float) -> int:
    """The most units removable with accuracy within ``points`` of the unpruned network:
    max{k_j : a(k_i) >= a(0) − points/100 for every evaluated k_i <= k_j}, with a(0) = accuracy[0]
    the unpruned accuracy (every order starts at k = 0). Removal follows the order, so the first
    evaluated level that falls below ends the run even if a later one recovers."""
    floor = float(accuracy[0]) - points / 100.0
    best = 0
    for k, a in zip(units_removed, accuracy):
        if a is None or not float(a) >= floor - 1e-12:
            break
        best = int(k)
    return best


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ_a of two scorings of the same items: (concordant − discordant pairs) / all pairs."""
    n = len(a)
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return 1.0
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            total += float(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]))
    return total / pairs


def ranking(scores: dict[str, float]) -> str:
    """Curves from the highest score to the lowest, ``"a > b = c"`` (equal scores joined by =)."""
    items = sorted(scores.items(), key=lambda kv: -kv[1])
    text = ""
    for i, (key, value) in enumerate(items):
        if i:
            text += " = " if value == items[i - 1][1] else " > "
        text += key
    return text
