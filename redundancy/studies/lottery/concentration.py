"""Do a ticket's surviving weights spread evenly over a layer's units, or concentrate on a few?

Pure statistics on 0/1 masks, in the notation of the lottery study (seed §3):
a layer has n units, each with m incoming weights (a row of a Linear weight,
a flattened filter of a Conv weight), so N = n·m weights of which K survive.
Unit i keeps k_i of its m weights, Σ_i k_i = K, and the density is p = K / N.

**Null hypothesis.** The K survivors are a uniformly random K-subset of the N
weights. Then (k_1, …, k_n) is multivariate hypergeometric and each k_i is
hypergeometric: k_i ~ Hyp(N, K, m), with mean m·p and variance
m·p·(1 − p)·(N − m)/(N − 1).

Every function here is a small pure function with a brute-force test beside
it (``tests/test_concentration.py``). scipy is not a dependency: the
chi-square tail comes from the regularized incomplete gamma function, and a
seeded Monte-Carlo test (exact draws from the multivariate hypergeometric law)
takes over where the chi-square approximation is poor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from redundancy.studies.common.masks import unit_counts  # k_i of a mask; named here for the report

TestMethod = Literal["auto", "chi2", "monte_carlo"]

# The chi-square approximation of the dispersion test is trusted when every
# expected cell count (m·p survivors and m·(1 − p) pruned per unit) is at least this.
MIN_EXPECTED = 5.0


# --- hypergeometric law -----------------------------------------------------------------------


def log_comb(n: int, k: np.ndarray | int) -> np.ndarray:
    """log C(n, k) elementwise; −inf outside 0 ≤ k ≤ n."""
    k_arr = np.atleast_1d(np.asarray(k, dtype=np.int64))
    out = np.full(k_arr.shape, -np.inf)
    ok = (k_arr >= 0) & (k_arr <= n)
    lg_n = math.lgamma(n + 1)
    out[ok] = [lg_n - math.lgamma(int(j) + 1) - math.lgamma(n - int(j) + 1) for j in k_arr[ok]]
    return out


def hypergeom_support(population: int, successes: int, draws: int) -> tuple[int, int]:
    """The values k can take in Hyp(N, K, m): max(0, m − (N − K)) ≤ k ≤ min(m, K)."""
    return max(0, draws - (population - successes)), min(draws, successes)


def hypergeom_window(population: int, successes: int, draws: int, width: float = 40.0) -> tuple[int, int]:
    """The support of Hyp(N, K, m) cut to mean ± (width·sd + 10): everything outside is below 1e-300."""
    lo, hi = hypergeom_support(population, successes, draws)
    mean = hypergeom_mean(population, successes, draws)
    sd = math.sqrt(max(hypergeom_var(population, successes, draws), 0.0))
    return max(lo, int(math.floor(mean - width * sd - 10))), min(hi, int(math.ceil(mean + width * sd + 10)))


def hypergeom_pmf(population: int, successes: int, draws: int, k: np.ndarray | int) -> np.ndarray:
    """P(k) = C(K, k) C(N − K, m − k) / C(N, m): k successes in m draws without replacement."""
    k_arr = np.atleast_1d(np.asarray(k, dtype=np.int64))
    log_p = log_comb(successes, k_arr) + log_comb(population - successes, draws - k_arr) - log_comb(population, draws)[0]
    return np.exp(log_p)


def hypergeom_mean(population: int, successes: int, draws: int) -> float:
    """E[k] = m·K / N."""
    return draws * successes / population


def hypergeom_var(population: int, successes: int, draws: int) -> float:
    """Var[k] = m·p·(1 − p)·(N − m)/(N − 1), p = K / N (0 when N = 1)."""
    if population <= 1:
        return 0.0
    p = successes / population
    return draws * p * (1 - p) * (population - draws) / (population - 1)


# --- counts from masks ------------------------------------------------------------------------


def outgoing_counts(next_mask: np.ndarray, units: int) -> tuple[np.ndarray, int]:
    """Surviving outgoing weights of each of ``units`` units, read from the next layer's mask.

    Unit i's outgoing weights are the next layer's entries that read its output:
    column i of a Linear, input channel i of a Conv, and after a flatten the
    block of columns of channel i (flattening is channel-major). Returns the
    counts and m_out, the number of outgoing weights per unit.
    """
    nm = np.asarray(next_mask).astype(bool)
    if nm.reshape(nm.shape[0], -1).shape[1] % units:
        raise ValueError(f"next layer's fan-in {nm[0].size} is not a multiple of {units} units")
    per = nm.reshape(nm.shape[0], units, -1)  # (next units, units, positions per unit)
    return per.sum(axis=(0, 2)).astype(np.int64), per.shape[0] * per.shape[2]


# --- dispersion ---------------------------------------------------------------------------------


def index_of_dispersion(k: np.ndarray) -> float:
    """D = σ²(k) / k̄ with the population variance σ² = (1/n) Σ (k_i − k̄)²; NaN when k̄ = 0.

    D is 0 when every unit keeps the same number of weights and grows when
    survivors pile up on few units.
    """
    k = np.asarray(k, dtype=np.float64)
    mean = float(k.mean())
    if mean == 0:
        return float("nan")
    return float(((k - mean) ** 2).mean() / mean)


def null_dispersion(n: int, m: int, survivors: int) -> float:
    """E[D] under the null: Var(k_i)/E[k_i] = (1 − p)(N − m)/(N − 1), exact because k̄ = K/n is fixed."""
    population = n * m
    if survivors == 0:
        return float("nan")
    if population == 1:
        return 0.0
    p = survivors / population
    return (1 - p) * (population - m) / (population - 1)


def chi2_statistic(k: np.ndarray, m: int) -> float:
    """Pearson's X² of the 2 × n table (survived, pruned) × unit with fixed margins.

    X² = Σ_i (k_i − m·p)² / (m·p·(1 − p)); approximately χ²(n − 1) under the
    null when every expected count is large. 0 when p is 0 or 1 (nothing to test).
    """
    k = np.asarray(k, dtype=np.float64)
    n = k.size
    p = float(k.sum()) / (n * m)
    if p <= 0 or p >= 1:
        return 0.0
    return float(((k - m * p) ** 2).sum() / (m * p * (1 - p)))


def _spread(k: np.ndarray) -> np.ndarray:
    """n·Σ k_i² − (Σ k_i)² per row: n² times the population variance, as exact integers."""
    k = np.asarray(k, dtype=np.int64)
    n = k.shape[-1]
    return n * (k * k).sum(axis=-1) - k.sum(axis=-1) ** 2


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a), the upper regularized incomplete gamma function (a > 0, x ≥ 0).

    Below x = a + 1 it sums the series of P(a, x) = 1 − Q; above it evaluates
    the continued fraction of Q (modified Lentz), which keeps tiny tails accurate.
    """
    if a <= 0:
        raise ValueError(f"a must be > 0, found {a}")
    if x <= 0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, math.exp(log_front) * h)


