"""Pure measures of how a layer's weights self-organize during training (the ``dynamics`` study).

Notation as in the seed report: a layer's weight is W ∈ R^{n×d}, one row w_i per
unit (a Conv filter flattened), Ŵ its row-normalized version, Z the same layer at
initialization (iteration 0). Everything here takes and returns NumPy arrays or
plain numbers, computes in float64 and is deterministic given its seed, so each
function can be checked against a brute-force or textbook computation.

The spectrum's measures are in :mod:`.spectrum`. Sources of the signatures (seed §2.1):
- distance from initialization ‖W − Z‖_F (Neyshabur et al. 2018);
- the spectrum of X = W Wᵀ / d against the Marchenko–Pastur bulk of a random
  matrix, and the power-law tail exponent α (Martin & Mahoney 2018);
- clustering of unit directions, K-Means with 4 clusters and the angle of each
  unit to its closest centre (Brutzkus & Globerson 2019);
- repeated units, whose outputs correlate above 0.5 (Casper et al. 2019).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from redundancy.store.document import StudyEntry, as_study_entries
from redundancy.studies.common.measures import fp_lower_bound, frame_potential
from redundancy.studies.common.weights import EPS, as_rows64


def unit_directions(w: np.ndarray) -> np.ndarray:
    """Ŵ: rows divided by their ℓ2 norm (a zero row stays zero)."""
    w = as_rows64(w)
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), EPS)


# --- frame potential and distance ---------------------------------------------------------------


def frame_potential_ratio(w: np.ndarray) -> tuple[float, float]:
    """(FP(Ŵ), FP(Ŵ) / max(n, n²/d)).

    FP(Ŵ) = Σ_{i,j} ⟨ŵ_i, ŵ_j⟩² = ‖Ŵ Ŵᵀ‖²_F; the denominator is the least frame potential of
    n unit vectors in R^d, reached by a tight frame, so the ratio is 1 for a maximally spread
    layer and n / max(1, n/d) when every unit points the same way.
    """
    rows = as_rows64(w)
    fp = frame_potential(torch.from_numpy(rows))
    return fp, fp / fp_lower_bound(*rows.shape)


def distance_from_init(w: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """(‖W − Z‖_F, ‖W − Z‖_F / ‖Z‖_F): Neyshabur et al.'s distance to the initialization Z."""
    w, z = as_rows64(w), as_rows64(z)
    dist = float(np.linalg.norm(w - z))
    return dist, dist / max(float(np.linalg.norm(z)), EPS)


# --- clustering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clustering:
    """Spherical K-Means of unit directions: centres (k, d) of norm 1, a label per unit, the objective."""

    centres: np.ndarray
    labels: np.ndarray
    objective: float  # Σ_i ⟨û_i, c_{label(i)}⟩, the mean cosine similarity times n

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.centres.shape[0])


