"""Pure pieces of the ``unit_ticket`` study: which units a selector keeps, and the paired t-test.

A selector scores the n units of a layer; the k kept are the k highest scores,
ties going to the lower index (a stable sort), returned ascending so that the
smaller network keeps the units in their original order.

The comparison of two selectors is paired over seeds: seed s fixes the batch
order, the fresh initialization and the random selection of both arms, so the
differences d_s = a_s − b_s are tested with Student's t on n − 1 degrees of
freedom, t = mean(d) / (sd(d) / √n). (An exact sign test cannot go below
p = 2 / 2⁵ = 0.0625 with 5 seeds.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def keep_count(units: int, fraction: float) -> int:
    """Units kept of ``units`` at ``fraction``: round(fraction · units), at least 1 and at most all."""
    return int(min(units, max(1, round(fraction * units))))


def top_units(scores: torch.Tensor | np.ndarray, k: int) -> torch.Tensor:
    """The ``k`` units of highest score (ties: lower index first), ascending. int64 (k,)."""
    s = torch.as_tensor(np.asarray(scores, dtype=np.float64))
    order = torch.sort(s, descending=True, stable=True).indices
    return torch.sort(order[:k]).values


def last_removed(order: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` units a removal order removes last, ascending (the survivors of a pruning order)."""
    return torch.sort(order[len(order) - k :].to(torch.int64)).values


def random_units(units: int, k: int, seed: int) -> torch.Tensor:
    """``k`` of ``units`` drawn uniformly without replacement from a generator seeded with ``seed``, ascending."""
    gen = torch.Generator().manual_seed(seed)
    return torch.sort(torch.randperm(units, generator=gen)[:k]).values


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's T with ``df`` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2)."""
    if math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    return regularized_beta(df / 2.0, 0.5, df / (df + t * t))


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of a − b over seeds: the mean difference, t, p (two-sided) and the pairs."""

    mean_difference: float
    t: float | None
    p_value: float | None
    n: int


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Student's paired t-test of mean(a − b) = 0. With one pair, or all differences equal, t and p
    are None unless the differences are all equal and non-zero (then |t| is infinite and p = 0)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    if n < 2:
        return PairedTest(mean, None, None, n)
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        if mean == 0.0:
            return PairedTest(mean, None, None, n)
        return PairedTest(mean, math.copysign(math.inf, mean), 0.0, n)
    t = mean / (sd / math.sqrt(n))
    return PairedTest(mean, t, t_two_sided_p(t, n - 1), n)
