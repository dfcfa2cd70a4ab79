"""Loss and error along the straight line between two networks, as one batch of interpolated networks.

The ``points`` networks θ(α_0) … θ(α_{P−1}) of a path are evaluated together as a
:class:`~redundancy.fast.stacked.StackedNet` (one batched product per layer for
all of them, on the GPU when the study runs there); a model the stacked forward
cannot run is evaluated one network at a time, with the same numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from redundancy.models import LayeredNet
from redundancy.studies.correspondence.matching import barrier, interpolate


@dataclass(frozen=True)
class PathCurve:
    """Mean cross-entropy and error (1 − accuracy) at each α, and their barriers."""

    alpha: list[float]
    loss: list[float]
    error: list[float]

    @property
    def loss_barrier(self) -> float:
        return barrier(self.loss)

    @property
    def error_barrier(self) -> float:
        return barrier(self.error)


def alphas(points: int) -> list[float]:
    """``points`` evenly spaced α from 0 to 1, both ends included."""
    return [float(a) for a in np.linspace(0.0, 1.0, points)]


@torch.no_grad()
def evaluate_path(
    template: LayeredNet,
    a: dict[str, torch.Tensor],
    b: dict[str, torch.Tensor],
    points: int,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
) -> PathCurve:
    """Loss and error of θ(α) = (1 − α) θ_A + α θ_B on (x, y) at ``points`` α; ``template`` gives the architecture and device."""
    from redundancy.fast.stacked import StackedNet, can_stack

    device = next(template.parameters()).device
    al = alphas(points)
    states = [interpolate(a, b, t) for t in al]
    x, y = x.to(device), y.to(device)
    n = x.shape[0]
    if can_stack(template):
        members = []
        for s in states:
            net = _copy(template)
            net.load_state_dict(s)
            members.append(net)
        stacked = StackedNet(members, device).eval()
        total, correct = stacked.evaluate_sums(x, y, batch_size)
        loss, acc = (total / n).cpu().numpy(), (correct.double() / n).cpu().numpy()
    else:
        loss_l, acc_l = [], []
        for s in states:
            template.load_state_dict(s)
            template.eval()
            lsum, csum = 0.0, 0
            for start in range(0, n, batch_size):
                logits = template(x[start : start + batch_size])
                target = y[start : start + batch_size]
                lsum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
                csum += int((logits.argmax(1) == target).sum())
            loss_l.append(lsum / n)
            acc_l.append(csum / n)
        loss, acc = np.array(loss_l), np.array(acc_l)
    return PathCurve(al, [float(v) for v in loss], [float(1.0 - v) for v in acc])


def _copy(template: LayeredNet) -> LayeredNet:
    return copy.deepcopy(template)


@torch.no_grad()
def hidden_activations(model: LayeredNet, layers: Sequence[str], x: torch.Tensor, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Post-ReLU outputs (samples × units) of every layer in ``layers`` on inputs ``x``, one forward pass per batch."""
    wanted = set(layers)
    parts: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    for start in range(0, x.shape[0], batch_size):
        h = x[start : start + batch_size]
        for name, block in model.blocks.items():
            h = block(h)
            if name in wanted:
                parts[name].append(h.flatten(1).double().cpu())
    return {n: torch.cat(parts[n]).numpy() for n in layers}
