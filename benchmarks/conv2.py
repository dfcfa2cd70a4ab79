"""Conv-2 training on CIFAR-10-shaped data, batch 64, Adam: the textbook loop against the engine.

Conv-2 (Frankle & Carbin): two 3×3 convolutions of 64 filters, a max pool,
FC 256, 256, 10. The textbook loop draws batches from a ``DataLoader`` over
tensors and moves them to the device; the engine samples them from resident
data and, on CUDA, replays the step (with ``Adam(capturable=True)``) as one graph.
"""

from __future__ import annotations

from typing import Any

import torch

from common import CIFAR_SHAPE, best_of, engine_rate, on_cuda, random_bundle, row, tensor_loader, textbook_rate, threads_note

from redundancy.spec.schema import ModelConfig

CONV2 = ModelConfig(name="conv2")


def run(device: str) -> list[dict[str, Any]]:
    gpu = on_cuda(device)
    data = random_bundle(CIFAR_SHAPE, 5_000, device)
    loader = tensor_loader(data, 64)
    engine_its, textbook_its = (5_000, 1_000) if gpu else (40, 40)
    repeats = 3
    textbook, engine = best_of(
        repeats,
        lambda: textbook_rate(CONV2, loader, device, textbook_its),
        lambda: engine_rate(CONV2, data, device, engine_its),
    )
    how = "CUDA graph of the whole step" if gpu else "eager, data resident"
    return [
        row(
            "Conv-2 train, batch 64, Adam",
            textbook,
            engine,
            "it/s",
            f"engine: {how}; best of {repeats}; {threads_note()}",
            "≥ 1,200 it/s" if gpu else "",
        )
    ]


if __name__ == "__main__":
    for r in run("cuda" if torch.cuda.is_available() else "cpu"):
        print(r)
