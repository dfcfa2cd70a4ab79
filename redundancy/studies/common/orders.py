"""Removal orders of the seed's pruning criteria (§3.1), and the unit scores they sort, as small functions.

Notation: W ∈ R^{n×m} has one row w_i per unit (a Conv filter flattened), Ŵ
has the rows normalized, X = ŴŴᵀ with X_ij = ⟨ŵ_i, ŵ_j⟩, and for the set R of
units still present

    FP(Ŵ_R) = Σ_{i,j∈R} X_ij²,        c_i(R) = Σ_{j∈R} X_ij²   (unit i's contribution).

An order is a permutation of 0..n-1: the sequence in which units are removed.
Shared by the kinds that rank units (``pruning`` removes them in order,
``unit_ticket`` keeps the last ones).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from redundancy.models import LayeredNet
from redundancy.studies.common.measures import gram
from redundancy.studies.common.weights import as_matrix64, normalize_rows

Direction = Literal["smallest", "largest"]

# Greedy ties: scores within TIE_RTOL · max(1, |best|) of the best are equal and the lowest index
# wins. Scores that differ only by rounding (a Gram matrix summed in another order, on another
# device) then give the same order everywhere.
TIE_RTOL = 1e-9


def order_by_scores(scores: torch.Tensor, direction: Direction) -> torch.Tensor:
    """Units sorted by a fixed score: ascending for ``smallest``, descending for ``largest``.

    A stable sort, so units with exactly equal scores go lowest index first.
    This is the whole greedy procedure for any score that removing one unit
    does not change for the others, such as the magnitude ‖w_i‖: removing a
    row leaves every other row's norm as it was, so "remove the smallest,
    update, repeat" is a sort.
    """
    return torch.sort(scores.detach().cpu().double(), descending=(direction == "largest"), stable=True).indices


def _pick(scores: np.ndarray, direction: Direction) -> int:
    """Index of the smallest (largest) finite score; near-ties (TIE_RTOL) go to the lowest index."""
    best = scores.min() if direction == "smallest" else scores.max()
    tol = TIE_RTOL * max(1.0, abs(float(best)))
    close = scores <= best + tol if direction == "smallest" else scores >= best - tol
    return int(np.flatnonzero(close)[0])


def greedy_frame_potential_order(weight: torch.Tensor, direction: Direction = "smallest") -> torch.Tensor:
    """The seed's frame-potential pruning: repeatedly remove the unit with the smallest (largest) c_i(R).

    X = ŴŴᵀ is formed once; after removing r every remaining contribution
    drops by X_ir² (c_i ← c_i − X_ir²), so each step is O(n) instead of a
    recomputation of all contributions. Ties: see :data:`TIE_RTOL`.
    Computed in float64; returns the order as an int64 tensor (n,).
    """
    w_hat = normalize_rows(as_matrix64(weight))
    sq = gram(w_hat).pow(2).numpy()  # X_ij²
    c = sq.sum(axis=1)
    n = c.shape[0]
    gone = np.inf if direction == "smallest" else -np.inf
    order = np.empty(n, dtype=np.int64)
    for step in range(n):
        r = _pick(c, direction)
        order[step] = r
        c -= sq[:, r]
        c[r] = gone
    return torch.from_numpy(order)


def frame_potential_along(weight: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """FP(Ŵ_R) of the units left after removing ``order[:k]``, for k = 0..len(order): (len+1,) float64.

    Removing r takes away its row and column of X: FP ← FP − 2 c_r(R) + X_rr²,
    then c_i ← c_i − X_ir². O(n) per removal after the one Gram matrix.
    """
    w_hat = normalize_rows(as_matrix64(weight))
    sq = gram(w_hat).pow(2).numpy()
    c = sq.sum(axis=1)
    fp = float(c.sum())
    out = np.empty(len(order) + 1, dtype=np.float64)
    out[0] = fp
    for k, r in enumerate(order.tolist(), start=1):
        fp -= 2.0 * c[r] - sq[r, r]
        c -= sq[:, r]
        out[k] = max(fp, 0.0)  # rounding must not make a sum of squares negative
    return torch.from_numpy(out)


@torch.no_grad()
def mean_abs_activation(model: LayeredNet, layer: str, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mean |a_i| per unit of ``layer`` over inputs ``x`` (and positions, for a Conv): (n,) float64 on CPU.

    a is the unit's output after batch norm and ReLU, before pooling.
    """
    block = model.block(layer)
    total = torch.zeros(block.units, dtype=torch.float64, device=x.device)
    count = 0
    for start in range(0, x.shape[0], batch_size):
        z = block.pre(model.features(x[start : start + batch_size], layer))
        if block.norm is not None:
            z = block.norm(z)
        if block.relu:
            z = torch.relu(z)
        per_unit = z.abs().transpose(0, 1).reshape(block.units, -1)
        total += per_unit.sum(dim=1, dtype=torch.float64)
        count += per_unit.shape[1]
    return (total / max(1, count)).cpu()
