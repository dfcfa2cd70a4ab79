"""The ``dynamics`` study: its measures against definitions and planted structure, then end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.store import open_h5
from redundancy.studies.dynamics.signatures import (
    activation_correlation,
    angles_to_closest_centre,
    compare_widths,
    correlated_pairs,
    correlated_pairs_from_moments,
    distance_from_init,
    frame_potential_ratio,
    pca_trajectory,
    spherical_kmeans,
)
from redundancy.studies.dynamics.spectrum import (
    correlation_eigenvalues,
    count_spikes,
    fit_power_law,
    mp_edges,
    mp_variance,
    spike_threshold,
    stable_rank,
)
from redundancy.store.reader import read_document
from support.tiny import run_spec, tiny_text, write_spec

# --- frame potential and distance ---------------------------------------------------------------


def test_frame_potential_of_orthonormal_set_is_n_and_of_copies_is_n_squared() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    fp, ratio = frame_potential_ratio(q[:5] * np.array([[1.0], [2.0], [0.5], [3.0], [7.0]]))
    assert fp == pytest.approx(5.0) and ratio == pytest.approx(1.0)  # a tight frame reaches the bound
    v = rng.standard_normal(12)
    copies = np.stack([v, 2 * v, -v, 0.3 * v])
    fp, ratio = frame_potential_ratio(copies)
    assert fp == pytest.approx(16.0) and ratio == pytest.approx(16.0 / 4.0)
    # a Conv weight counts one flattened filter per unit: brute-force double sum
    w = rng.standard_normal((6, 2, 3, 3))
    rows = [r / np.linalg.norm(r) for r in w.reshape(6, -1)]
    assert frame_potential_ratio(w)[0] == pytest.approx(sum((a @ b) ** 2 for a in rows for b in rows))


def test_distance_from_init_is_zero_at_init_and_frobenius_after() -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((7, 5))
    assert distance_from_init(z, z) == (0.0, 0.0)
    w = z + 0.5
    dist, rel = distance_from_init(w, z)
    assert dist == pytest.approx(math.sqrt(35 * 0.25))
    assert rel == pytest.approx(dist / math.sqrt(np.sum(z**2)))


# --- spectrum -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(200, 500), (300, 100), (64, 9)])
def test_gaussian_eigenvalues_fall_inside_the_fitted_marchenko_pastur_edge(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    sigma = 0.05
    z = rng.standard_normal((n, d)) * sigma
    lam = correlation_eigenvalues(z)
    assert lam.shape == (n,)
    # brute force: the eigenvalues of X = W Wᵀ / d itself
    assert np.allclose(np.sort(np.linalg.eigvalsh(z @ z.T / d)), lam, atol=1e-10)
    sigma2 = mp_variance(z)
    assert sigma2 == pytest.approx(sigma**2, rel=0.1)
    lower, upper = mp_edges(sigma2, n, d)
    nonzero = lam[-min(n, d):]
    assert nonzero.max() <= spike_threshold(sigma2, n, d)
    assert count_spikes(lam, spike_threshold(sigma2, n, d)) == 0
    # the edge is tight: the top of the bulk reaches close to it, the bottom stays above λ₋
    assert nonzero.max() >= 0.8 * upper
    assert nonzero.min() >= 0.5 * lower
    if n > d:
        assert np.all(lam[: n - d] == 0.0)


def test_planted_rank_one_spike_is_detected() -> None:
    rng = np.random.default_rng(3)
    n, d, sigma = 150, 400, 0.05
    z = rng.standard_normal((n, d)) * sigma
    u = rng.standard_normal(n)
    v = rng.standard_normal(d)
    spike = 3.0 * sigma * math.sqrt(d) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    threshold = spike_threshold(mp_variance(z), n, d)
    assert count_spikes(correlation_eigenvalues(z), threshold) == 0
    assert count_spikes(correlation_eigenvalues(z + spike), threshold) == 1


def test_stable_rank_is_frobenius_over_spectral_norm_squared() -> None:
    w = np.random.default_rng(4).standard_normal((20, 30))
    expected = np.sum(w**2) / np.linalg.norm(w, 2) ** 2
    assert stable_rank(correlation_eigenvalues(w)) == pytest.approx(expected)
    assert stable_rank(correlation_eigenvalues(np.outer(np.ones(5), np.arange(1.0, 4.0)))) == pytest.approx(1.0)


def test_power_law_exponent_of_a_known_sample() -> None:
    rng = np.random.default_rng(5)
    alpha, x_min = 2.5, 1.0
    tail = x_min * (1.0 - rng.random(3000)) ** (-1.0 / (alpha - 1.0))  # inverse CDF of the Pareto law
    body = rng.uniform(0.05, x_min, 1500)  # not a power law: x_min must be found above it
    fit = fit_power_law(np.concatenate([body, tail]))
    assert fit.fitted
    assert fit.alpha == pytest.approx(alpha, abs=0.15)
    assert fit.x_min == pytest.approx(x_min, rel=0.3)
    assert fit.ks < 0.05


def test_too_few_eigenvalues_are_reported_not_fitted() -> None:
    fit = fit_power_law(np.arange(1.0, 11.0))
    assert not fit.fitted and math.isnan(fit.alpha) and "too small" in fit.status
    # exact zeros of a rank-deficient X do not count as eigenvalues of the density
    fit = fit_power_law(np.concatenate([np.zeros(50), np.arange(1.0, 11.0)]))
    assert not fit.fitted


# --- clustering, repeated units, trajectory -----------------------------------------------------


def test_spherical_kmeans_recovers_planted_clusters() -> None:
    rng = np.random.default_rng(6)
    k, per, d = 4, 25, 30
    centres = rng.standard_normal((k, d))
    truth = np.repeat(np.arange(k), per)
    w = centres[truth] + 0.15 * rng.standard_normal((k * per, d)) * np.linalg.norm(centres, axis=1).mean() / math.sqrt(d)
    w *= rng.uniform(0.5, 3.0, size=(k * per, 1))  # magnitudes must not matter
    perm = rng.permutation(k * per)
    w, truth = w[perm], truth[perm]
    km = spherical_kmeans(w, k, restarts=5, seed=0)
    # the same partition up to relabelling: each true cluster maps to exactly one label
    mapping = {t: set(km.labels[truth == t]) for t in range(k)}
    assert all(len(v) == 1 for v in mapping.values())
    assert len(set().union(*mapping.values())) == k
    assert sorted(km.sizes.tolist()) == [per] * k
    angles = angles_to_closest_centre(w, km.centres)
    random_angles = angles_to_closest_centre(rng.standard_normal((100, d)), km.centres)
    assert angles.max() < 20.0 < 60.0 < random_angles.mean()
    # seeded: the same call gives the same clustering
    again = spherical_kmeans(w, k, restarts=5, seed=0)
    assert np.array_equal(again.labels, km.labels)


def test_kmeans_with_more_clusters_than_units_uses_one_per_unit() -> None:
    km = spherical_kmeans(np.eye(3), 4, restarts=2)
    assert km.centres.shape == (3, 3) and sorted(km.sizes.tolist()) == [1, 1, 1]
    assert np.allclose(angles_to_closest_centre(np.eye(3), km.centres), 0.0, atol=1e-6)


def test_correlated_unit_detection_finds_a_duplicated_unit() -> None:
    rng = np.random.default_rng(7)
    acts = np.maximum(rng.standard_normal((500, 8)), 0.0)
    acts[:, 6] = 3.0 * acts[:, 2] + 0.01 * rng.standard_normal(500)
    acts[:, 7] = 0.0  # a dead unit: no correlation, never paired
    found = correlated_pairs(acts, 0.5)
    assert found.pairs.tolist() == [[2, 6]]
    assert found.correlation[0] > 0.99
    assert found.dead.tolist() == [False] * 7 + [True]
    # Pearson's ρ by brute force, and the streamed moments agree with the direct computation
    rho, _ = activation_correlation(acts)
    assert rho[1, 4] == pytest.approx(np.corrcoef(acts[:, 1], acts[:, 4])[0, 1])
    halves = [acts[:200], acts[200:]]
    streamed = correlated_pairs_from_moments(
        500, sum(h.sum(0) for h in halves), sum(h.T @ h for h in halves), 0.5
    )
    assert streamed.pairs.tolist() == [[2, 6]]
    # a negated copy is as redundant as a copy
    acts[:, 5] = -acts[:, 0]
    assert [0, 5] in correlated_pairs(acts, 0.5).pairs.tolist()


def test_pca_trajectory_matches_brute_force_svd() -> None:
    rng = np.random.default_rng(8)
    steps = [rng.standard_normal((6, 10)) for _ in range(4)]
    traj = pca_trajectory(steps)
    assert traj.points.shape == (4, 6, 2)
    stack = np.concatenate([s / np.linalg.norm(s, axis=1, keepdims=True) for s in steps])
    stack -= stack.mean(axis=0)
    _, s, vt = np.linalg.svd(stack, full_matrices=False)
    for i in range(2):
        assert abs(traj.components[i] @ vt[i]) == pytest.approx(1.0)
    assert traj.explained == pytest.approx(s[:2] ** 2 / np.sum(s**2))
    assert np.allclose(traj.points.reshape(-1, 2), stack @ traj.components.T)
    # the randomized path (for very wide layers) gives the same axes
    fast = pca_trajectory(steps, exact_limit=0)
    assert np.allclose(np.abs(fast.components @ traj.components.T), np.eye(2), atol=1e-4)
    # and the wide case (d > T·n) takes the other Gram matrix
    wide = [rng.standard_normal((3, 40)) for _ in range(2)]
    stack = np.concatenate([s / np.linalg.norm(s, axis=1, keepdims=True) for s in wide])
    stack -= stack.mean(axis=0)
    _, s, vt = np.linalg.svd(stack, full_matrices=False)
    assert abs(pca_trajectory(wide).components[0] @ vt[0]) == pytest.approx(1.0)


def test_compare_widths_lines_up_end_values() -> None:
    def doc(width: float, dist: float, alpha: float, kind: str = "dynamics") -> dict:
        return {"kind": kind, "status": "done", "summary": {"width": width, "layers": ["fc1"], "fc1": {"distance_end": dist, "alpha_end": alpha}}}

    docs = [doc(2.0, 1.0, 3.0), doc(0.5, 4.0, math.nan), doc(0.5, 2.0, 4.0), doc(1.0, 5.0, 0.0, kind="pruning"), doc(1.0, 2.5, 3.5)]
    out = compare_widths(docs)
    assert out["widths"] == [0.5, 1.0, 2.0] and out["runs"] == [2, 1, 1]
    fc1 = out["layers"]["fc1"]
    assert fc1["distance_from_init"] == [3.0, 2.5, 1.0]
    assert fc1["alpha"] == [4.0, 3.5, 3.0]  # NaN (not fitted) is left out of the mean
    assert fc1["trend"] == {"distance_from_init": "decreasing", "alpha": "decreasing"}
    assert compare_widths([]) == {"widths": [], "runs": [], "layers": {}}


# --- the study end to end -----------------------------------------------------------------------

SPEC = tiny_text("dyn", data={"train_samples": 300, "test_samples": 100}, model={"widths": [24]}, checkpoints="log:4", tail="""\
grid:
  model.width: [0.5, 1]
