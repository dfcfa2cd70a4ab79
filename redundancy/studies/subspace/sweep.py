"""Test accuracy and loss of a network whose layer is projected to rank k, for many k.

Two ways to get the same numbers (notation of :mod:`redundancy.studies.subspace.linalg`):

- :func:`rebuilt_sweep`, the textbook loop: for each k form W_k = Z + B_k B_kᵀ Δ,
  put it in a copy of the network and evaluate the whole network. It is the
  benchmark's baseline and the tests' oracle.
- :func:`projected_sweep`, the study's engine. The layer's pre-activation is
  linear in its weight, so for an input batch H

      a_k = a_{k-1} + p_k b_kᵀ,    a_0 = H Zᵀ + bias,    p_k = H (b_kᵀ Δ)ᵀ,

  (for a Conv, p_k is the convolution of H with the single filter b_kᵀ Δ and
  b_k weights it into every output channel). The layers below are evaluated
  once per batch, all the p_k in one product, and each k costs one rank-1 (or,
  between two listed ranks, rank-(k − k')) update plus the layers above.

At k = 0 and when k reaches the basis' width (where B_k B_kᵀ Δ = Δ exactly, see
:func:`redundancy.studies.subspace.linalg.ordered_basis`) the engine uses the
layer's own weights Z and W, so those two points equal the reset and the
trained networks bit for bit rather than up to float32 rounding.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from redundancy.models import LayeredNet
from redundancy.studies.common.weights import as_matrix64
from redundancy.studies.subspace.linalg import projected_weight
from redundancy.train import evaluate

# Per batch the engine holds the layer's input, a, p and the layers above for
# every image; with wide convolutions the batch is cut so these stay near this
# many float32 values (about 256 MB).
MEMORY_BUDGET_VALUES = 64 * 2**20


@dataclass
class SweepResult:
    """Mean cross-entropy and accuracy, one row per basis and one column per k."""

    loss: np.ndarray  # (bases, ks) float64
    accuracy: np.ndarray  # (bases, ks) float64


def _layer_op(layer: nn.Module) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """The layer's forward as a function of (input, weight, bias): F.linear or its F.conv2d."""
    if isinstance(layer, nn.Linear):
        return F.linear
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros":
            raise ValueError(f"padding mode {layer.padding_mode!r} is not supported; only 'zeros'")
        conv = layer

        def op(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
            return F.conv2d(h, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

        return op
    raise TypeError(f"cannot project a {type(layer).__name__}; expected Linear or Conv2d")


def _check_ks(ks: Sequence[int]) -> list[int]:
    out = [int(k) for k in ks]
    if out != sorted(set(out)) or (out and out[0] < 0):
        raise ValueError(f"ks must be distinct, non-negative and ascending; got {out}")
    return out


def _prepared(bases: Sequence[torch.Tensor], delta: torch.Tensor, ks: list[int], param: torch.Tensor) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """Per basis B (n × c): its width c, the directions b_iᵀ Δ as the layer's filters, and B as the map
    back to the outputs (1x1 convolution weights for a Conv), on the layer's device and dtype."""
    device, dtype, shape = param.device, param.dtype, tuple(param.shape)
    prepared = []
    for basis in bases:
        c = basis.shape[1]
        if ks and ks[-1] > c:
            raise ValueError(f"k = {ks[-1]} exceeds the basis width {c}")
        directions = (basis.T @ delta).reshape((c,) + shape[1:])  # b_iᵀ Δ as filters, (c, *weight[1:])
        b = basis.to(device, dtype)
        if param.dim() == 4:
            b = b[:, :, None, None]  # 1x1 convolution weights: channel i -> u_i across outputs
        prepared.append((c, directions.to(device, dtype), b))
    return prepared


class _Lazy:
    """A value computed on first use and kept (the full layer's output, shared by every basis of a batch)."""

    def __init__(self, compute: Callable[[], torch.Tensor]):
        self._compute, self._value = compute, None

    def get(self) -> torch.Tensor:
        if self._value is None:
            self._value = self._compute()
        return self._value


def _along(a0: torch.Tensor, p: torch.Tensor, b: torch.Tensor, ks: list[int], c: int, full: _Lazy) -> Iterator[torch.Tensor]:
    """The layer's output a_k = a_0 + Σ_{i≤k} p_i b_i for each k in turn, as a running sum
    (k = c: the unprojected layer itself). Each value is valid until the next is drawn."""
    a = a0.clone()
    done = 0
    for k in ks:
        if k == c:
            yield full.get()
            continue
        if k > done:
            if b.dim() == 4:
                a += F.conv2d(p[:, done:k], b[:, done:k])
            else:
                a.addmm_(p[:, done:k], b[:, done:k].T)
            done = k
        yield a0 if k == 0 else a


@torch.no_grad()
def projected_sweep(
    net: LayeredNet,
    name: str,
    start: torch.Tensor,
    end: torch.Tensor,
    bases: Sequence[torch.Tensor],
    ks: Sequence[int],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int | None = None,
) -> SweepResult:
    """Loss and accuracy of ``net`` with layer ``name`` at start + B_k B_kᵀ (end − start), per basis and k.

    ``start`` and ``end`` have the layer's weight shape (Z and W, or 0 and W);
    every other parameter, this layer's bias included, is ``net``'s own.
    ``bases`` are float64 n × c matrices with orthonormal columns spanning the
    columns of end − start; ``ks`` ascending, each at most every basis' width.
    Images are taken ``batch_size`` at a time, by default as many as fit
    :data:`MEMORY_BUDGET_VALUES`: every k costs a fixed number of kernel launches
    per batch, so few large batches matter on a GPU.
    """
    ks = _check_ks(ks)
    block = net.block(name)
    layer = block.layer
    op = _layer_op(layer)
    bias = layer.bias
    param = layer.weight
    device, dtype = param.device, param.dtype
    shape = tuple(param.shape)
    n = shape[0]
    start32 = start.to(device, dtype)
    end32 = end.to(device, dtype)
    delta = as_matrix64(end) - as_matrix64(start)
    prepared = _prepared(bases, delta, ks, param)

    # Values per image held at once: input, a, p of every basis, and the activations above.
    probe = net.features(x[:1], name)
    probe_in = probe.flatten(1) if block.flatten else probe
    spatial = max(1, op(probe_in, start32, None)[0, 0].numel())
    per_image = probe_in.numel() + spatial * (3 * n + sum(c for c, _, _ in prepared))
    batch = max(1, min(batch_size or x.shape[0], MEMORY_BUDGET_VALUES // max(1, per_image)))

    loss = torch.zeros(len(prepared), len(ks), dtype=torch.float64, device=device)
    correct = torch.zeros(len(prepared), len(ks), dtype=torch.int64, device=device)
    for lo in range(0, x.shape[0], batch):
        xb, yb = x[lo : lo + batch], y[lo : lo + batch]
        h = net.features(xb, name)
        if block.flatten:
            h = h.flatten(1)
        a0 = op(h, start32, bias)
        full = _Lazy(lambda: op(h, end32, bias))
        for i, (c, directions, b) in enumerate(prepared):
            p = op(h, directions, None)  # (N, c) or (N, c, H', W'): every p_k at once
            for j, current in enumerate(_along(a0, p, b, ks, c, full)):
                logits = net.forward_from(name, block.post(current))
                loss[i, j] += F.cross_entropy(logits, yb, reduction="sum").double()
                correct[i, j] += (logits.argmax(1) == yb).sum()
    total = max(1, x.shape[0])
    return SweepResult((loss / total).cpu().numpy(), (correct.double() / total).cpu().numpy())


@torch.no_grad()
def rebuilt_sweep(
    net: LayeredNet,
    name: str,
    start: torch.Tensor,
    end: torch.Tensor,
    bases: Sequence[torch.Tensor],
    ks: Sequence[int],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
) -> SweepResult:
    """The textbook loop: per basis and k, rebuild the layer as W_k, copy the network, evaluate it all."""
    ks = _check_ks(ks)
    param = net.block(name).layer.weight
    n, shape = param.shape[0], param.shape
    start64 = as_matrix64(start)
    delta = as_matrix64(end) - start64
    loss = np.zeros((len(bases), len(ks)))
    acc = np.zeros((len(bases), len(ks)))
    for i, basis in enumerate(bases):
        for j, k in enumerate(ks):
            model = copy.deepcopy(net)
            weight = projected_weight(start64, delta, basis, k).reshape(shape)
            model.block(name).layer.weight.copy_(weight.to(param.device, param.dtype))
            loss[i, j], acc[i, j] = evaluate(model, x, y, batch_size)
    return SweepResult(loss, acc)
