"""A layer's weight as a matrix of unit rows: the one place the studies read weights.

The seed report's notation: W ∈ R^{n×m} has one row w_i per unit (a Conv
filter is flattened to a row), Ŵ the rows normalized, ŵ_i = w_i / ‖w_i‖.
:func:`as_matrix` is the one reshape; :func:`as_matrix64` (torch) and
:func:`as_rows64` (NumPy) are it in float64, what the exact measures compute in.
"""

from __future__ import annotations

import numpy as np
import torch

from redundancy.models import param_name

#: The one floor of the studies' divisions: a norm below it is taken as zero (a zero row stays zero).
EPS = 1e-12


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """W as (n units, m inputs): rows of a Linear weight, flattened filters of a Conv (a view, same dtype)."""
    return weight.reshape(weight.shape[0], -1)


def as_matrix64(weight: torch.Tensor) -> torch.Tensor:
    """W as (n units, m inputs) in float64 on the CPU, detached: what the exact measures compute in."""
    return as_matrix(weight.detach()).to("cpu", torch.float64)


def as_rows64(weight: np.ndarray) -> np.ndarray:
    """W as (n units, m inputs), a float64 NumPy array (a Linear weight as is, a Conv weight's filters flattened)."""
    return as_matrix(np.asarray(weight, dtype=np.float64))


def normalize_rows(w: torch.Tensor) -> torch.Tensor:
    """Ŵ: each row divided by its ℓ2 norm (a zero row stays zero)."""
    w = as_matrix(w)
    return w / w.norm(dim=1, keepdim=True).clamp_min(EPS)


def layer_weight(state: dict[str, torch.Tensor], layer: str) -> torch.Tensor:
    """The stored weight of ``layer`` in a checkpoint's state dict, as the model stores it."""
    return state[param_name(layer)]


def unit_matrix(state: dict[str, torch.Tensor], layer: str) -> torch.Tensor:
    """``layer``'s weight in ``state`` as W (n units, m inputs), float64 on the CPU."""
    return as_matrix64(layer_weight(state, layer))
