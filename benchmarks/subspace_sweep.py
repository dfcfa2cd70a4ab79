"""Subspace sweep on LeNet fc1: the textbook loop against the study's engine, k = 0..300.

LeNet-300-100 is trained briefly on the offline MNIST 5k digits; the sweep
projects fc1's update W − Z onto its top-k left-singular vectors for every
k = 0..300 and measures test accuracy on 10,000 images (the 5,000 digits twice,
as the seed's MNIST test set has 10,000).

- textbook: per k rebuild W_k = Z + U_k U_kᵀ (W − Z), deep-copy the network with
  it and evaluate the whole network in batches of 1,000;
- engine: :func:`redundancy.studies.subspace.sweep.projected_sweep` (layers below
  fc1 once per batch, one rank-1 update of fc1's pre-activation per k, then fc2
  and fc3).

The one SVD of W − Z both need (about 0.1 s) is computed once and not timed.
Both are timed in the same process on the same device, and their accuracies
are compared k by k.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from redundancy.data import load_data
from redundancy.models import LayeredNet, build_model
from redundancy.spec.schema import DataConfig, ModelConfig, TrainConfig, resolve_train
from redundancy.studies.subspace.sweep import SweepResult, projected_sweep, rebuilt_sweep
from redundancy.studies.common.weights import as_matrix64 as as_matrix
from redundancy.studies.subspace.linalg import left_singular, ordered_basis
from redundancy.train import train_model

LAYER = "fc1"
IMAGES = 10_000
TARGET = "≥4× on a 2-core CPU"
ROUNDS = 3


def _setup(device: torch.device) -> tuple[LayeredNet, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A briefly trained LeNet, its fc1 weights at init (Z) and now (W), and 10,000 labelled images."""
    data = load_data(DataConfig(name="mnist-5k"), validation=0.1, device=device)
    model_cfg = ModelConfig(name="lenet_300_100")
    train = resolve_train(TrainConfig(iterations=400, lr=0.01, eval_interval=400), model_cfg)
    result = train_model(model_cfg, train, data, seed=0, device=device)
    net = build_model(model_cfg, data.input_shape, data.num_classes, seed=0)
    net.load_state_dict(result.checkpoints[result.final_iteration])
    net = net.to(device).eval()
    key = f"blocks.{LAYER}.layer.weight"
    z = result.checkpoints[0][key].to(device)
    w = result.checkpoints[result.final_iteration][key].to(device)
    pool_x = torch.cat([data.test_x, data.train_x, data.val_x])
    pool_y = torch.cat([data.test_y, data.train_y, data.val_y])
    reps = -(-IMAGES // pool_x.shape[0])
    x = pool_x.repeat((reps,) + (1,) * (pool_x.dim() - 1))[:IMAGES]
    y = pool_y.repeat(reps)[:IMAGES]
    return net, z, w, x, y


def _timed(fn: Any) -> tuple[float, SweepResult]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def run(device: str) -> list[dict[str, Any]]:
    """One row: ranks per second of the textbook loop and of the engine, and their ratio.

    The two are interleaved in ``ROUNDS`` rounds (each round: one full engine
    sweep, then every ROUNDS-th rank of the textbook loop), so that a machine
    shared with other work slows both alike; the textbook's cost per rank does
    not depend on k. The engine's time is the median of its rounds.
    """
    dev = torch.device(device)
    net, z, w, x, y = _setup(dev)
    ks = list(range(min(w.shape) + 1))  # 0..300
    u, _ = left_singular(as_matrix(w) - as_matrix(z))  # the one SVD per layer, common to both
    basis = [ordered_basis(u, "top")]
    projected_sweep(net, LAYER, z, w, basis, ks[:2], x, y)  # first call pays one-time allocator costs
    t_textbook, engine_times = 0.0, []
    slow_acc = np.zeros(len(ks))
    fast: SweepResult | None = None
    for r in range(ROUNDS):
        t, fast = _timed(lambda: projected_sweep(net, LAYER, z, w, basis, ks, x, y))
        engine_times.append(t)
        part = ks[r::ROUNDS]
        t, slow = _timed(lambda: rebuilt_sweep(net, LAYER, z, w, basis, part, x, y, 1000))
        t_textbook += t
        slow_acc[r::ROUNDS] = slow.accuracy[0]
    assert fast is not None
    t_engine = float(np.median(engine_times))
    diff = np.abs(fast.accuracy[0] - slow_acc)
    disagree = int(np.count_nonzero(diff))
    agree = (
        f"accuracies agree at all {len(ks)} ranks"
        if disagree == 0
        else f"accuracies differ at {disagree} of {len(ks)} ranks (max {diff.max():.2e})"
    )
    textbook_rate = len(ks) / t_textbook
    engine_rate = len(ks) / t_engine
    acc = fast.accuracy[0]
    note = (
        f"LeNet fc1 update W−Z, top basis, k=0..{ks[-1]}, {IMAGES:,} images; {agree}; "
        f"acc k=0 {acc[0]:.3f}, k=16 {acc[16]:.3f}, k={ks[-1]} {acc[-1]:.3f}; "
        f"textbook {t_textbook:.1f} s, engine {t_engine:.1f} s (median of {ROUNDS}), {torch.get_num_threads()} threads"
    )
    return [
        {
            "benchmark": "subspace sweep, LeNet fc1, k=0..300",
            "textbook": textbook_rate,
            "engine": engine_rate,
            "unit": "ranks/s",
            "ratio": engine_rate / textbook_rate,
            "note": note,
            "target": TARGET,
        }
    ]


if __name__ == "__main__":
    import sys

    for row in run(sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")):
        print(
            f"{row['benchmark']}: textbook {row['textbook']:.1f} {row['unit']}, "
            f"engine {row['engine']:.1f} {row['unit']}, ratio {row['ratio']:.1f}x (target {row['target']})"
        )
        print(f"  {row['note']}")
