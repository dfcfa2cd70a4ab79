"""Inference speed of a structurally pruned network against the dense one, timed in one run.

- textbook: the dense LeNet-300-100 (and Conv-2), units "removed" by a mask
  (what an unstructured pruning library or a masked sweep runs: the same cost
  as the dense network);
- engine: the network built smaller by :func:`redundancy.studies.common.structural.shrink`
  (rows of the layer and the matching inputs of the next layer removed).

Rows: LeNet-300-100 with 50 % and 90 % of fc1's units removed (batch 1,000 of
MNIST-shaped inputs), Conv-2 with 50 % of conv2's filters removed (batch 256 of
CIFAR-shaped inputs). Rates are images per second of the forward pass; the
two sides are timed alternately and each keeps its best round, so that load
from other processes hits both alike. The note gives the parameters and FLOPs
of both networks and checks that their outputs agree.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from common import CIFAR_SHAPE, MNIST_SHAPE, sync
from redundancy.models import build_model
from redundancy.spec.schema import ModelConfig
from redundancy.studies.common.structural import kept_after, layer_costs, shrink, total_cost


def _rate(fn: Any, images: int, device: str, min_seconds: float) -> float:
    fn()
    sync(device)
    done, start = 0, time.perf_counter()
    while True:
        fn()
        done += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done * images / elapsed


def _row(label: str, cfg: ModelConfig, shape: tuple[int, ...], layer: str, fraction: float, batch: int, device: str) -> dict[str, Any]:
    net = build_model(cfg, shape, 10, seed=0).to(device).eval()
    n = net.block(layer).units
    removed = int(round(fraction * n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    small = shrink(net, {layer: kept_after(order, removed).to(device)}).eval()
    mask = torch.ones(n, device=device)
    mask[order[:removed].to(device)] = 0.0
    x = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        diff = float((small(x) - net(x, {layer: mask})).abs().max())
        dense_best = small_best = 0.0
        for _ in range(3):
            dense_best = max(dense_best, _rate(lambda: net(x, {layer: mask}), batch, device, 0.5))
            small_best = max(small_best, _rate(lambda: small(x), batch, device, 0.5))
    dense_cost = total_cost(layer_costs(net, shape))
    small_cost = total_cost(layer_costs(small, shape))
    return {
        "benchmark": f"{label}: {layer} {fraction:.0%} of units removed, forward",
        "textbook": dense_best,
        "engine": small_best,
        "unit": "images/s",
        "ratio": small_best / dense_best,
        "target": "> 1 (fewer FLOPs)",
        "note": (
            f"params {dense_cost.params:,} -> {small_cost.params:,}, FLOPs/image {dense_cost.flops:,} -> "
            f"{small_cost.flops:,}; max |output difference| {diff:.1e}"
        ),
    }


def run(device: str) -> list[dict[str, Any]]:
    lenet = ModelConfig(name="lenet_300_100")
    return [
        _row("LeNet-300-100", lenet, MNIST_SHAPE, "fc1", 0.5, 1000, device),
        _row("LeNet-300-100", lenet, MNIST_SHAPE, "fc1", 0.9, 1000, device),
        _row("Conv-2", ModelConfig(name="conv2"), CIFAR_SHAPE, "conv2", 0.5, 256, device),
    ]


if __name__ == "__main__":
    import sys

    for row in run(sys.argv[1] if len(sys.argv) > 1 else "cpu"):
        print(row)