def chi2_sf(x: float, df: float) -> float:
    """P(χ²_df ≥ x) = Q(df/2, x/2)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, found {df}")
    return regularized_gamma_q(df / 2, x / 2)


@dataclass(frozen=True)
class DispersionTest:
    """A test of the null (survivors uniform over the layer) against uneven spread over units."""

    statistic: float  # Pearson's X²
    p_value: float
    method: str  # "chi2", "monte_carlo" or "none" (nothing to test: p is 0 or 1, or one unit)


def dispersion_test(
    k: np.ndarray, m: int, *, method: TestMethod = "auto", draws: int = 999, seed: int = 0
) -> DispersionTest:
    """One-sided test that the k_i vary more than under the null (survivors concentrate).

    ``chi2``: X² against χ²(n − 1). ``monte_carlo``: p = (1 + #{X²_b ≥ X²}) / (B + 1)
    over B exact seeded draws of (k_1 … k_n) from the multivariate hypergeometric
    law, valid at any size. ``auto``: chi-square when every expected count
    m·p and m·(1 − p) is at least 5, else Monte Carlo.
    """
    k = np.asarray(k, dtype=np.int64)
    n, survivors = k.size, int(k.sum())
    x2 = chi2_statistic(k, m)
    if n < 2 or survivors == 0 or survivors == n * m:
        return DispersionTest(x2, 1.0, "none")
    p = survivors / (n * m)
    if method == "auto":
        method = "chi2" if min(m * p, m * (1 - p)) >= MIN_EXPECTED else "monte_carlo"
    if method == "chi2":
        return DispersionTest(x2, chi2_sf(x2, n - 1), "chi2")
    rng = np.random.default_rng(seed)
    sims = rng.multivariate_hypergeometric(np.full(n, m, dtype=np.int64), survivors, size=draws, method="marginals")
    exceed = int((_spread(sims) >= _spread(k)).sum())
    return DispersionTest(x2, (1 + exceed) / (draws + 1), "monte_carlo")


# --- Gini -----------------------------------------------------------------------------------------


def gini(k: np.ndarray) -> float:
    """G = Σ_i Σ_j |k_i − k_j| / (2 n² k̄): 0 for an even spread, → 1 when one unit holds all; NaN if k̄ = 0."""
    k = np.sort(np.asarray(k, dtype=np.float64))
    n = k.size
    total = float(k.sum())
    if total == 0:
        return float("nan")
    # Σ_i Σ_j |k_i − k_j| = 2 Σ_i (2i − n + 1) k_(i) for sorted k (0-based i).
    weights = 2 * np.arange(n) - n + 1
    return float(2 * (weights * k).sum() / (2 * n * total))


def null_gini(n: int, m: int, survivors: int) -> float:
    """E[G] under the null, exactly: (n − 1)/(2 n k̄) · E|k_1 − k_2|, k̄ = K/n.

    (k_1, k_2) has P(a, b) = C(m, a) C(m, b) C(N − 2m, K − a − b) / C(N, K); the
    double sum runs over each coordinate's window where its mass is not negligible.
    """
    if survivors == 0:
        return float("nan")
    if n < 2:
        return 0.0
    population = n * m
    lo, hi = hypergeom_window(population, survivors, m)
    values = np.arange(lo, hi + 1)
    log_unit = log_comb(m, values)  # log C(m, a) over the window
    sums = np.arange(2 * lo, 2 * hi + 1)
    log_rest = log_comb(population - 2 * m, survivors - sums)  # log C(N − 2m, K − s)
    log_total = float(log_comb(population, survivors)[0])
    expected_gap = 0.0
    for i, a in enumerate(values):
        log_p = log_unit[i] + log_unit + log_rest[i : i + values.size] - log_total
        expected_gap += float((np.exp(log_p) * np.abs(a - values)).sum())
    mean = survivors / n
    return (n - 1) / (2 * n * mean) * expected_gap


# --- empty units and conditional survival -----------------------------------------------------------


def empty_units(k: np.ndarray) -> int:
    """Units with no surviving weight (k_i = 0)."""
    return int((np.asarray(k) == 0).sum())


def expected_empty_units(n: int, m: int, survivors: int) -> float:
    """n · P(k_i = 0) = n · C(N − m, K) / C(N, K) under the null."""
    population = n * m
    log_p = log_comb(population - m, survivors)[0] - log_comb(population, survivors)[0]
    return float(n * math.exp(log_p)) if np.isfinite(log_p) else 0.0


def conditional_survival(k: np.ndarray, m: int) -> float:
    """P(another weight of a unit survives | one does) = Σ k_i(k_i − 1) / Σ k_i(m − 1); NaN if K = 0 or m = 1.

    Under the null this is (K − 1)/(N − 1), about the density p: above p,
    knowing a unit holds a ticket weight makes its other weights likelier to survive.
    """
    k = np.asarray(k, dtype=np.float64)
    denominator = float((k * (m - 1)).sum())
    if denominator == 0:
        return float("nan")
    return float((k * (k - 1)).sum() / denominator)


def null_conditional_survival(n: int, m: int, survivors: int) -> float:
    """E[Σ k_i(k_i − 1)] / (K(m − 1)) under the null = (K − 1)/(N − 1)."""
    population = n * m
    if survivors == 0 or population < 2:
        return float("nan")
    return (survivors - 1) / (population - 1)


# --- rank correlation ---------------------------------------------------------------------------------


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1 … n, tied values sharing the mean of their ranks."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.size, dtype=np.float64)
    sorted_x = x[order]
    start = 0
    while start < x.size:
        stop = start + 1
        while stop < x.size and sorted_x[stop] == sorted_x[start]:
            stop += 1
        ranks[order[start:stop]] = (start + stop + 1) / 2  # mean of ranks start+1 … stop
        start = stop
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: Pearson's correlation of the ranks (ties averaged); NaN if either is constant."""
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    if denominator == 0:
        return float("nan")
    return float((rx * ry).sum() / denominator)


# --- everything for one set of counts -------------------------------------------------------------------


@dataclass(frozen=True)
class Concentration:
    """How k_1 … k_n (out of m each) compare with a uniform spread of their K survivors."""

    units: int
    per_unit: int
    survivors: int
    density: float
    dispersion: float
    null_dispersion: float
    chi2: float
    p_value: float
    test: str
    gini: float
    null_gini: float
    empty_units: int
    expected_empty_units: float
    conditional_survival: float
    null_conditional_survival: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def concentration(
    k: Sequence[int] | np.ndarray, m: int, *, method: TestMethod = "auto", draws: int = 999, seed: int = 0
) -> Concentration:
    """Every statistic of this module for counts ``k`` of m weights per unit."""
    k = np.asarray(k, dtype=np.int64)
    n, survivors = k.size, int(k.sum())
    test = dispersion_test(k, m, method=method, draws=draws, seed=seed)
    return Concentration(
        units=n,
        per_unit=m,
        survivors=survivors,
        density=survivors / (n * m),
        dispersion=index_of_dispersion(k),
        null_dispersion=null_dispersion(n, m, survivors),
        chi2=test.statistic,
        p_value=test.p_value,
        test=test.method,
        gini=gini(k),
        null_gini=null_gini(n, m, survivors),
        empty_units=empty_units(k),
        expected_empty_units=expected_empty_units(n, m, survivors),
        conditional_survival=conditional_survival(k, m),
        null_conditional_survival=null_conditional_survival(n, m, survivors),
    )
