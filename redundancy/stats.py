"""Statistics across replicates: t intervals, the paired t-test and Holm's step-down adjustment.

Small pure functions on sequences of numbers, for comparisons whose replicates are
independently initialized and trained networks (:mod:`redundancy.replicates`). The
t distribution and the test are scipy's; Holm's adjustment is written out here
(statsmodels is not a dependency) and checked against a hand-worked table.

Notation: x_1..x_n the replicates, x̄ their mean, s their sample standard deviation
with n − 1 in the denominator (ddof = 1), t_{q, ν} the q-quantile of Student's t on
ν degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The confidence of every interval these functions give unless told otherwise.
CONFIDENCE = 0.95
#: Degrees of freedom lost to the mean in every standard deviation here: s uses n − 1.
DDOF = 1
#: Differences whose spread is below this (relative to their size, at least 1) are all the same:
#: float rounding, not variation, so no t is formed from them.
SAME = 1e-12


@dataclass(frozen=True)
class MeanInterval:
    """x̄ with its confidence interval [low, high]; ``sd`` is s (ddof = 1). With one value the
    interval and ``sd`` are None: one replicate says nothing about spread."""

    mean: float
    low: float | None
    high: float | None
    sd: float | None
    n: int
    confidence: float = CONFIDENCE


def t_interval(x: Sequence[float], confidence: float = CONFIDENCE) -> MeanInterval:
    """x̄ ± t_{(1+c)/2, n−1} · s / √n, the two-sided interval of confidence c for the mean of ``x``."""
    v = np.asarray(x, dtype=np.float64)
    n = len(v)
    if n == 0:
        return MeanInterval(math.nan, None, None, None, 0, confidence)
    mean = float(v.mean())
    if n < 2:
        return MeanInterval(mean, None, None, None, n, confidence)
    from scipy import stats  # only here: a single network (one run's own summary) never loads SciPy
    sd = float(v.std(ddof=DDOF))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * sd / math.sqrt(n)
    return MeanInterval(mean, mean - half, mean + half, sd, n, confidence)


@dataclass(frozen=True)
class PairedDifference:
    """a − b paired by replicate: the mean difference with its interval, Student's t on n − 1
    degrees of freedom and the two-sided p. ``t`` and ``p_value`` are None with fewer than two
    pairs or when every difference is 0; when every difference is the same non-zero number, |t| is
    infinite and p = 0."""

    difference: MeanInterval
    t: float | None
    p_value: float | None

    @property
    def n(self) -> int:
        return self.difference.n


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> PairedDifference:
    """d_i = a_i − b_i; t = d̄ / (s_d / √n) (scipy's ``ttest_rel``) and the t interval of d̄."""
    av, bv = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if av.shape != bv.shape:
        raise ValueError(f"paired samples need the same length, got {len(av)} and {len(bv)}")
    interval = t_interval(av - bv, confidence)
    if interval.n < 2:
        return PairedDifference(interval, None, None)
    if interval.sd is not None and interval.sd <= SAME * max(1.0, abs(interval.mean)):
        # every difference the same up to rounding (averages of equal numbers summed in another order)
        if abs(interval.mean) <= SAME:
            return PairedDifference(interval, None, None)
        return PairedDifference(interval, math.copysign(math.inf, interval.mean), 0.0)
    from scipy import stats

    res = stats.ttest_rel(av, bv)
    return PairedDifference(interval, float(res.statistic), float(res.pvalue))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's (1979) step-down adjustment of m p-values (None: not tested, not counted in m).

    With p_(1) <= ... <= p_(m) the sorted p-values, the adjusted p_(i) is
    max_{j <= i} min(1, (m − j + 1) · p_(j)); rejecting where it is below α keeps the
    family-wise error rate at α whatever the dependence between the tests. Returned in the
    input's order.
    """
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for j, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (m - j) * p))
        out[i] = running
    return out