def _kmeans_pp(u: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on the sphere: each next centre drawn with probability ∝ (1 − best cosine)."""
    n = u.shape[0]
    idx = [int(rng.integers(n))]
    best = u @ u[idx[0]]
    for _ in range(1, k):
        weight = np.clip(1.0 - best, 0.0, None)
        total = weight.sum()
        j = int(rng.choice(n, p=weight / total)) if total > EPS else int(rng.integers(n))
        idx.append(j)
        best = np.maximum(best, u @ u[j])
    return u[idx].copy()


def spherical_kmeans(
    w: np.ndarray, k: int, *, restarts: int = 10, seed: int = 0, max_iter: int = 100
) -> Clustering:
    """Cluster the unit directions ŵ_i by cosine similarity (spherical K-Means), best of ``restarts``.

    Each restart seeds k centres by k-means++ on 1 − cos, then alternates: assign each unit to
    the centre c_j maximizing ⟨ŵ_i, c_j⟩, and set c_j to the normalized mean of its units (an
    empty cluster takes the unit farthest from its centre). The restart with the largest
    Σ_i ⟨ŵ_i, c_{label(i)}⟩ is kept; restarts draw from one generator seeded by ``seed``.
    Sign matters: w and −w are different ReLU units, so they are not merged.
    """
    u = unit_directions(w)
    n = u.shape[0]
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    best: Clustering | None = None
    for _ in range(max(1, restarts)):
        centres = _kmeans_pp(u, k, rng)
        labels = np.full(n, -1)
        for _ in range(max_iter):
            sim = u @ centres.T  # (n, k)
            new = np.argmax(sim, axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                counts = np.bincount(labels, minlength=k)
                if counts[j] == 0:
                    # refill an empty cluster with the worst-fitting unit of a cluster that can spare one
                    fit = np.where(counts[labels] > 1, sim[np.arange(n), labels], np.inf)
                    labels[int(np.argmin(fit))] = j
            for j in range(k):
                mean = u[labels == j].sum(axis=0)
                norm = np.linalg.norm(mean)
                centres[j] = mean / norm if norm > EPS else u[labels == j][0]
        objective = float(np.sum(np.max(u @ centres.T, axis=1)))
        labels = np.argmax(u @ centres.T, axis=1)
        if best is None or objective > best.objective + 1e-12:
            best = Clustering(centres.copy(), labels, objective)
    assert best is not None
    return best


def angles_to_closest_centre(w: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Angle (degrees) between each unit direction ŵ_i and its closest centre: arccos max_j ⟨ŵ_i, c_j⟩."""
    cos = np.max(unit_directions(w) @ np.asarray(centres, dtype=np.float64).T, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# --- repeated units -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrelatedPairs:
    """Pairs (i, j), i < j, of units whose outputs correlate above a threshold, with their correlations."""

    pairs: np.ndarray  # (P, 2) int64
    correlation: np.ndarray  # (P,) float64, signed
    dead: np.ndarray  # (n,) bool: units with constant output on the probe (no correlation defined)

    @property
    def count(self) -> int:
        return int(self.pairs.shape[0])

    @property
    def units_in_pairs(self) -> int:
        return int(np.unique(self.pairs).size)


def correlation_from_moments(count: float, total: np.ndarray, outer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation ρ_ij of unit outputs from their moments over N samples.

    ``count`` = N, ``total`` = Σ_s a_s (n,), ``outer`` = Σ_s a_s a_sᵀ (n, n). With
    C = outer / N − μ μᵀ, ρ_ij = C_ij / √(C_ii C_jj). Returns (ρ (n, n), dead (n,)): a unit whose
    output is constant on the samples has no correlation (NaN row and column) and is marked dead.
    """
    mu = np.asarray(total, dtype=np.float64) / count
    cov = np.asarray(outer, dtype=np.float64) / count - np.outer(mu, mu)
    var = np.clip(np.diag(cov), 0.0, None)
    scale = float(var.max()) if var.size else 0.0
    dead = var <= 1e-12 * max(scale, EPS)
    std = np.sqrt(np.where(dead, 1.0, var))
    rho = np.clip(cov / np.outer(std, std), -1.0, 1.0)
    rho[dead, :] = np.nan
    rho[:, dead] = np.nan
    return rho, dead


def activation_correlation(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ρ and the dead mask of unit outputs ``acts`` (samples, n units); see :func:`correlation_from_moments`."""
    a = np.asarray(acts, dtype=np.float64)
    return correlation_from_moments(a.shape[0], a.sum(axis=0), a.T @ a)


def pairs_above(rho: np.ndarray, dead: np.ndarray, threshold: float) -> CorrelatedPairs:
    """Casper et al.'s repeated units: pairs i < j with |ρ_ij| > ``threshold``.

    The absolute value counts both a copy (ρ ≈ 1) and a negated copy (ρ ≈ −1): either way one
    unit's output is an affine function of the other's, so the next layer could absorb it.
    """
    n = rho.shape[0]
    i, j = np.triu_indices(n, k=1)
    r = rho[i, j]
    keep = np.abs(np.nan_to_num(r, nan=0.0)) > threshold
    pairs = np.stack([i[keep], j[keep]], axis=1).astype(np.int64).reshape(-1, 2)
    return CorrelatedPairs(pairs, r[keep], np.asarray(dead, dtype=bool))


def correlated_pairs(acts: np.ndarray, threshold: float) -> CorrelatedPairs:
    """Repeated units among the columns of ``acts`` (samples, n units)."""
    return pairs_above(*activation_correlation(acts), threshold)


def correlated_pairs_from_moments(count: float, total: np.ndarray, outer: np.ndarray, threshold: float) -> CorrelatedPairs:
    """Repeated units from streamed moments (see :func:`correlation_from_moments`)."""
    return pairs_above(*correlation_from_moments(count, total, outer), threshold)


# --- trajectory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """Every unit's direction over training projected on 2 principal axes: points (T, n, 2)."""

    points: np.ndarray
    components: np.ndarray  # (2, d), unit norm
    explained: np.ndarray  # (2,), fraction of the total variance along each axis


def pca_trajectory(directions: Sequence[np.ndarray], *, exact_limit: int = 4096, seed: int = 0) -> Trajectory:
    """PCA fitted on all checkpoints together: the T·n unit directions ŵ_i(t) stacked, centred.

    With A the (T·n, d) centred stack, the axes are A's top two right singular vectors. Exact
    (eigendecomposition of the smaller of AᵀA and AAᵀ, in float64) when that side is at most
    ``exact_limit``; otherwise a seeded randomized SVD (Halko et al. 2011) in float32, which
    keeps memory at one copy of the stack for very wide layers. Each axis's sign is fixed so
    that its largest loading is positive, so the same data always gives the same picture.
    """
    t = len(directions)
    n, d = as_rows64(directions[0]).shape
    exact = min(t * n, d) <= exact_limit
    dtype = np.float64 if exact else np.float32
    a = np.empty((t * n, d), dtype=dtype)
    for i, w in enumerate(directions):
        a[i * n : (i + 1) * n] = unit_directions(w)
    a -= a.mean(axis=0, keepdims=True)
    total = float(np.sum(a.astype(np.float64) ** 2)) if exact else float(np.einsum("ij,ij->", a, a, dtype=np.float64))
    r = min(2, t * n, d)
    if exact:
        if d <= t * n:
            vals, vecs = np.linalg.eigh(a.T @ a)  # (d, d)
            comps = vecs[:, ::-1][:, :r].T
            var = vals[::-1][:r]
        else:
            vals, vecs = np.linalg.eigh(a @ a.T)  # (T·n, T·n)
            var = vals[::-1][:r]
            comps = (a.T @ vecs[:, ::-1][:, :r]).T
    else:
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            _, s, v = torch.svd_lowrank(torch.from_numpy(a), q=r + 8, niter=6)
        finally:
            torch.random.set_rng_state(state)
        comps = v[:, :r].numpy().T.astype(np.float64)
        var = s[:r].double().numpy() ** 2
    comps = comps / np.maximum(np.linalg.norm(comps, axis=1, keepdims=True), EPS)
    signs = np.sign(comps[np.arange(r), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = np.clip(np.asarray(var, dtype=np.float64), 0.0, None)
    if r < 2:
        comps = np.vstack([comps, np.zeros((2 - r, d))])
        var = np.concatenate([var, np.zeros(2 - r)])
    points = (a @ comps.T.astype(dtype)).astype(np.float64).reshape(t, n, 2)
    explained = var / total if total > 0 else np.zeros(2)
    return Trajectory(points, comps, explained)


# --- across widths ------------------------------------------------------------------------------

# metric -> the key of its end-of-training value in a layer's summary (see ``dynamics._layer_summary``)
WIDTH_METRICS = {
    "frame_potential": "fp_end",
    "fp_ratio": "fp_ratio_end",
    "distance_from_init": "distance_end",
    "relative_distance": "rel_distance_end",
    "stable_rank": "stable_rank_end",
    "alpha": "alpha_end",
    "spikes": "spikes_end",
    "mean_angle_to_centre": "angle_end",
    "repeated_pairs": "repeated_end",
    "repeated_fraction": "repeated_fraction_end",
    "removable_units": "removable_end",
}


def _trend(values: Sequence[float]) -> str:
    """"increasing", "decreasing", "flat" or "mixed" over consecutive finite values."""
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if len(v) < 2:
        return "n/a"
    diffs = np.diff(np.asarray(v, dtype=np.float64))
    if np.all(diffs == 0):
        return "flat"
    if np.all(diffs >= 0):
        return "increasing"
    if np.all(diffs <= 0):
        return "decreasing"
    return "mixed"


def compare_widths(study_docs: Iterable[StudyEntry | Mapping[str, Any]]) -> dict[str, Any]:
    """End-of-training values of each layer's metrics against the width multiplier.

    ``study_docs`` are the study entries of a store's document (:attr:`Document.studies
    <redundancy.store.document.Document.studies>`, or their ``show --json`` shape); only
    finished ``dynamics`` entries are used, others are ignored. Runs of the same width (several
    seeds) are averaged. Returns ``{"widths": [w...], "runs": [count per width], "layers":
    {layer: {metric: [value per width], ..., "trend": {metric: "increasing" | "decreasing" |
    "flat" | "mixed" | "n/a"}}}}``; a metric missing at some width is NaN there.
    """
    by_width: dict[float, list[dict[str, Any]]] = {}
    for entry in as_study_entries(study_docs):
        if entry.kind != "dynamics" or not entry.done:
            continue
        summary = entry.summary
        if "width" not in summary:
            continue
        by_width.setdefault(float(summary["width"]), []).append(summary)
    widths = sorted(by_width)
    layer_names: list[str] = []
    for w in widths:
        for s in by_width[w]:
            for name in s.get("layers", []):
                if name not in layer_names:
                    layer_names.append(name)
    layers: dict[str, Any] = {}
    for name in layer_names:
        row: dict[str, Any] = {}
        for metric, key in WIDTH_METRICS.items():
            values = []
            for w in widths:
                found = [
                    float(s[name][key])
                    for s in by_width[w]
                    if isinstance(s.get(name), dict) and s[name].get(key) is not None
                ]
                finite = [x for x in found if not math.isnan(x)]
                values.append(float(np.mean(finite)) if finite else math.nan)
            if any(not math.isnan(x) for x in values):
                row[metric] = values
        row["trend"] = {metric: _trend(vals) for metric, vals in row.items()}
        layers[name] = row
    return {"widths": widths, "runs": [len(by_width[w]) for w in widths], "layers": layers}
