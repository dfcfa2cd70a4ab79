"""Fast evaluation of a network with units of one layer removed (seed §3.1).

Removing unit r of layer L means block L's output channel r is zero for every
input. The textbook way to measure one removal level is to copy the model,
zero the unit and run the whole network over the test set again. Here the
layers below L are evaluated once per batch of inputs, and removal only
touches the next block's pre-activation, which is linear in L's output:

    A   = output of block L on a batch (one channel per unit),
    S   = pre-activation of the next block = Σ_u T_u(A_u) + b,

where T_u is unit u's share of the next layer's linear map: a rank-1 term
a_u w_uᵀ for a Linear next layer, a per-channel block of the weight for a
Linear after a flatten, a one-input-channel convolution for a Conv. Removing
the set R gives S_R = b + Σ_{u∉R} T_u(A_u). A sweep along a removal order is a
running sum: the state of the last level is computed directly, and each
earlier level adds back the terms of the units it still has. Many levels are
finished at once: their states are stacked and the blocks above run on the
stack in one batched call. Pruning the output layer (no next block) zeroes
logits directly.

The running sum is kept in float64, so the state after hundreds of updates is
the exactly rounded pre-activation, not a float32 drift; the blocks above run
in the model's own dtype. Summing the units still present (rather than
subtracting the removed ones from the full state) keeps exact zeros exact: a
sample whose remaining units are all silent gets exactly the bias, as in the
textbook network, so exact ties between logits are decided the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from redundancy.models import Block, LayeredNet
from redundancy.train import evaluate

ACCUMULATE = torch.float64

# Memory budgets in tensor elements (float64): an input batch's A and S, and one chunk of level
# states. On a CPU small chunks win (a few levels' states stay in cache between passes); on a
# GPU large chunks win (one batched call for many levels instead of launches per level).
_BUDGETS = {"cpu": (32_000_000, 400_000), "cuda": (256_000_000, 256_000_000)}


class LayerSplit:
    """Model cut at the pruned block: A below, the linear map T into the next block, the rest above.

    ``groups`` arguments are (levels, s) int64 tensors of unit indices; the index
    ``n_units`` is padding (a zero channel), so levels may remove different counts.
    """

    def __init__(self, model: LayeredNet, layer: str):
        if layer not in model.names:
            raise KeyError(f"no layer {layer!r} in the model; layers: {', '.join(model.names)}")
        self.model = model
        self.layer = layer
        self.block: Block = model.block(layer)
        self.n_units = self.block.units
        self.next_name = model.next_name(layer)
        self.next: Block | None = model.block(self.next_name) if self.next_name is not None else None
        self.dtype = self.block.layer.weight.dtype
        if self.next is not None:
            nxt = self.next.layer
            w = nxt.weight.detach().to(ACCUMULATE)
            m = w.shape[0]
            if isinstance(nxt, nn.Conv2d):
                if nxt.groups != 1 or nxt.padding_mode != "zeros":
                    raise ValueError(f"layer {self.next_name!r}: only ungrouped, zero-padded convolutions are supported")
                # (m, n+1, kh, kw): one extra all-zero input channel for padding.
                self.w_pad = torch.cat([w, w.new_zeros(m, 1, *w.shape[2:])], dim=1)
            else:
                # (m, n+1, k): the next Linear's columns grouped by the unit they read (k = positions per unit).
                w3 = w.reshape(m, self.n_units, -1)
                self.w_pad = torch.cat([w3, w3.new_zeros(m, 1, w3.shape[2])], dim=1)
            self.b = None if nxt.bias is None else nxt.bias.detach().to(ACCUMULATE)
        # A unit feeds the next Linear through one column: its removal is a rank-1 update.
        self.rank_one = self.next is not None and not isinstance(self.next.layer, nn.Conv2d) and self.w_pad.shape[2] == 1

    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """A: block output on ``x`` in float64, with one extra all-zero channel (the padding unit)."""
        a = self.block(self.model.features(x, self.layer)).to(ACCUMULATE)
        return torch.cat([a, a.new_zeros(a.shape[0], 1, *a.shape[2:])], dim=1)

    @torch.no_grad()
    def state(self, a_pad: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """S with only the units where ``keep`` (n,) is 1: b + Σ_{u kept} T_u(A_u), computed directly."""
        shape = (1, -1) + (1,) * (a_pad.dim() - 2)
        a = a_pad[:, : self.n_units] * keep.to(a_pad).reshape(shape)
        if self.next is None:
            return a
        nxt = self.next.layer
        if isinstance(nxt, nn.Conv2d):
            return F.conv2d(a, self.w_pad[:, : self.n_units], self.b, nxt.stride, nxt.padding, nxt.dilation)
        return F.linear(a.flatten(1), self.w_pad[:, : self.n_units].flatten(1), self.b)

    @torch.no_grad()
    def terms(self, a_pad: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """Σ_{u ∈ group} T_u(A_u) for each group: (levels, batch, *state shape)."""
        groups = groups.to(a_pad.device)
        levels, s = groups.shape
        nb = a_pad.shape[0]
        idx = groups.reshape(-1)
        if self.next is None:
            # Output layer: the term of unit u is A with every channel but u zeroed.
            mask = torch.zeros(levels, self.n_units + 1, dtype=a_pad.dtype, device=a_pad.device)
            mask.scatter_(1, groups, 1.0)
            shape = (levels, 1, self.n_units) + (1,) * (a_pad.dim() - 2)
            return mask[:, : self.n_units].reshape(shape) * a_pad[None, :, : self.n_units]
        nxt = self.next.layer
        m = self.w_pad.shape[0]
        if isinstance(nxt, nn.Conv2d):
            # Each level is one group of a grouped convolution over its s input channels.
            inp = a_pad[:, idx]  # (nb, levels*s, H, W)
            kh, kw = self.w_pad.shape[2:]
            w = self.w_pad[:, idx].reshape(m, levels, s, kh, kw).transpose(0, 1).reshape(levels * m, s, kh, kw)
            out = F.conv2d(inp, w, None, nxt.stride, nxt.padding, nxt.dilation, groups=levels)
            return out.reshape(nb, levels, m, *out.shape[2:]).transpose(0, 1)
        a3 = a_pad.reshape(nb, self.n_units + 1, -1)  # (nb, n+1, k)
        k = a3.shape[2]
        if s == 1 and k == 1:
            # Rank-1 terms a_u w_uᵀ: a broadcast product is cheaper than a matmul with inner size 1.
            return a3[:, idx, 0].T[:, :, None] * self.w_pad[:, idx, 0].T[:, None, :]  # (levels, nb, m)
        a = a3[:, idx].reshape(nb, levels, s * k).transpose(0, 1)  # (levels, nb, s*k)
        w = self.w_pad[:, idx].reshape(m, levels, s * k).permute(1, 2, 0)  # (levels, s*k, m)
        return torch.bmm(a, w)

    @torch.no_grad()
    def finish(self, state: torch.Tensor) -> torch.Tensor:
        """Logits from stacked states (rows = levels × batch), in the model's dtype."""
        h = state.to(self.dtype)
        if self.next is None:
            return h
        assert self.next_name is not None
        return self.model.forward_from(self.next_name, self.next.post(h))

    def state_numel(self, x: torch.Tensor) -> tuple[int, int]:
        """Elements per sample of (A, state), from a one-sample probe."""
        a_pad = self.outputs(x[:1])
        s0 = self.state(a_pad, torch.ones(self.n_units, device=x.device))
        return a_pad[0].numel(), s0[0].numel()


