"""What a layer's units output on the probe, summed as moments (the ``dynamics`` study's repeated units)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from redundancy.models import LayeredNet

# Inputs per forward pass when collecting activation moments on the probe.
PROBE_BATCH = 250


@torch.no_grad()
def activation_moments(
    model: LayeredNet, layers: Sequence[str], x: torch.Tensor, batch_size: int = PROBE_BATCH
) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """Per layer, (count, Σ a, Σ a aᵀ) of its block outputs a ∈ R^n over the probe, in float64.

    A unit's output is what the next block sees (after ReLU and pooling); for a Conv layer
    every spatial position of every input is one sample. Sums are accumulated batch by batch
    so a wide Conv layer never holds all probe activations at once.
    """
    want = set(layers)
    acc: dict[str, tuple[float, torch.Tensor, torch.Tensor]] = {}
    for start in range(0, x.shape[0], batch_size):
        h = x[start : start + batch_size]
        for name in model.names:
            h = model.block(name)(h)
            if name not in want:
                continue
            a = h.movedim(1, -1).reshape(-1, h.shape[1]).double() if h.dim() > 2 else h.double()  # (samples, n)
            if name in acc:
                count, total, outer = acc[name]
                acc[name] = (count + a.shape[0], total + a.sum(0), outer + a.T @ a)
            else:
                acc[name] = (float(a.shape[0]), a.sum(0), a.T @ a)
    return {k: (c, s.cpu().numpy(), ss.cpu().numpy()) for k, (c, s, ss) in acc.items()}
