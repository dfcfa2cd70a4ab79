"""Matching the hidden units of two networks, and what a match says (pure functions on tensors).

Notation (Ainsworth, Hayase & Srinivasa 2023, "Git Re-Basin"; Li et al. 2015,
"Convergent learning"). A fully connected network θ has layers ℓ = 1..L with
weights W_ℓ (n_ℓ × n_{ℓ-1}) and biases b_ℓ (n_ℓ); hidden layers 1..L-1 end in
a ReLU, which commutes with permuting units. A permutation of hidden layer ℓ is
an index array π_ℓ: unit i of network A is matched to unit π_ℓ(i) of network B.
The aligned network B' = π(B) has

    W'_ℓ = W^B_ℓ[π_ℓ, π_{ℓ-1}],   b'_ℓ = b^B_ℓ[π_ℓ]      (π_0 and π_L the identity)

and computes exactly the function of B (:func:`permute_state`).

- **Weight matching** (:func:`weight_matching`): layer by layer, π_ℓ maximizes
  Σ_i ⟨W^A_ℓ[i], W^B_ℓ[π_ℓ(i), π_{ℓ-1}]⟩ + b^A_ℓ[i] b^B_ℓ[π_ℓ(i)], a linear assignment problem
  solved exactly (:func:`assignment`, the Hungarian method of scipy). ``refine``
  rounds of Ainsworth's coordinate descent then add the outgoing term
  ⟨W^A_{ℓ+1}[:, i], W^B_{ℓ+1}[π_{ℓ+1}, π_ℓ(i)]⟩, each sub-problem again exact.
- **Activation matching** (:func:`correlation`): π_ℓ maximizes Σ_i ρ(a^A_i, a^B_{π(i)}),
  ρ the Pearson correlation of the units' post-ReLU activations on probe inputs
  (Li et al. 2015). Activations are permutation-equivariant, so each network's are
  computed once, on the unaligned networks.
- **Linear mode connectivity** (Frankle et al. 2020; Entezari et al. 2022):
  θ(α) = (1 − α) θ_A + α θ_B for α ∈ [0, 1]; the barrier of a loss (or error)
  curve L(α) is max_α L(α) − (L(0) + L(1)) / 2 (:func:`barrier`), zero when the
  path never rises above the endpoints' average.
- **Teacher specialization** (Goldt et al. 2019): many student units may match one
  teacher unit (:func:`specialization`).
- **Kept sets** (:func:`kept_overlap`): magnitude pruning keeps the units of largest
  incoming-weight norm; after alignment, do both networks keep the same units?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr

from redundancy.studies.common.weights import EPS


# --- assignment ----------------------------------------------------------------------------------


def assignment(similarity: np.ndarray) -> np.ndarray:
    """π maximizing Σ_i S[i, π(i)] over permutations, for a square S (n × n); exact (Hungarian method)."""
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"a permutation needs a square similarity matrix, got shape {s.shape}")
    rows, cols = linear_sum_assignment(s, maximize=True)
    perm = np.empty(s.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def matched(similarity: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """S[i, π(i)] for every i: the similarity of each matched pair."""
    s = np.asarray(similarity)
    return s[np.arange(s.shape[0]), perm]


def random_pairs(similarity: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """The null of unmatched pairs: S[i, σ(i)] for ``draws`` uniformly random permutations σ, flattened."""
    s = np.asarray(similarity)
    n = s.shape[0]
    return np.concatenate([s[np.arange(n), rng.permutation(n)] for _ in range(draws)]) if draws else np.zeros(0)


# --- networks as lists of (W, b) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One fully connected layer of a state dict: its name and the keys of W_ℓ and b_ℓ (None without bias)."""

    name: str
    weight: str
    bias: str | None


def fc_layers(state: dict[str, torch.Tensor], names: Sequence[str]) -> list[Layer]:
    """The layers ``names`` (in order, the last the output) of a LayeredNet state dict."""
    from redundancy.models import param_name

    out = []
    for n in names:
        w, b = param_name(n, "weight"), param_name(n, "bias")
        if w not in state or state[w].dim() != 2:
            raise ValueError(f"layer {n!r} is not a fully connected layer of this state")
        out.append(Layer(n, w, b if b in state else None))
    return out