def _budgets(device: torch.device) -> tuple[int, int]:
    return _BUDGETS.get(device.type, _BUDGETS["cpu"])


@torch.no_grad()
def _level_states(
    split: LayerSplit, a_pad: torch.Tensor, start: torch.Tensor, groups: torch.Tensor, sign: float, cumulative: bool, fused: bool
) -> torch.Tensor:
    """States of a chunk of groups, (groups, batch, *state) float64.

    ``cumulative``: state j is ``start`` + sign · (terms of groups 0..j), a
    running sum; otherwise ``start`` + sign · (terms of group j) alone.
    ``fused`` (the CPU choice): rank-1 steps are one ``addr`` per level, which
    reads and writes each state once. Otherwise (the GPU choice) the chunk's
    terms come from one batched call and a cumulative sum: few kernel launches.
    """
    if fused and split.rank_one and groups.shape[1] == 1:
        states = torch.empty((groups.shape[0], *start.shape), dtype=start.dtype, device=start.device)
        a_cols = a_pad.reshape(a_pad.shape[0], -1)  # (nb, n+1)
        w_cols = split.w_pad[:, :, 0]  # (m, n+1)
        prev = start
        for j, unit in enumerate(groups[:, 0].tolist()):
            torch.addr(prev, a_cols[:, unit], w_cols[:, unit], alpha=sign, out=states[j])
            if cumulative:
                prev = states[j]
        return states
    terms = split.terms(a_pad, groups)
    if cumulative:
        terms.cumsum_(0)
    return torch.add(start, terms, alpha=sign, out=terms)


