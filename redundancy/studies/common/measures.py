"""Small pure functions on weight matrices, in the seed report's notation.

A layer's weight is read as W ∈ R^{n×m}: one row w_i per unit (a Conv filter is
flattened to a row). Ŵ has the rows normalized, ŵ_i = w_i / ‖w_i‖.
"""

from __future__ import annotations

import torch

from redundancy.studies.common.weights import as_matrix, normalize_rows


def gram(w_hat: torch.Tensor) -> torch.Tensor:
    """X = Ŵ Ŵᵀ, X_ij = ⟨ŵ_i, ŵ_j⟩ (n × n)."""
    return w_hat @ w_hat.T


def frame_potential(w: torch.Tensor, *, normalized: bool = False) -> float:
    """FP(Ŵ) = Σ_{i,j} |⟨ŵ_i, ŵ_j⟩|² = ‖Ŵ Ŵᵀ‖²_F (rows normalized first unless ``normalized``)."""
    w = as_matrix(w).double()
    w_hat = w if normalized else normalize_rows(w)
    return float(gram(w_hat).pow(2).sum())


def fp_contributions(w: torch.Tensor, *, normalized: bool = False) -> torch.Tensor:
    """c_i = Σ_j ⟨ŵ_i, ŵ_j⟩²: unit i's contribution to FP(Ŵ) (the seed's saliency); Σ_i c_i = FP."""
    w = as_matrix(w).double()
    w_hat = w if normalized else normalize_rows(w)
    return gram(w_hat).pow(2).sum(dim=1)


def fp_lower_bound(n: int, d: int) -> float:
    """The least frame potential of n unit vectors in R^d: max(n, n²/d), reached by a tight frame."""
    return float(max(n, n * n / d))
