"""Pruning sweeps: the textbook loop against the study's engine, timed in one run on one device.

- textbook (:func:`redundancy.studies.common.removal.textbook_removal`): per
  level, deep-copy the model, zero the removed units' weights and evaluate the
  whole network over the images in batches of 1,000;
- engine (:func:`~redundancy.studies.common.removal.removal_sweep`,
  :func:`~redundancy.studies.common.removal.single_unit_removal`): the layers
  below the pruned one run once, each level is a rank-1 update of the next
  layer's pre-activation, then only the layers above run.

Rows:

1. the issue's figure: LeNet-300-100 fc1, 301 levels (0..300 units removed in
   magnitude order) on 10,000 images. LeNet is trained briefly on the offline
   MNIST 5k digits; the 10,000 images are those digits twice.
2. Casper's removable units: each of fc1's 300 units removed alone.
3. Conv-2 fc1 (Figure 2b's layer), 257 levels, on random CIFAR-shaped images.
   The textbook loop runs the two convolutions again at every level, which on a
   CPU takes seconds per level, so there it is timed on 6 of the levels (and a
   smaller image set); its rate is levels per second all the same.
1b. (two rows, right after row 1) LeNet fc1, 301 levels, against plain
   PyTorch's batched levels (:func:`plain_batched_levels`) instead of the textbook loop: fc1's output computed once, every level's
   unit mask applied to it and fc2 and fc3 run on chunks of levels stacked into
   one batched product, as large as a memory budget allows. The first is the
   engine's own batched mode (``fused=False``: chunks of level states from one
   batched call, the GPU default), then its default on this device.

The machine may be shared, so the two sides are timed alternately in rounds
and each side's best round is its rate (see :func:`_interleaved`). Every row
also compares accuracy and loss level by level with the textbook's and states
the largest difference in its note.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from redundancy.data import load_data
from redundancy.models import LayeredNet, build_model
from redundancy.spec.schema import DataConfig, ModelConfig, TrainConfig, resolve_train
from redundancy.studies.common.removal import removal_sweep, single_unit_removal, textbook_removal
from redundancy.studies.common.orders import order_by_scores
from redundancy.train import train_model

IMAGES = 10_000
TOLERANCE = 1e-6
ROUNDS = 3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - start, out


def _lenet(device: torch.device) -> tuple[LayeredNet, torch.Tensor, torch.Tensor]:
    """LeNet-300-100 after 400 SGD steps on MNIST 5k, and 10,000 labelled digits on ``device``."""
    data = load_data(DataConfig(name="mnist-5k"), validation=0.1, device=device)
    cfg = ModelConfig(name="lenet_300_100")
    train = resolve_train(TrainConfig(iterations=400, lr=0.01, eval_interval=400), cfg)
    result = train_model(cfg, train, data, seed=0, device=device)
    model = build_model(cfg, data.input_shape, data.num_classes, seed=0)
    model.load_state_dict(result.checkpoints[result.final_iteration])
    pool_x = torch.cat([data.test_x, data.train_x, data.val_x])
    pool_y = torch.cat([data.test_y, data.train_y, data.val_y])
    reps = -(-IMAGES // pool_x.shape[0])
    x = pool_x.repeat((reps,) + (1,) * (pool_x.dim() - 1))[:IMAGES]
    y = pool_y.repeat(reps)[:IMAGES]
    return model.to(device).eval(), x, y


PLAIN_BUDGET = 1 << 26
"""Elements of the stacked hidden activations of one chunk of levels in :func:`plain_batched_levels` (256 MiB in float32)."""


@torch.no_grad()
def plain_batched_levels(model: LayeredNet, order: torch.Tensor, levels: list[int], x: torch.Tensor, y: torch.Tensor) -> Result:
    """Plain PyTorch: LeNet-300-100 with the first k units of ``order`` removed from fc1, for every k in ``levels``.

    fc1's output ``a`` (n, 300) is computed once; level l keeps ``a * keep_l``
    and runs fc2 and fc3 on a (levels, n, 300) stack of them, in chunks of
    levels whose stack fits :data:`PLAIN_BUDGET`. Accuracy and mean
    cross-entropy per level, float64 on the CPU.
    """
    fc1, fc2, fc3 = (model.block(name).layer for name in ("fc1", "fc2", "fc3"))
    a = torch.relu(F.linear(x.flatten(1), fc1.weight, fc1.bias))  # (n, 300)
    n, units = a.shape
    keep = torch.ones(len(levels), units, device=a.device)
    for i, k in enumerate(levels):
        keep[i, order[:k].to(a.device)] = 0.0
    chunk = max(1, PLAIN_BUDGET // (n * units))
    acc = torch.empty(len(levels), dtype=torch.float64)
    loss = torch.empty(len(levels), dtype=torch.float64)
    for start in range(0, len(levels), chunk):
        m = keep[start : start + chunk]  # (c, 300)
        h = torch.relu(torch.matmul(a * m[:, None, :], fc2.weight.T) + fc2.bias)  # (c, n, 100)
        logits = torch.matmul(h, fc3.weight.T) + fc3.bias  # (c, n, 10)
        c = m.shape[0]
        ce = F.cross_entropy(logits.reshape(c * n, -1), y.repeat(c), reduction="none").view(c, n)
        loss[start : start + c] = ce.double().mean(1).cpu()
        acc[start : start + c] = (logits.argmax(-1) == y).double().mean(1).cpu()
    return acc, loss


def _agreement(engine: tuple[torch.Tensor, torch.Tensor], textbook: tuple[torch.Tensor, torch.Tensor]) -> str:
    d_acc = float((engine[0] - textbook[0]).abs().max())
    d_loss = float((engine[1] - textbook[1]).abs().max())
    verdict = "equal to the textbook's within 1e-6" if max(d_acc, d_loss) <= TOLERANCE else "NOT within 1e-6 of the textbook's"
    return f"{verdict} (max |Δ accuracy| {d_acc:.1e}, max |Δ loss| {d_loss:.1e})"


def _machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{torch.get_num_threads()} threads, load average {load:.1f} on {os.cpu_count()} cores"


def _row(name: str, textbook_rate: float, engine_rate: float, note: str, target: str) -> dict[str, Any]:
    return {
        "benchmark": name,
        "textbook": textbook_rate,
        "engine": engine_rate,
        "unit": "levels/s",
        "ratio": engine_rate / textbook_rate,
        "note": note,
        "target": target,
    }


Result = tuple[torch.Tensor, torch.Tensor]


def _interleaved(
    device: torch.device, engine: Callable[[], Result], textbook: Callable[[list[int]], Result], items: list[int], engine_items: int
) -> tuple[float, float, Result, Result]:
    """Best rates (items/s) of engine and textbook, timed alternately in ROUNDS rounds.

    The textbook's items are split into ROUNDS parts, one per round, each timed
    right after a full engine run, so a burst of load from other processes hits
    both sides alike; the best round of each side is its rate. Returns (engine
    rate, textbook rate, engine result, textbook result over all items).
    """
    parts = [items[r::ROUNDS] for r in range(ROUNDS)]
    best_engine = best_text = 0.0
    out_engine: Result | None = None
    text_acc, text_loss = torch.empty(len(items), dtype=torch.float64), torch.empty(len(items), dtype=torch.float64)
    for r, part in enumerate(parts):
        t, out_engine = _timed(device, engine)
        best_engine = max(best_engine, engine_items / t)
        t, (acc, loss) = _timed(device, lambda: textbook(part))
        best_text = max(best_text, len(part) / t)
        text_acc[r::ROUNDS], text_loss[r::ROUNDS] = acc, loss
    assert out_engine is not None
    return best_engine, best_text, out_engine, (text_acc, text_loss)


def run(device: str) -> list[dict[str, Any]]:
    dev = torch.device(device)
    cpu = dev.type == "cpu"
    rows = []

    # 1. The figure: LeNet fc1, 301 levels, 10,000 images.
    model, x, y = _lenet(dev)
    w = model.block("fc1").layer.weight.detach()
    order = order_by_scores(w.norm(dim=1), "smallest")
    levels = list(range(w.shape[0] + 1))
    removal_sweep(model, "fc1", [order], levels[:3], x, y)  # warm-up
    textbook_removal(model, "fc1", [[]], x, y)
    engine_rate, text_rate, engine, text = _interleaved(
        dev,
        lambda: removal_sweep(model, "fc1", [order], levels, x, y),
        lambda ks: textbook_removal(model, "fc1", [order[:k].tolist() for k in ks], x, y, batch_size=1000),
        levels,
        len(levels),
    )
    rows.append(
        _row(
            "pruning sweep: LeNet fc1, 301 levels x 10k images",
            text_rate,
            engine_rate,
            f"{_agreement((engine[0][0], engine[1][0]), text)}; best of {ROUNDS} interleaved rounds; {_machine()}",
            "≥15× CPU, ≥30× GPU",
        )
    )

    # 1b. Against plain PyTorch's batched levels, both sides all 301 levels, alternately.
    plain_batched_levels(model, order, levels[:3], x, y)  # warm-up
    for label, fused in (("the engine's batched levels (fused=False)", False), ("the engine's default on this device", None)):
        removal_sweep(model, "fc1", [order], levels[:3], x, y, fused=fused)  # warm-up
        best_engine = best_plain = 0.0
        for _ in range(ROUNDS):
            t, engine = _timed(dev, lambda: removal_sweep(model, "fc1", [order], levels, x, y, fused=fused))
            best_engine = max(best_engine, len(levels) / t)
            t, plain = _timed(dev, lambda: plain_batched_levels(model, order, levels, x, y))
            best_plain = max(best_plain, len(levels) / t)
        rows.append(
            {
                **_row(
                    f"pruning sweep: LeNet fc1, 301 levels x 10k images, {label} vs plain PyTorch's batched levels",
                    best_plain,
                    best_engine,
                    f"{_agreement((engine[0][0], engine[1][0]), plain).replace('textbook', 'plain batched')}; best of {ROUNDS} alternate rounds; {_machine()}",
                    "≥0.8 on GPU",
                ),
                "reference": "plain PyTorch, many levels in one batched product",
            }
        )

    # 2. Each unit removed alone (the dynamics study's removable units).
    units = list(range(w.shape[0]))
    text_units = units[:: 5] if cpu else units
    engine_rate, text_rate, single, text = _interleaved(
        dev,
        lambda: single_unit_removal(model, "fc1", x, y),
        lambda us: textbook_removal(model, "fc1", [[u] for u in us], x, y, batch_size=1000),
        text_units,
        len(units),
    )
    rows.append(
        _row(
            "single-unit removal: LeNet fc1, 300 units x 10k images",
            text_rate,
            engine_rate,
            f"textbook timed on {len(text_units)} of the 300 units; {_agreement((single[0][text_units], single[1][text_units]), text)}",
            "",
        )
    )

    # 3. Conv-2 fc1 on CIFAR-shaped inputs.
    images = 500 if cpu else IMAGES
    conv = build_model(ModelConfig(name="conv2"), (3, 32, 32), 10, seed=0).to(dev).eval()
    gen = torch.Generator(device="cpu").manual_seed(0)
    cx = torch.randn(images, 3, 32, 32, generator=gen).to(dev)
    cy = torch.randint(0, 10, (images,), generator=gen).to(dev)
    cw = conv.block("fc1").layer.weight.detach()
    corder = order_by_scores(cw.norm(dim=1), "smallest")
    clevels = list(range(cw.shape[0] + 1))
    text_levels = clevels[::51] if cpu else clevels
    removal_sweep(conv, "fc1", [corder], clevels[:3], cx, cy)  # warm-up
    engine_rate, text_rate, engine, text = _interleaved(
        dev,
        lambda: removal_sweep(conv, "fc1", [corder], clevels, cx, cy),
        lambda ks: textbook_removal(conv, "fc1", [corder[:k].tolist() for k in ks], cx, cy, batch_size=1000),
        text_levels,
        len(clevels),
    )
    rows.append(
        _row(
            f"pruning sweep: Conv-2 fc1, 257 levels x {images} images",
            text_rate,
            engine_rate,
            f"textbook timed on {len(text_levels)} of the 257 levels; {_agreement((engine[0][0][text_levels], engine[1][0][text_levels]), text)}",
            "",
        )
    )
    return rows


if __name__ == "__main__":
    import sys

    for row in run(sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")):
        print(
            f"{row['benchmark']}: textbook {row['textbook']:,.1f} {row['unit']}, engine {row['engine']:,.1f} {row['unit']}, "
            f"ratio {row['ratio']:.1f}x {('(target ' + row['target'] + ')') if row['target'] else ''}\n    {row['note']}"
        )
