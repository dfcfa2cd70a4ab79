"""Linear algebra of the subspace study, as small pure functions (float64 throughout).

Notation (seed §2.1, after Nagarajan & Kolter 2019). A layer's weight is read
as a matrix W ∈ R^{n×m}, one row per unit (a Conv filter flattened to a row).
Z is its value at initialization and Δ the *target* of the projection: the
update Δ = W − Z, or the weights themselves (Δ = W, Z taken as 0).
Its SVD is Δ = U Σ Vᵀ with U ∈ R^{n×r}, r = min(n, m), σ_1 ≥ … ≥ σ_r.

A *basis* is an ordered orthonormal B ∈ R^{n×c} whose span contains every
column of Δ; the rank-k projection keeps its first k columns, B_k:

    W_k = Z + B_k B_kᵀ Δ,        R_k = Δ − B_k B_kᵀ Δ (the removed residual).

``top`` is B = U (leading singular directions first), ``bottom`` is U in
reverse order (trailing first) and ``random`` a Haar-random orthonormal basis
of all of R^n (c = n): its k-dimensional subspaces are nested, so one seed
gives one random subspace per k, each inside the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Basis = Literal["top", "bottom", "random"]


def left_singular(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, σ) of the reduced SVD Δ = U Σ Vᵀ: U is n × r with r = min(n, m), σ descending."""
    u, s, _ = torch.linalg.svd(delta, full_matrices=False)
    return u, s


def random_orthonormal(n: int, seed: int) -> torch.Tensor:
    """A Haar-random orthogonal Q ∈ R^{n×n}: QR of a Gaussian matrix, signs fixed by diag(R) > 0.

    Without the sign fix the distribution of Q would depend on the QR routine's
    conventions; with it, Q is uniform on the orthogonal group.
    """
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(n, n, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return q * signs


def ordered_basis(u: torch.Tensor, basis: Basis, seed: int = 0) -> torch.Tensor:
    """The ordered orthonormal basis B whose first k columns span the rank-k subspace.

    ``u`` is the left-singular matrix of Δ (n × r). ``top`` → U, ``bottom`` → U
    with its columns reversed, ``random`` → a random orthogonal n × n (``seed``).
    """
    if basis == "top":
        return u
    if basis == "bottom":
        return u.flip(1)
    if basis == "random":
        return random_orthonormal(u.shape[0], seed)
    raise ValueError(f"unknown basis {basis!r}; expected top, bottom or random")


def projected_weight(z: torch.Tensor, delta: torch.Tensor, basis: torch.Tensor, k: int) -> torch.Tensor:
    """W_k = Z + B_k B_kᵀ Δ (all matrices n × m)."""
    b_k = basis[:, :k]
    return z + b_k @ (b_k.T @ delta)


@dataclass(frozen=True)
class ResidualNorms:
    """Per requested k: ‖R_k‖₂, ‖R_k‖_F and the energy kept ‖B_k B_kᵀ Δ‖²_F / ‖Δ‖²_F."""

    spectral: torch.Tensor
    frobenius: torch.Tensor
    energy_kept: torch.Tensor


def residual_norms(basis: torch.Tensor, delta: torch.Tensor, ks: list[int]) -> ResidualNorms:
    """Norms of R_k = Δ − B_k B_kᵀ Δ for each k in ``ks``, without forming R_k.

    With M = BᵀΔ (rows μ_i = b_iᵀΔ) and col(Δ) ⊆ span(B), R_k = B_{>k} M_{>k}, so
    ‖R_k‖_F² = Σ_{i>k} ‖μ_i‖² and ‖R_k‖₂² = λ_max(G_{>k,>k}) with G = M Mᵀ: one
    small symmetric eigenproblem per k instead of an n × m SVD. For B = U this
    gives σ_{k+1}, which the tests check.
    """
    m = basis.T @ delta  # (c, m)
    row_energy = m.pow(2).sum(dim=1)  # ‖μ_i‖²
    # 0-based: prefix[k] = Σ_{i<k} ‖μ_i‖² (kept), suffix[k] = Σ_{i>=k} ‖μ_i‖² (removed); each
    # summed on its own side so that neither is a difference of nearly equal numbers.
    zero = row_energy.new_zeros(1)
    prefix = torch.cat([zero, row_energy.cumsum(0)])
    suffix = torch.cat([row_energy.flip(0).cumsum(0).flip(0), zero])
    total = float(prefix[-1])  # ‖Δ‖²_F, the same sum as prefix[c] so that energy_kept reaches 1 exactly
    gram = m @ m.T
    c = basis.shape[1]
    spectral, frobenius, energy = [], [], []
    for k in ks:
        if k >= c:
            spectral.append(0.0)
        else:
            top = float(torch.linalg.eigvalsh(gram[k:, k:])[-1])
            spectral.append(max(top, 0.0) ** 0.5)
        frobenius.append(float(suffix[min(k, c)]) ** 0.5)
        energy.append(float(prefix[min(k, c)]) / total if total > 0 else 1.0)
    as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return ResidualNorms(as_t(spectral), as_t(frobenius), as_t(energy))


def first_within(ks: list[int], accuracy: list[float], reference: float, points: float) -> int | None:
    """The smallest k whose accuracy is within ``points`` percentage points of ``reference``.

    Accuracies are fractions, so one point is 0.01; a small slack absorbs the
    float rounding of counts divided by the test size.
    """
    for k, acc in sorted(zip(ks, accuracy)):
        if acc >= reference - points / 100.0 - 1e-12:
            return int(k)
    return None
