"""How well a weight matrix aligns with the data it acts on, as small pure functions (float64).

Nagarajan & Kolter (2019) describe the part of a layer's update W − Z that
training leaves outside a few singular directions as noise "poorly aligned
with the data". Here that is a number. For a matrix R ∈ R^{n×m} acting on the
layer's inputs X ∈ R^{N×m} (rows = samples, m = fan-in),

    ρ(R) = m · ‖R Xᵀ‖²_F / (‖R‖²_F · ‖X‖²_F).

For a random R with i.i.d. isotropic rows, E‖R Xᵀ‖²_F = ‖R‖²_F ‖X‖²_F / m, so
ρ = 1 in expectation: ρ > 1 means R's rows lie where the data has more than
its average energy per direction, ρ < 1 where it has less. With the input
second-moment matrix C = XᵀX, ‖R Xᵀ‖²_F = tr(R C Rᵀ) and ‖X‖²_F = tr(C), so
only C (m × m) is ever needed.

Along an ordered orthonormal basis B ∈ R^{n×c} whose span holds every column
of Δ (:mod:`redundancy.studies.subspace.linalg`), with μ_i = b_iᵀ Δ the kept part
P_k = B_k B_kᵀ Δ and the residual R_k = Δ − P_k have

    ‖P_k‖²_F = Σ_{i≤k} ‖μ_i‖²,     ‖P_k Xᵀ‖²_F = Σ_{i≤k} μ_i C μ_iᵀ,

and the same sums over i > k for R_k (B has orthonormal columns), so every k
costs one cumulative sum. The residual's *share* of the change in
pre-activations is ‖R_k Xᵀ‖_F / ‖Δ Xᵀ‖_F.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from redundancy.studies.common.weights import as_matrix64


def second_moment(x: torch.Tensor) -> torch.Tensor:
    """C = XᵀX in float64 for X (N, m), rows = samples."""
    x64 = x.detach().to("cpu", torch.float64).reshape(x.shape[0], -1)
    return x64.T @ x64


def alignment(r: torch.Tensor, x: torch.Tensor) -> float:
    """ρ(R) = m ‖R Xᵀ‖²_F / (‖R‖²_F ‖X‖²_F) for R (n, m) and X (N, m); NaN when R or X is zero."""
    r64 = as_matrix64(r)
    return alignment_from_moment(r64, second_moment(x))


def alignment_from_moment(r: torch.Tensor, c: torch.Tensor) -> float:
    """ρ(R) from C = XᵀX: m tr(R C Rᵀ) / (‖R‖²_F tr C)."""
    m = c.shape[0]
    r64 = r.detach().to("cpu", torch.float64)
    num = float(((r64 @ c) * r64).sum())
    den = float(r64.pow(2).sum()) * float(torch.trace(c))
    return m * num / den if den > 0 else float("nan")


@dataclass(frozen=True)
class AlignmentAlong:
    """Per requested k: ρ of the kept part P_k and of the residual R_k, and the residual's share.

    ρ of a zero matrix (P_0, and R_k once the basis is exhausted) is NaN.
    """

    rho_kept: torch.Tensor
    rho_residual: torch.Tensor
    residual_share: torch.Tensor


def alignment_along(basis: torch.Tensor, delta: torch.Tensor, c: torch.Tensor, ks: Sequence[int]) -> AlignmentAlong:
    """ρ(P_k), ρ(R_k) and ‖R_k Xᵀ‖_F / ‖Δ Xᵀ‖_F for each k, from C = XᵀX, without forming P_k or R_k."""
    m = c.shape[0]
    mu = basis.T @ delta  # (c, m), rows μ_i
    energy = mu.pow(2).sum(dim=1)  # ‖μ_i‖²
    seen = ((mu @ c) * mu).sum(dim=1)  # μ_i C μ_iᵀ
    zero = energy.new_zeros(1)
    # Each side summed on its own, so neither is a difference of nearly equal numbers.
    e_pre, e_suf = torch.cat([zero, energy.cumsum(0)]), torch.cat([energy.flip(0).cumsum(0).flip(0), zero])
    s_pre, s_suf = torch.cat([zero, seen.cumsum(0)]), torch.cat([seen.flip(0).cumsum(0).flip(0), zero])
    trace_c = float(torch.trace(c))
    total_seen = float(s_pre[-1])
    width = basis.shape[1]

    def rho(num: float, den: float) -> float:
        return m * num / (den * trace_c) if den > 0 and trace_c > 0 else float("nan")

    kept, residual, share = [], [], []
    for k in ks:
        j = min(int(k), width)
        kept.append(rho(float(s_pre[j]), float(e_pre[j])))
        residual.append(rho(float(s_suf[j]), float(e_suf[j])))
        share.append(max(float(s_suf[j]), 0.0) ** 0.5 / total_seen**0.5 if total_seen > 0 else float("nan"))
    as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return AlignmentAlong(as_t(kept), as_t(residual), as_t(share))


def centred_moment(c: torch.Tensor, row_sum: torch.Tensor, count: int) -> torch.Tensor:
    """C_c = X_cᵀX_c of the rows centred on their mean x̄ = s / N: C − s sᵀ / N (s = Σ_i x_i)."""
    s64 = row_sum.to(torch.float64)
    return c - torch.outer(s64, s64) / count


def expected_data_span_alignment(c: torch.Tensor) -> float:
    """ρ̄_span = m tr(C²) / (tr C)²: the ratio of expectations of ρ(R) for R whose rows are random
    combinations of the inputs, r = aᵀX with a ~ N(0, I_N), i.e. r ~ N(0, C) (the many-rows limit).

    Every row of such an R lies in the span of the inputs, as every row of a first layer's SGD
    update Σ_t δ_t x_tᵀ does. It is 1 when C ∝ I and m when one direction holds all of the energy;
    uncentred image inputs, whose mean image dominates C, sit high in that range."""
    m = c.shape[0]
    t = float(torch.trace(c))
    return m * float((c * c).sum()) / (t * t) if t > 0 else float("nan")


def data_span_alignment(c: torch.Tensor, rows: int, draws: int, seed: int) -> torch.Tensor:
    """ρ of ``draws`` random R (``rows`` × m) with rows r ~ N(0, C) = random combinations of the inputs,
    drawn as R = G C^{1/2} (G standard normal, seeded). ρ is scale-free, so scaling R to any norm (the
    measured matrix's) leaves it unchanged. (draws,) float64."""
    evals, evecs = torch.linalg.eigh(c.to(torch.float64))
    root = (evecs * evals.clamp(min=0).sqrt()) @ evecs.T
    gen = torch.Generator().manual_seed(seed)
    m = c.shape[0]
    return torch.tensor([alignment_from_moment(torch.randn(rows, m, generator=gen, dtype=torch.float64) @ root, c)
                         for _ in range(draws)], dtype=torch.float64)


def span_position(rho: float, rho_span: float) -> float:
    """Where ρ sits between the isotropic baseline (1 → 0) and the data-span baseline (ρ_span → 1), on a
    log scale: log ρ / log ρ_span. Below 0: less aligned than isotropic; above 1: more than the span."""
    if not (rho > 0 and rho_span > 0) or rho_span == 1.0:
        return float("nan")
    return math.log(rho) / math.log(rho_span)


def input_rows(h: torch.Tensor, layer: torch.nn.Module) -> torch.Tensor:
    """The rows X the layer's weight (as a unit matrix) multiplies: the flattened input of a Linear,
    the unfolded patches (one row per output position) of a Conv, in the weight's column order."""
    if isinstance(layer, torch.nn.Conv2d):
        cols = F.unfold(h, layer.kernel_size, layer.dilation, layer.padding, layer.stride)  # (N, m, L)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])
    return h.flatten(1)
