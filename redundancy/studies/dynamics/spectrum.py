"""The spectrum of a layer against the random bulk, and its power-law tail (the ``dynamics`` study, seed §2.1).

W ∈ R^{n×d} has one row per unit (a Conv filter flattened), Z the same layer at
initialization; X = W Wᵀ / d. Its eigenvalues are compared with the
Marchenko–Pastur bulk of a random matrix whose entries have Z's variance, and
the tail's exponent α is fitted (Martin & Mahoney 2018). NumPy in float64,
deterministic: each function is checked against a textbook computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from redundancy.studies.common.weights import EPS, as_rows64

# A pure-noise top eigenvalue exceeds the Marchenko–Pastur edge by more than this many
# Tracy–Widom scale units only a few times in 10⁴ (TW₁ upper tail; 1 in 4,000 in a simulation
# of 40×100 and 100×30 Gaussian matrices with σ² fitted to the same matrix), so an eigenvalue
# beyond it is read as signal (a "spike") rather than finite-size fluctuation.
TW_MARGIN = 4.0

# Power-law fits need enough eigenvalues to mean anything (Clauset et al. 2009 warn
# that fewer than ~50 tail points give loose estimates; below these we refuse to fit).
MIN_EIGENVALUES_FOR_ALPHA = 20
MIN_TAIL_FOR_ALPHA = 10


def correlation_eigenvalues(w: np.ndarray) -> np.ndarray:
    """All n eigenvalues of X = W Wᵀ / d, ascending.

    Computed from the smaller of W Wᵀ and Wᵀ W (they share their nonzero eigenvalues); when
    n > d the n − d eigenvalues that are zero by rank are returned as exact zeros.
    """
    w = as_rows64(w)
    n, d = w.shape
    g = w @ w.T if n <= d else w.T @ w
    lam = np.clip(np.linalg.eigvalsh(g), 0.0, None) / d
    if n > d:
        lam = np.concatenate([np.zeros(n - d), lam])
    return lam


def mp_variance(z: np.ndarray) -> float:
    """σ², the variance of the entries of the initial weights Z (the random bulk's scale)."""
    return float(np.var(as_rows64(z)))


def mp_edges(sigma2: float, n: int, d: int) -> tuple[float, float]:
    """Marchenko–Pastur support [λ₋, λ₊] of X = W Wᵀ / d for W ∈ R^{n×d} with i.i.d. entries of variance σ².

    With aspect ratio q = n/d the nonzero eigenvalues fill σ² (1 ∓ √q)² as n, d → ∞ (for q > 1
    the lower edge is σ² (√q − 1)²; the other n − d eigenvalues are zero).
    """
    q = n / d
    return sigma2 * (1.0 - math.sqrt(q)) ** 2, sigma2 * (1.0 + math.sqrt(q)) ** 2


def tracy_widom_scale(sigma2: float, n: int, d: int) -> float:
    """Scale of the top eigenvalue's finite-size fluctuation around λ₊ (Johnstone 2001).

    λ_max(W Wᵀ) ≈ σ² [(√n + √d)² + s (√n + √d)(1/√n + 1/√d)^{1/3} TW₁]; dividing by d gives X's scale.
    """
    a, b = math.sqrt(n), math.sqrt(d)
    return sigma2 * (a + b) * (1.0 / a + 1.0 / b) ** (1.0 / 3.0) / d


def spike_threshold(sigma2: float, n: int, d: int, margin: float = TW_MARGIN) -> float:
    """λ₊ plus ``margin`` Tracy–Widom scale units: eigenvalues above it are counted as spikes."""
    return mp_edges(sigma2, n, d)[1] + margin * tracy_widom_scale(sigma2, n, d)


def count_spikes(eigenvalues: np.ndarray, threshold: float) -> int:
    """Number of eigenvalues above the bulk edge (with its finite-size margin)."""
    return int(np.sum(np.asarray(eigenvalues) > threshold))


def stable_rank(eigenvalues: np.ndarray) -> float:
    """‖W‖²_F / ‖W‖²_2 = Σ λ_i / max λ_i for the eigenvalues λ of W Wᵀ (any common scale cancels)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    top = float(lam.max()) if lam.size else 0.0
    return float(lam.sum() / top) if top > 0 else 0.0


@dataclass(frozen=True)
class PowerLawFit:
    """A continuous power law p(x) ∝ x^{−α} for x ≥ x_min fitted to a sample's tail.

    ``status`` is ``"fitted"``, or why no fit was made (then α, x_min and ks are NaN).
    """

    alpha: float
    x_min: float
    ks: float
    n_tail: int
    status: str

    @property
    def fitted(self) -> bool:
        return self.status == "fitted"


def power_law_mle(tail: np.ndarray, x_min: float) -> float:
    """α̂ = 1 + m / Σ_i ln(x_i / x_min), the continuous maximum-likelihood exponent of m tail points."""
    tail = np.asarray(tail, dtype=np.float64)
    s = float(np.sum(np.log(tail / x_min)))
    return 1.0 + tail.size / s if s > 0 else math.inf


def fit_power_law(
    sample: np.ndarray,
    *,
    min_sample: int = MIN_EIGENVALUES_FOR_ALPHA,
    min_tail: int = MIN_TAIL_FOR_ALPHA,
) -> PowerLawFit:
    """The tail exponent α by Clauset, Shalizi & Newman (2009): MLE above the x_min that minimizes KS distance.

    For each candidate x_min (every sample value leaving at least ``min_tail`` points at or
    above it) the tail x ≥ x_min gets α̂ = 1 + m / Σ ln(x_i / x_min) and the Kolmogorov–Smirnov
    distance D = max_x |S(x) − P(x)| between its empirical CDF S and the fitted
    P(x) = 1 − (x / x_min)^{1−α̂}; the candidate with the least D wins. Only positive values
    count (zero eigenvalues of a rank-deficient X are no part of the density). Samples with
    fewer than ``min_sample`` positive values are not fitted and say so in ``status``.
    """
    x = np.sort(np.asarray(sample, dtype=np.float64))
    x = x[x > EPS * max(1.0, float(x[-1]) if x.size else 1.0)]
    nan = math.nan
    if x.size < min_sample:
        return PowerLawFit(nan, nan, nan, 0, f"too small ({x.size} eigenvalues < {min_sample})")
    n = x.size
    logs = np.log(x)
    suffix = np.cumsum(logs[::-1])[::-1]  # suffix[k] = Σ_{i ≥ k} ln x_i
    best = (math.inf, -1, nan)
    for k in range(0, n - min_tail + 1):
        if k > 0 and x[k] == x[k - 1]:
            continue  # the same x_min as the previous candidate
        m = n - k
        s = suffix[k] - m * logs[k]
        if s <= 0:
            continue  # all tail values equal: no exponent
        alpha = 1.0 + m / s
        tail = x[k:]
        model_cdf = 1.0 - (tail / x[k]) ** (1.0 - alpha)
        upper = np.arange(1, m + 1) / m
        lower = np.arange(0, m) / m
        ks = float(max(np.max(np.abs(upper - model_cdf)), np.max(np.abs(lower - model_cdf))))
        if ks < best[0]:
            best = (ks, k, alpha)
    ks, k, alpha = best
    if k < 0:
        return PowerLawFit(nan, nan, nan, 0, "no fit: the largest values are all equal")
    return PowerLawFit(float(alpha), float(x[k]), ks, n - k, "fitted")