studies:
  - kind: dynamics
    probe: 25
    restarts: 3
""")


def test_dynamics_study_end_to_end_with_a_width_grid(tmp_path: Path) -> None:
    plan, store, report = run_spec(tmp_path, SPEC, "dyn.yaml", store=tmp_path / "store")
    assert not report.failed and len(plan.studies) == 2
    doc = read_document(store.root)
    studies = [s for s in doc["studies"] if s["kind"] == "dynamics"]
    assert sorted(s["summary"]["width"] for s in studies) == [0.5, 1.0]
    for st in studies:
        curves = st["curves"]
        assert set(curves) == {"fc1", "fc2"}
        for layer, c in curves.items():
            assert c["iteration"][0] == 0 and c["iteration"][-1] == 60
            assert c["distance_from_init"][0] == 0.0 and c["distance_from_init"][-1] > 0.0
            assert c["spikes"][0] == 0  # the bulk edge is fitted to the initialization
            for key in ("frame_potential", "fp_ratio", "stable_rank", "alpha", "mean_angle_to_centre", "repeated_pairs", "removable_units"):
                assert len(c[key]) == len(c["iteration"]), (layer, key)
            # 2-unit and ≤24-unit layers are too small for a power-law fit, and say so
            assert all(math.isnan(a) for a in c["alpha"])
            assert "too small" in st["summary"][layer]["alpha_status"]
        fc2 = st["summary"]["fc2"]
        assert fc2["clusters"] == 2  # two output units: K-Means cannot use 4 clusters
        assert fc2["distance_grew"] is True
        assert {"fp_grew", "spikes_grew", "clustering_grew"} <= set(fc2)
        # repeated pairs grow as n²: the fraction of the layer's n(n-1)/2 pairs compares widths
        fc1 = st["summary"]["fc1"]
        n = fc1["units"]
        assert fc1["repeated_fraction_end"] == fc1["repeated_end"] / (n * (n - 1) / 2)
        assert 0 <= fc1["repeated_fraction_end"] <= 1 and fc2["units"] == 2
    # tensors in the stage file
    st = studies[0]
    with open_h5(store.stage_path(st["id"])) as f:
        t = f["results/iterations"].shape[0]
        n = f["results/fc1/spectrum/eigenvalues"].shape[1]
        assert f["results/fc1/spectrum/eigenvalues"].shape == (t, n)
        assert f["results/fc1/clustering/angles"].shape == (t, n)
        assert f["results/fc1/trajectory/points"].shape == (t, n, 2)
        assert f["results/fc1/removable/accuracy_drop"].shape == (t, n)
        assert f["results/fc1/repeated/pairs"].shape[1] == 3
        assert np.all(f["results/fc1/distance_from_init"][()][0] == 0.0)
        assert isinstance(f, h5py.File)
    widths = compare_widths(doc["studies"])
    assert widths["widths"] == [0.5, 1.0] and set(widths["layers"]) == {"fc1", "fc2"}
    assert len(widths["layers"]["fc1"]["distance_from_init"]) == 2
    assert len(widths["layers"]["fc1"]["repeated_fraction"]) == 2
    # `show` prints the grid's table; `show --json` carries the curves
    result = CliRunner().invoke(app, ["show", str(store.root)])
    assert result.exit_code == 0 and "fc1" in result.output
    result = CliRunner().invoke(app, ["show", "--json", str(store.root)])
    parsed = json.loads(result.output)
    assert any(s["kind"] == "dynamics" and "fc1" in s["curves"] for s in parsed["studies"])


def test_metrics_subset_computes_only_those(tmp_path: Path) -> None:
    text = SPEC.replace("grid:\n  model.width: [0.5, 1]\n", "").replace(
        "    restarts: 3\n", "    restarts: 3\n    metrics: [distance, spectrum]\n    checkpoints: [final]\n    layers: [fc1]\n"
    )
    _, store, report = run_spec(tmp_path, text, "dyn.yaml", store=tmp_path / "store")
    assert not report.failed
    (st,) = [s for s in read_document(store.root)["studies"] if s["kind"] == "dynamics"]
    assert set(st["curves"]) == {"fc1"}
    assert set(st["curves"]["fc1"]) == {"iteration", "distance_from_init", "relative_distance", "stable_rank", "alpha", "spikes"}
    assert st["curves"]["fc1"]["iteration"] == [0, 60]  # the initialization is always measured
    assert set(st["summary"]["fc1"]) == {"units", "distance_end", "rel_distance_end", "distance_grew", "spikes_start", "spikes_end",
                                         "spikes_grew", "stable_rank_end", "alpha_end", "alpha_status"}
    # `show` prints one row per summary key and one column per layer
    result = CliRunner().invoke(app, ["show", str(store.root)])
    assert result.exit_code == 0 and "distance_grew" in result.output and "spikes_end" in result.output


@pytest.mark.parametrize(
    "study, path, words",
    [
        ("layers: [fc9]", "studies[0].layers[0]", "unknown layer 'fc9'"),
        ("checkpoints: [7]", "studies[0].checkpoints[0]", "keeps no checkpoint at iteration 7"),
        ("metrics: [spectrum, spectra]", "studies[0].metrics[1]", "spectrum"),
        ("clusters: 0", "studies[0].clusters", "greater than or equal to 1"),
        ("correlation_threshold: 1.5", "studies[0].correlation_threshold", "less than 1"),
        ("metrics: [distance, distance]", "studies[0].metrics", "listed twice"),
    ],
)
def test_bad_fields_are_named_with_their_line(tmp_path: Path, study: str, path: str, words: str) -> None:
    text = SPEC.replace("grid:\n  model.width: [0.5, 1]\n", "").replace("    restarts: 3\n", f"    {study}\n")
    spec_path = write_spec(tmp_path, text, "bad.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(spec_path)
    problems = info.value.problems
    assert any(p.path == path and words in p.message and p.line is not None for p in problems), problems
