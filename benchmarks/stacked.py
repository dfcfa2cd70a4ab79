"""Stacked LeNet-300-100s, batch 64, SGD with momentum: 32 and 128 networks as one set of batched weights.

The textbook way to train M networks is M tutorial loops one after another,
so its model-iterations per second are one loop's iterations per second. The
engine is :func:`redundancy.train.train_stacked`: every member with its own
initialization and batches, one batched product per layer for all of them
(and on CUDA the whole step replayed as one graph).
"""

from __future__ import annotations

from typing import Any

import torch

from common import best_of, engine_rate, on_cuda, random_bundle, row, tensor_loader, textbook_rate, threads_note

from redundancy.spec.schema import ModelConfig

LENET = ModelConfig(name="lenet_300_100")


def run(device: str) -> list[dict[str, Any]]:
    gpu = on_cuda(device)
    data = random_bundle((1, 28, 28), 10_000, device)
    loader = tensor_loader(data, 64)
    rows = []
    for members in (32, 128):
        engine_its = 2_000 if gpu else max(12, 1_600 // members)
        textbook_its = 2_000 if gpu else 1_000
        textbook, engine = best_of(
            2,
            lambda: textbook_rate(LENET, loader, device, textbook_its),
            lambda: engine_rate(LENET, data, device, engine_its, members=members),
        )
        target = "≥ 70,000 model-it/s" if gpu and members == 128 else ""
        note = f"{members} LeNets stacked; textbook: one DataLoader loop per network, in turn; best of 2; {threads_note()}"
        rows.append(row(f"{members} stacked LeNet-300-100, batch 64, SGD", textbook, engine, "model-it/s", note, target))
    return rows


if __name__ == "__main__":
    for r in run("cuda" if torch.cuda.is_available() else "cpu"):
        print(r)
