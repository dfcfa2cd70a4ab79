"""Concentration statistics against hand-computed values and brute-force enumeration of the null."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from redundancy.studies.lottery.concentration import (
    chi2_sf,
    chi2_statistic,
    concentration,
    conditional_survival,
    dispersion_test,
    empty_units,
    expected_empty_units,
    gini,
    hypergeom_mean,
    hypergeom_pmf,
    hypergeom_var,
    index_of_dispersion,
    null_conditional_survival,
    null_dispersion,
    null_gini,
    outgoing_counts,
    rankdata,
    regularized_gamma_q,
    spearman,
)
from redundancy.studies.common.masks import unit_counts


def all_masks(n: int, m: int, survivors: int):  # type: ignore[no-untyped-def]
    """Every n × m 0/1 mask with exactly ``survivors`` ones: the null law is uniform over these."""
    for chosen in itertools.combinations(range(n * m), survivors):
        mask = np.zeros(n * m, dtype=np.uint8)
        mask[list(chosen)] = 1
        yield mask.reshape(n, m)


SHAPES = [(3, 3, 4), (4, 2, 3), (2, 5, 6), (3, 4, 1)]


# --- hand-made masks ---------------------------------------------------------------------------


def test_statistics_of_a_hand_made_mask() -> None:
    mask = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    k = unit_counts(mask)
    assert k.tolist() == [4, 1, 0]
    # mean 5/3, population variance 26/9
    assert index_of_dispersion(k) == pytest.approx(26 / 15)
    # Σ_ij |k_i − k_j| = 2(3 + 4 + 1) = 16 over 2 n² k̄ = 30
    assert gini(k) == pytest.approx(8 / 15)
    assert empty_units(k) == 1
    # Σ k(k − 1) = 12 over Σ k (m − 1) = 15
    assert conditional_survival(k, 4) == pytest.approx(4 / 5)
    # p = 5/12, expected 5/3 per unit, m p (1 − p) = 35/36
    assert chi2_statistic(k, 4) == pytest.approx(312 / 35)


def test_even_spread_has_no_dispersion_and_zero_gini() -> None:
    k = unit_counts(np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]]))
    assert k.tolist() == [2, 2, 2]
    assert index_of_dispersion(k) == 0.0
    assert gini(k) == 0.0
    assert empty_units(k) == 0
    assert conditional_survival(k, 3) == pytest.approx(0.5)
    one_unit_holds_all = np.array([6, 0, 0, 0])
    assert gini(one_unit_holds_all) == pytest.approx(3 / 4)  # (n − 1)/n
    assert math.isnan(gini(np.zeros(3))) and math.isnan(index_of_dispersion(np.zeros(3)))


def test_conv_filters_are_units() -> None:
    mask = np.zeros((2, 3, 2, 2), dtype=bool)
    mask[0, 1] = True  # 4 weights of filter 0
    mask[1, 2, 0, 0] = True
    assert unit_counts(mask).tolist() == [4, 1]


def test_outgoing_counts_for_linear_conv_and_flatten() -> None:
    linear = np.array([[1, 0, 1], [1, 0, 0]])
    counts, per = outgoing_counts(linear, 3)
    assert counts.tolist() == [2, 0, 1] and per == 2
    conv = np.zeros((4, 3, 3, 3), dtype=np.uint8)  # next conv reads 3 channels
    conv[:, 0] = 1
    conv[2, 2, 1, 1] = 1
    counts, per = outgoing_counts(conv, 3)
    assert counts.tolist() == [36, 0, 1] and per == 36
    # a Linear after flattening 3 channels of 2 × 2: columns 4c … 4c + 3 belong to channel c
    flat = np.zeros((5, 12), dtype=np.uint8)
    flat[:, 4:8] = 1
    flat[0, 11] = 1
    counts, per = outgoing_counts(flat, 3)
    assert counts.tolist() == [0, 20, 1] and per == 20
    with pytest.raises(ValueError):
        outgoing_counts(np.ones((2, 7)), 3)


# --- the null law by enumeration ---------------------------------------------------------------


@pytest.mark.parametrize("n,m,survivors", SHAPES)
def test_null_expectations_match_enumeration(n: int, m: int, survivors: int) -> None:
    masks = list(all_masks(n, m, survivors))
    assert len(masks) == math.comb(n * m, survivors)
    counts = [unit_counts(mask) for mask in masks]
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    assert null_dispersion(n, m, survivors) == pytest.approx(mean([index_of_dispersion(k) for k in counts]), abs=1e-12)
    assert null_gini(n, m, survivors) == pytest.approx(mean([gini(k) for k in counts]), abs=1e-12)
    assert expected_empty_units(n, m, survivors) == pytest.approx(mean([empty_units(k) for k in counts]), abs=1e-12)
    cond = mean([float((k * (k - 1)).sum()) for k in counts]) / (survivors * (m - 1))
    assert null_conditional_survival(n, m, survivors) == pytest.approx(cond, abs=1e-12)
    # the marginal of one unit is hypergeometric
    first = [int(k[0]) for k in counts]
    for value in range(m + 1):
        share = Fraction(first.count(value), len(first))
        assert hypergeom_pmf(n * m, survivors, m, value)[0] == pytest.approx(float(share), abs=1e-12)
    assert hypergeom_mean(n * m, survivors, m) == pytest.approx(mean(first))
    assert hypergeom_var(n * m, survivors, m) == pytest.approx(mean([(v - mean(first)) ** 2 for v in first]))


def test_null_gini_at_layer_scale_matches_simulation() -> None:
    # LeNet fc2 at density 0.2: the windowed exact sum agrees with seeded draws
    n, m, survivors = 100, 300, 6000
    rng = np.random.default_rng(3)
    draws = rng.multivariate_hypergeometric(np.full(n, m), survivors, size=2000)
    simulated = np.mean([gini(k) for k in draws])
    assert null_gini(n, m, survivors) == pytest.approx(simulated, rel=0.01)
    assert expected_empty_units(n, 5, 10) == pytest.approx(n * math.comb(n * 5 - 5, 10) / math.comb(n * 5, 10))


def test_monte_carlo_p_value_matches_the_exact_tail() -> None:
    n, m, survivors = 3, 3, 4
    observed = np.array([3, 1, 0])
    spreads = [float(((k - k.mean()) ** 2).sum()) for k in map(unit_counts, all_masks(n, m, survivors))]
    target = float(((observed - observed.mean()) ** 2).sum())
    exact = sum(s >= target - 1e-9 for s in spreads) / len(spreads)
    test = dispersion_test(observed, m, method="monte_carlo", draws=20_000, seed=1)
    assert test.method == "monte_carlo"
    assert test.p_value == pytest.approx(exact, abs=0.015)


# --- chi-square tail ---------------------------------------------------------------------------


def test_chi2_sf_matches_closed_forms() -> None:
    for x in [0.01, 0.5, 1.0, 3.0, 10.0, 40.0]:
        # df = 1: erfc(√(x/2)); df = 3 adds √(2x/π) e^{−x/2}
        assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-10)
        three = math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
        assert chi2_sf(x, 3) == pytest.approx(three, rel=1e-10)
        # even df = 2k: e^{−x/2} Σ_{j<k} (x/2)^j / j!
        for k in [1, 2, 5, 30]:
            even = math.exp(-x / 2) * sum((x / 2) ** j / math.factorial(j) for j in range(k))
            assert chi2_sf(x, 2 * k) == pytest.approx(even, rel=1e-9)
    # far tails stay accurate (no 1 − P cancellation)
    assert chi2_sf(400.0, 4) == pytest.approx(math.exp(-200) * (1 + 200), rel=1e-9)
    assert chi2_sf(0.0, 5) == 1.0


def test_chi2_sf_matches_numerical_integration() -> None:
    def pdf(t: float, df: float) -> float:
        return math.exp((df / 2 - 1) * math.log(t) - t / 2 - (df / 2) * math.log(2) - math.lgamma(df / 2))

    for df, x in [(7, 5.0), (7, 14.0), (4.5, 2.0), (99, 120.0)]:
        upper, steps = x + 60 * math.sqrt(2 * df) + 200, 200_000
        h = (upper - x) / steps
        grid = [pdf(x + i * h, df) for i in range(steps + 1)]
        simpson = h / 3 * (grid[0] + grid[-1] + 4 * sum(grid[1:-1:2]) + 2 * sum(grid[2:-1:2]))
        assert chi2_sf(x, df) == pytest.approx(simpson, rel=1e-7)
    with pytest.raises(ValueError):
        regularized_gamma_q(0.0, 1.0)


# --- calibration and power ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,m,density,expected_method",
    [(20, 30, 0.3, "chi2"), (30, 8, 0.1, "monte_carlo")],
)
def test_uniform_masks_are_rejected_at_most_at_the_level(n: int, m: int, density: float, expected_method: str) -> None:
    trials = 400
    rng = np.random.default_rng(11)
    survivors = int(round(density * n * m))
    p_values = []
    for t in range(trials):
        flat = np.zeros(n * m, dtype=np.uint8)
        flat[rng.choice(n * m, survivors, replace=False)] = 1
        test = dispersion_test(unit_counts(flat.reshape(n, m)), m, draws=199, seed=t)
        assert test.method == expected_method
        p_values.append(test.p_value)
    p = np.asarray(p_values)
    for level in (0.05, 0.01):
        slack = 3 * math.sqrt(level * (1 - level) / trials)
        assert (p < level).mean() <= level + slack
    # and the p-values are not piled at 1 either (the test is not vacuous)
    assert (p < 0.5).mean() > 0.35


def test_concentrated_masks_are_rejected() -> None:
    rng = np.random.default_rng(5)
    n, m = 20, 30
    mask = np.zeros((n, m), dtype=np.uint8)
    for i in range(n):  # half of the units keep 80 % of their weights, the rest 10 %
        keep = int(m * (0.8 if i < n // 2 else 0.1))
        mask[i, rng.choice(m, keep, replace=False)] = 1
    k = unit_counts(mask)
    stats = concentration(k, m, seed=0)
    assert stats.p_value < 1e-6 and stats.test == "chi2"
    assert stats.dispersion > 5 * stats.null_dispersion
    assert stats.gini > 2 * stats.null_gini
    assert stats.conditional_survival > stats.density
    few = np.array([6] * 5 + [0] * 15)  # 30 survivors on 5 of 20 units: expected counts 1.5
    sparse = concentration(few, m, draws=199, seed=0)
    assert sparse.test == "monte_carlo" and sparse.p_value < 0.01


def test_degenerate_layers_have_nothing_to_test() -> None:
    full = concentration(np.full(4, 5), 5)
    assert full.p_value == 1.0 and full.test == "none" and full.dispersion == 0.0
    empty = concentration(np.zeros(4, dtype=int), 5)
    assert empty.p_value == 1.0 and math.isnan(empty.gini) and empty.empty_units == 4
    assert empty.expected_empty_units == 4.0


# --- rank correlation --------------------------------------------------------------------------


def brute_spearman(x: list[float], y: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        return [sum(1 for b in v if b < a) + (sum(1 for b in v if b == a) + 1) / 2 for a in v]

    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    return num / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def test_spearman_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        x = rng.integers(0, 5, size=12).astype(float)
        y = rng.normal(size=12).round(1)
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert spearman(x, y) == pytest.approx(brute_spearman(list(x), list(y)), abs=1e-12)
    assert rankdata(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert spearman(np.arange(5), np.arange(5) ** 3) == pytest.approx(1.0)
    assert spearman(np.arange(5), -np.arange(5)) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.ones(4), np.arange(4)))
