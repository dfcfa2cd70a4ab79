"""Statistics across networks: t intervals and the paired test against scipy, Holm against a hand-worked
table, and the comparison of arms (one network is conditional, a best arm only with enough networks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from redundancy.replicates import MIN_NETWORKS_FOR_BEST, compare
from redundancy.stats import holm, paired_difference, t_interval
from redundancy.store.results import Arms


@pytest.mark.parametrize("x", [[0.91, 0.93, 0.90], [1.0, 2.0, 4.0, 8.0, 16.0], [-0.02, 0.01, 0.005, 0.0, 0.03, -0.01]])
def test_t_interval_is_scipys(x: list[float]) -> None:
    got = t_interval(x)
    low, high = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))  # sem uses ddof = 1
    assert got.low == pytest.approx(low, rel=1e-12) and got.high == pytest.approx(high, rel=1e-12)
    assert got.sd == pytest.approx(np.std(x, ddof=1)) and got.n == len(x) and got.confidence == 0.95
    # by hand for the first: t_{0.975, 2} = 4.302653
    if len(x) == 3:
        half = 4.302652729911275 * np.std(x, ddof=1) / math.sqrt(3)
        assert got.high - got.mean == pytest.approx(half, rel=1e-9)
    one = t_interval([0.5])
    assert one.mean == 0.5 and one.low is None and one.sd is None


def test_paired_difference_is_ttest_rel() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 9):
        a, b = rng.normal(0.9, 0.02, n), rng.normal(0.89, 0.02, n)
        got = paired_difference(a, b)
        want = sps.ttest_rel(a, b)
        assert got.t == pytest.approx(want.statistic, rel=1e-12) and got.p_value == pytest.approx(want.pvalue, rel=1e-12)
        d = a - b
        assert got.difference.mean == pytest.approx(d.mean())
        low, high = sps.t.interval(0.95, n - 1, loc=d.mean(), scale=sps.sem(d))
        assert (got.difference.low, got.difference.high) == pytest.approx((low, high))
        # the interval excludes 0 exactly when the test rejects at 5 %
        assert (got.difference.low > 0 or got.difference.high < 0) == (got.p_value < 0.05)
    same = paired_difference([1.0, 2.0], [0.5, 1.5])
    assert same.t == math.inf and same.p_value == 0.0
    assert paired_difference([1.0, 2.0], [1.0, 2.0]).p_value is None
    # equal up to float rounding (means of the same numbers summed in another order): no t from noise
    a = [sum([0.1, 0.2, 0.3]) / 3, 0.5]
    b = [sum([0.3, 0.2, 0.1]) / 3, 0.5]
    assert a[0] != b[0] and paired_difference(a, b).t is None
    assert paired_difference([1.0], [0.0]).t is None
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_holm_against_a_hand_worked_table() -> None:
    # m = 4. sorted: 0.005 (x4 = 0.020), 0.010 (x3 = 0.030), 0.030 (x2 = 0.060), 0.040 (x1 = 0.040 -> 0.060 by monotonicity)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1; an untested (None) value is not counted in m
    assert holm([0.5, None, 0.6]) == [1.0, None, 1.0]
    # m = 3: 0.001 x3 = 0.003; 0.02 x2 = 0.04; 0.02 x1 = 0.02 -> 0.04
    assert holm([0.02, 0.001, 0.02]) == pytest.approx([0.04, 0.003, 0.04])
    assert holm([]) == [] and holm([0.2]) == [0.2]


def _arms(net: int, gains: dict[str, float]) -> Arms:
    """One network's arms: the reference at 0.9 (+ a per-network shift), each arm its gain above it."""
    shift = 0.01 * ((net * 7) % 5)
    values = {("random:reinit", "keep 25%"): 0.9 + shift}
    for arm, gain in gains.items():
        values[(arm, "keep 25%")] = 0.9 + shift + gain + 0.001 * ((net * 3) % 4)
    return Arms(values, {a: "random:reinit" for a in gains}, ("keep 25%",))


def test_one_network_is_conditional() -> None:
    c = compare("ut", "unit_ticket", {}, [("seed=0", _arms(0, {"a:original": 0.01}))])
    assert c.conditional and "conditional on one network (seed=0)" in c.note()
    (e,) = c.effects
    assert e.differences == pytest.approx((0.01,)) and e.test.p_value is None and e.p_holm is None and not c.best


def test_few_networks_name_no_best_and_holm_covers_every_arm() -> None:
    nets = [(f"seed={i}", _arms(i, {"a:original": 0.02, "b:original": -0.01, "c:original": 0.0})) for i in range(4)]
    c = compare("ut", "unit_ticket", {}, nets)
    assert not c.best and "no best arm" in c.note() and len(c.effects) == 3
    assert [e.p_holm for e in c.effects] == holm([e.test.p_value for e in c.effects])
    a = next(e for e in c.effects if e.arm == "a:original")
    want = sps.ttest_rel([v.values[("a:original", "keep 25%")] for _, v in nets], [v.values[("random:reinit", "keep 25%")] for _, v in nets])
    assert a.test.p_value == pytest.approx(want.pvalue) and a.test.difference.low > 0


def test_best_arm_is_chosen_on_half_and_measured_on_the_rest() -> None:
    n = MIN_NETWORKS_FOR_BEST
    nets = [(f"seed={i}", _arms(i, {"a:original": 0.02 if i < n // 2 else -0.01, "b:original": 0.01})) for i in range(n)]
    c = compare("ut", "unit_ticket", {}, nets)
    (b,) = c.best
    # a wins on the choosing half; its margin on the other half is negative, which is the honest number
    assert b.arm == "a:original" and b.chosen_on == ("seed=0", "seed=1", "seed=2") and b.measured_on == ("seed=3", "seed=4", "seed=5")
    assert b.margin is not None and b.margin.difference.mean < 0