def permute_state(state: dict[str, torch.Tensor], layers: Sequence[Layer], perms: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """B' = π(B): rows of W_ℓ and b_ℓ by π_ℓ, columns of W_{ℓ+1} by π_ℓ, for every hidden layer in ``perms``.

    Every other tensor is shared, unchanged. The result computes the same function as ``state``.
    """
    out = dict(state)
    for i, layer in enumerate(layers):
        if layer.name not in perms:
            continue
        if i == len(layers) - 1:
            raise ValueError(f"{layer.name} is the output layer; its units are the classes and are never permuted")
        p = torch.as_tensor(perms[layer.name], dtype=torch.long)
        out[layer.weight] = out[layer.weight][p]
        if layer.bias is not None:
            out[layer.bias] = out[layer.bias][p]
        nxt = layers[i + 1]
        out[nxt.weight] = out[nxt.weight][:, p]
    return out


def _wb(state: dict[str, torch.Tensor], layer: Layer) -> tuple[np.ndarray, np.ndarray | None]:
    w = state[layer.weight].detach().double().cpu().numpy()
    b = None if layer.bias is None else state[layer.bias].detach().double().cpu().numpy()
    return w, b


def weight_matching(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], layers: Sequence[Layer], refine: int = 0
) -> dict[str, np.ndarray]:
    """π_ℓ for every hidden layer by weight matching (see the module docstring).

    First pass: forward, layer by layer, on incoming weights and biases with the
    previous layer's π applied to B's inputs. Then up to ``refine`` sweeps of coordinate
    descent, each layer's π re-solved exactly with its incoming and outgoing terms
    given the other layers' π (stopping at a sweep that changes none); a sweep never
    lowers Σ_ℓ ⟨W^A_ℓ, W'_ℓ⟩.
    """
    wa = [_wb(a, layer) for layer in layers]
    wb = [_wb(b, layer) for layer in layers]
    hidden = len(layers) - 1
    perms: list[np.ndarray] = []
    identity_in = np.arange(wa[0][0].shape[1])

    def incoming(i: int, prev: np.ndarray) -> np.ndarray:
        (w_a, b_a), (w_b, b_b) = wa[i], wb[i]
        s = w_a @ w_b[:, prev].T
        if b_a is not None and b_b is not None:
            s = s + np.outer(b_a, b_b)
        return s

    for i in range(hidden):
        perms.append(assignment(incoming(i, perms[-1] if perms else identity_in)))
    for _ in range(refine):
        changed = False
        for i in range(hidden):
            s = incoming(i, perms[i - 1] if i else identity_in)
            nxt_perm = perms[i + 1] if i + 1 < hidden else np.arange(wa[i + 1][0].shape[0])
            w_a_next, w_b_next = wa[i + 1][0], wb[i + 1][0]
            s = s + w_a_next.T @ w_b_next[nxt_perm]  # Σ_k W^A[k, i] W^B[π(k), j]
            new = assignment(s)
            changed |= not np.array_equal(new, perms[i])
            perms[i] = new
        if not changed:  # a fixed point: further sweeps solve the same problems
            break
    return {layers[i].name: perms[i] for i in range(hidden)}


def weight_cosine(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], layer: Layer, prev: np.ndarray | None) -> np.ndarray:
    """cos(w^A_i, w^B_j) of incoming weight vectors (bias appended), B's inputs permuted by ``prev``: (n × n)."""
    w_a, b_a = _wb(a, layer)
    w_b, b_b = _wb(b, layer)
    if prev is not None:
        w_b = w_b[:, prev]
    if b_a is not None and b_b is not None:
        w_a, w_b = np.concatenate([w_a, b_a[:, None]], 1), np.concatenate([w_b, b_b[:, None]], 1)
    return cosine(w_a, w_b)


def cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cos(x_i, y_j) of the rows of ``x`` (n × d) and ``y`` (m × d); a zero row has cosine 0 with everything."""
    nx = np.linalg.norm(x, axis=1, keepdims=True)
    ny = np.linalg.norm(y, axis=1, keepdims=True)
    return (x / np.where(nx > 0, nx, 1.0)) @ (y / np.where(ny > 0, ny, 1.0)).T


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ρ[i, j], the Pearson correlation of column i of ``x`` (samples × n) with column j of ``y`` (samples × m).

    A unit constant on the probe (a dead ReLU) correlates 0 with everything.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    sx, sy = np.sqrt((xc**2).sum(0)), np.sqrt((yc**2).sum(0))
    rho = (xc.T @ yc) / np.outer(np.where(sx > EPS, sx, np.inf), np.where(sy > EPS, sy, np.inf))
    return np.clip(rho, -1.0, 1.0)


# --- mode connectivity -----------------------------------------------------------------------------


def interpolate(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """θ(α) = (1 − α) θ_A + α θ_B, tensor by tensor (integer buffers taken from A)."""
    out = {}
    for k, va in a.items():
        vb = b[k]
        out[k] = torch.lerp(va, vb.to(va.dtype), alpha) if va.is_floating_point() else va.clone()
    return out


def barrier(curve: Sequence[float] | np.ndarray) -> float:
    """max_α L(α) − (L(0) + L(1)) / 2 of a curve sampled from α = 0 to α = 1 (its ends the endpoints).

    Never below |L(0) − L(1)| / 2 ≥ 0 (α = 0 and 1 are on the path); zero for a flat path.
    """
    v = np.asarray(curve, dtype=np.float64)
    if v.size < 2:
        raise ValueError("a path needs at least its two endpoints")
    return float(v.max() - (v[0] + v[-1]) / 2.0)


# --- teacher specialization --------------------------------------------------------------------------


@dataclass(frozen=True)
class Specialization:
    """Student units specialized to each teacher unit (many to one).

    ``assigned[j]`` is the teacher unit student unit j matches (its most similar, when
    the similarity reaches the threshold), else −1; ``count[m]`` how many student units
    match teacher unit m; ``share[m]`` the fraction of the students' total outgoing
    weight norm Σ_j ‖W_{2}[:, j]‖ those units carry.
    """

    assigned: np.ndarray
    best: np.ndarray
    count: np.ndarray
    share: np.ndarray

    @property
    def covered(self) -> int:
        """Teacher units with at least one specialized student unit."""
        return int((self.count > 0).sum())

    @property
    def specialized(self) -> int:
        """Student units matched to some teacher unit."""
        return int((self.assigned >= 0).sum())


def specialization(similarity: np.ndarray, threshold: float, out_norms: np.ndarray | None = None) -> Specialization:
    """Each student unit j (row of ``similarity``, students × teachers) to argmax_m S[j, m] if S ≥ ``threshold``.

    ``out_norms`` (students,) weighs the shares; without it every unit weighs 1.
    """
    s = np.asarray(similarity, dtype=np.float64)
    n, m = s.shape
    best = s.max(1) if m else np.zeros(n)
    arg = s.argmax(1) if m else np.zeros(n, dtype=np.int64)
    assigned = np.where(best >= threshold, arg, -1)
    weights = np.ones(n) if out_norms is None else np.asarray(out_norms, dtype=np.float64)
    total = weights.sum()
    count = np.bincount(assigned[assigned >= 0], minlength=m)
    mass = np.bincount(assigned[assigned >= 0], weights=weights[assigned >= 0], minlength=m)
    share = mass / total if total > 0 else np.zeros(m)
    return Specialization(assigned, best, count, share)


# --- kept sets ---------------------------------------------------------------------------------------


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores (ties to the lower index), as a boolean mask."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))
    keep = np.zeros(len(scores), dtype=bool)
    keep[order[:k]] = True
    return keep


@dataclass(frozen=True)
class KeptOverlap:
    """Units magnitude pruning keeps in A and in aligned B' after removing a fraction.

    ``overlap`` = |K_A ∩ K_B'| / k; ``chance`` = k / n, the expected overlap of two
    independent uniformly random k-subsets of n units.
    """

    removed: float
    kept: int
    overlap: float
    chance: float


def kept_overlap(norms_a: np.ndarray, norms_b_aligned: np.ndarray, removed: float) -> KeptOverlap:
    """Overlap of the top-k units by incoming-weight norm, k = n − round(removed · n) (at least 1)."""
    n = len(norms_a)
    k = max(1, n - int(round(removed * n)))
    ka, kb = top_k(norms_a, k), top_k(norms_b_aligned, k)
    return KeptOverlap(removed, k, float((ka & kb).sum() / k), k / n)


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of two score vectors over matched units (NaN if either is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def unit_norms(state: dict[str, torch.Tensor], layer: Layer) -> np.ndarray:
    """‖w_i‖ of every unit's incoming weights (the magnitude pruning criterion)."""
    return np.linalg.norm(_wb(state, layer)[0], axis=1)


def out_norms(state: dict[str, torch.Tensor], next_layer: Layer) -> np.ndarray:
    """‖W_{ℓ+1}[:, j]‖ of every unit j of layer ℓ: the size of its outgoing weights."""
    return np.linalg.norm(_wb(state, next_layer)[0], axis=0)