@torch.no_grad()
def _sweep(
    split: LayerSplit,
    x: torch.Tensor,
    y: torch.Tensor,
    group_sets: Sequence[torch.Tensor],
    *,
    cumulative: bool,
    batch_size: int | None,
    chunk: int | None,
    fused: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and mean cross-entropy for every level of every group set: (sets, levels) float64 on CPU.

    ``cumulative``: level j removes groups 0..j of its set (a removal order),
    evaluated from the last level back: the last level's state is computed
    directly and level j−1 adds group j's terms back to level j's. Otherwise
    level j removes group j alone: the full state minus group j's terms.
    """
    n = x.shape[0]
    levels = group_sets[0].shape[0]
    if fused is None:
        fused = x.device.type == "cpu"
    a_numel, s_numel = split.state_numel(x)
    batch_budget, chunk_budget = _budgets(x.device)
    if batch_size is None:
        batch_size = max(1, min(n, batch_budget // (a_numel + s_numel)))
    if chunk is None:
        chunk = max(1, min(levels, chunk_budget // (min(n, batch_size) * s_numel)))
    # Per set: the groups to add back, last level first, and the units kept at the last level.
    plans = []
    for groups in group_sets:
        if cumulative:
            pad = torch.full_like(groups[:1], split.n_units)
            walk = torch.cat([pad, groups[1:].flip(0)])  # walk[r] is added to reach level levels-1-r
            keep = torch.ones(split.n_units + 1)
            keep[groups.flatten()] = 0.0
            plans.append((walk, keep[: split.n_units], torch.arange(levels - 1, -1, -1)))
        else:
            plans.append((groups, torch.ones(split.n_units), torch.arange(levels)))
    correct = torch.zeros(len(group_sets), levels, dtype=torch.int64, device=x.device)
    loss = torch.zeros(len(group_sets), levels, dtype=torch.float64, device=x.device)
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        nb = xb.shape[0]
        a_pad = split.outputs(xb)
        full = None if cumulative else split.state(a_pad, plans[0][1].to(x.device))
        for g, (walk, keep, level_of) in enumerate(plans):
            carry = split.state(a_pad, keep.to(x.device)) if cumulative else full
            assert carry is not None
            for c0 in range(0, levels, chunk):
                states = _level_states(
                    split, a_pad, carry, walk[c0 : c0 + chunk], 1.0 if cumulative else -1.0, cumulative, fused
                )
                if cumulative:
                    carry = states[-1]
                b = states.shape[0]
                logits = split.finish(states.reshape(b * nb, *states.shape[2:]))
                target = yb.repeat(b)
                # Cross-entropy as log Σ exp − logit of the target, sharing one max with the
                # prediction (the first maximal index, as argmax): several times faster than
                # F.cross_entropy(reduction="none") on CPU for few classes, same value.
                top, pred = logits.max(1)
                ce = (logits - top[:, None]).exp_().sum(1).log_().add_(top) - logits.gather(1, target[:, None])[:, 0]
                idx = level_of[c0 : c0 + b].to(x.device)
                loss[g].index_add_(0, idx, ce.view(b, nb).sum(1, dtype=torch.float64))
                correct[g].index_add_(0, idx, (pred == target).view(b, nb).sum(1))
    denom = max(1, n)
    return (correct.double() / denom).cpu(), (loss / denom).cpu()


def order_groups(order: torch.Tensor, levels: Sequence[int], n_units: int) -> torch.Tensor:
    """(levels, s) groups: level j removes ``order[levels[j-1]:levels[j]]`` (padded with ``n_units``)."""
    bounds = [0, *levels]
    if any(b1 < b0 for b0, b1 in zip(bounds, bounds[1:])) or levels[-1] > order.numel():
        raise ValueError(f"levels must be non-decreasing and at most {order.numel()}; found {list(levels)}")
    width = max(1, max(b1 - b0 for b0, b1 in zip(bounds, bounds[1:])))
    groups = torch.full((len(levels), width), n_units, dtype=torch.int64)
    for j, (b0, b1) in enumerate(zip(bounds, bounds[1:])):
        groups[j, : b1 - b0] = order[b0:b1].cpu()
    return groups


def removal_sweep(
    model: LayeredNet,
    layer: str,
    orders: Sequence[torch.Tensor],
    levels: Sequence[int],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int | None = None,
    chunk: int | None = None,
    fused: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and loss after removing the first ``k`` units of each order, for every ``k`` in ``levels``.

    Returns two (len(orders), len(levels)) float64 CPU tensors. The layers below
    ``layer`` run once per input batch for all orders and levels; the model is
    put in eval mode.
    ``batch_size``/``chunk`` (inputs per batch, levels stacked per call) default
    to sizes that fit a fixed memory budget; ``fused`` picks the per-level
    rank-1 path (default on CPU) or the batched one (default elsewhere).
    """
    model.eval()
    split = LayerSplit(model, layer)
    group_sets = [order_groups(o, levels, split.n_units) for o in orders]
    return _sweep(split, x, y, group_sets, cumulative=True, batch_size=batch_size, chunk=chunk, fused=fused)


def single_unit_removal(
    model: LayeredNet, layer: str, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy, loss) per unit of ``layer`` when that unit alone is removed: two (n_units,) float64 CPU tensors.

    Casper et al.'s "removable units" test. Each removal is S − T_u(A_u) from the
    same A (the layers below run once per input batch of ``batch_size``).
    """
    model.eval()
    split = LayerSplit(model, layer)
    groups = torch.arange(split.n_units, dtype=torch.int64)[:, None]
    acc, loss = _sweep(split, x, y, [groups], cumulative=False, batch_size=batch_size, chunk=None)
    return acc[0], loss[0]


@torch.no_grad()
def textbook_removal(
    model: LayeredNet,
    layer: str,
    removal_sets: Sequence[Sequence[int]],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The slow reference: for each set, deep-copy the model, zero those units' weights and evaluate.

    Zeroing a unit's weight row and bias (and its batch-norm scale and shift;
    the models' batch norms are affine) makes its block output zero, as
    removal requires. It shares no code with
    the fast path, so tests and the benchmark compare the two.
    Returns (accuracy, loss), each (len(removal_sets),) float64 on CPU.
    """
    accs, losses = [], []
    for units in removal_sets:
        pruned = copy.deepcopy(model).eval()
        block = pruned.block(layer)
        idx = torch.as_tensor(list(units), dtype=torch.int64, device=block.layer.weight.device)
        params = [block.layer.weight, block.layer.bias]
        if block.norm is not None:
            params += [getattr(block.norm, "weight", None), getattr(block.norm, "bias", None)]
        for p in params:
            if p is not None:
                p.index_fill_(0, idx, 0.0)
        loss, acc = evaluate(pruned, x, y, batch_size)
        accs.append(acc)
        losses.append(loss)
    return torch.tensor(accs, dtype=torch.float64), torch.tensor(losses, dtype=torch.float64)
