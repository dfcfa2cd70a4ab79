"""LeNet-300-100 training, batch 64, SGD with momentum: the textbook loops against the engine.

Two textbook loops: a ``DataLoader`` over tensors (the fair baseline: the data
is already decoded), and a torchvision-style dataset that turns every image
into a PIL image and applies ``ToTensor`` and ``Normalize`` (what most
tutorials do). The engine is :func:`redundancy.train.train_model`: data resident
on the device, batches sampled there, and on CUDA the whole step replayed as
one CUDA graph.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from common import ImageFolderLike, best_of, engine_rate, on_cuda, random_bundle, row, tensor_loader, textbook_rate, threads_note

from redundancy.spec.schema import ModelConfig

LENET = ModelConfig(name="lenet_300_100")


def run(device: str) -> list[dict[str, Any]]:
    gpu = on_cuda(device)
    data = random_bundle((1, 28, 28), 10_000, device)
    engine_its, textbook_its, dataset_its = (20_000, 2_000, 300) if gpu else (1_500, 1_000, 400)
    repeats = 3
    tensors = tensor_loader(data, 64)
    images: DataLoader[Any] = DataLoader(ImageFolderLike(10_000), batch_size=64, shuffle=True)
    textbook, dataset, engine = best_of(
        repeats,
        lambda: textbook_rate(LENET, tensors, device, textbook_its),
        lambda: textbook_rate(LENET, images, device, dataset_its),
        lambda: engine_rate(LENET, data, device, engine_its),
    )
    how = "CUDA graph of the whole step" if gpu else "eager, data resident"
    note = f"engine: {how}; best of {repeats} alternating runs; {threads_note()}"
    return [
        row(
            "LeNet-300-100 train, batch 64, SGD — vs tensor DataLoader",
            textbook,
            engine,
            "it/s",
            note,
            "≥ 10,000 it/s and ≥ 20×" if gpu else "≥ 1.3×",
        ),
        row(
            "LeNet-300-100 train — vs torchvision-style dataset (ToTensor, Normalize)",
            dataset,
            engine,
            "it/s",
            note,
            "",
        ),
    ]


if __name__ == "__main__":
    for r in run("cuda" if torch.cuda.is_available() else "cpu"):
        print(r)
