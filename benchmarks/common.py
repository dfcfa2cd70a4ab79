"""What the training benchmarks share: random data of a dataset's shape, the textbook loops, timing.

Timing does not depend on the data's content, so the benchmarks train on
random tensors of MNIST or CIFAR-10 shape. "Textbook" is the loop of a
PyTorch tutorial: a ``DataLoader`` over tensors (or over a torchvision-style
dataset that decodes and transforms every image), each batch moved to the
device, ``zero_grad``/``backward``/``step``. The engine is
:func:`redundancy.train.train_model` / :func:`redundancy.train.train_stacked`
with the model's training config from the seed's table.

Both sides are timed in steady state (after warm-up, evaluations excluded)
and alternately, ``repeats`` times each, keeping the best rate of each side,
so that a burst of load from other processes hits both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from redundancy.data import DataBundle
from redundancy.models import build_model
from redundancy.spec.schema import ModelConfig, TrainConfig, resolve_train
from redundancy.train import Member, train_model, train_stacked

MNIST_SHAPE = (1, 28, 28)
CIFAR_SHAPE = (3, 32, 32)


def on_cuda(device: str) -> bool:
    return torch.device(device).type == "cuda"


def sync(device: str) -> None:
    if on_cuda(device):
        torch.cuda.synchronize()


def random_bundle(shape: tuple[int, ...], n_train: int, device: str, seed: int = 0) -> DataBundle:
    """Random inputs and labels of ``shape`` on ``device``, split like a real dataset."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + 2000, *shape, generator=g)
    y = torch.randint(0, 10, (n_train + 2000,), generator=g)
    bundle = DataBundle(
        name="random",
        train_x=x[:n_train],
        train_y=y[:n_train],
        val_x=x[n_train : n_train + 1000],
        val_y=y[n_train : n_train + 1000],
        test_x=x[n_train + 1000 :],
        test_y=y[n_train + 1000 :],
        num_classes=10,
        input_shape=shape,
        source="random tensors",
    )
    return bundle.to(device)


def engine_config(model: ModelConfig, iterations: int) -> TrainConfig:
    """The seed's training config for ``model``, for ``iterations`` steps, evaluated only at the end."""
    return resolve_train(TrainConfig(iterations=iterations, eval_interval=iterations), model)


class StepClock:
    """A training callback that times iterations ``first`` .. ``last`` (synchronizing CUDA at both ends)."""

    def __init__(self, device: str, first: int, last: int):
        self.device, self.first, self.last = device, first, last
        self.marks: dict[int, float] = {}

    def __call__(self, it: int, metrics: dict[str, float] | None) -> None:
        if it in (self.first, self.last):
            sync(self.device)
            self.marks[it] = time.perf_counter()

    @property
    def rate(self) -> float:
        return (self.last - self.first) / (self.marks[self.last] - self.marks[self.first])


def engine_rate(model: ModelConfig, data: DataBundle, device: str, iterations: int, members: int = 0) -> float:
    """Engine iterations per second in steady state; with ``members`` > 0, model-iterations/s of that many stacked."""
    train = engine_config(model, iterations)
    first = min(10, iterations // 4)  # past the first steps, whose allocations and graph capture are one-off
    clock = StepClock(device, first, iterations - 1)
    if members:
        train_stacked(model, train, data, [Member(seed) for seed in range(members)], device=device, callback=clock)
        return clock.rate * members
    train_model(model, train, data, seed=0, device=device, callback=clock)
    return clock.rate


def textbook_model(model: ModelConfig, shape: tuple[int, ...], device: str) -> nn.Module:
    """The same network the engine trains, as the ``nn.Module`` a textbook loop would use."""
    return build_model(model, shape, 10, seed=0).to(device)


def textbook_rate(model: ModelConfig, loader: DataLoader[Any], device: str, iterations: int) -> float:
    """Iterations per second of the tutorial loop over ``loader``, batches moved to ``device`` each step."""
    train = engine_config(model, iterations)
    first_x, _ = next(iter(loader))
    net = textbook_model(model, tuple(first_x.shape[1:]), device)
    if train.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(net.parameters(), lr=train.lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=train.lr, momentum=train.momentum or 0.0)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from loader

    first = min(10, iterations // 4)
    start = 0.0
    for it, (xb, yb) in enumerate(batches()):
        if it == first:
            sync(device)
            start = time.perf_counter()
        if it == iterations:
            break
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
    sync(device)
    return (iterations - first) / (time.perf_counter() - start)


def tensor_loader(data: DataBundle, batch_size: int) -> DataLoader[Any]:
    """A ``DataLoader`` over the training tensors (kept on the host, as a textbook loop has them)."""
    return DataLoader(TensorDataset(data.train_x.cpu(), data.train_y.cpu()), batch_size=batch_size, shuffle=True)


class ImageFolderLike(Dataset[tuple[torch.Tensor, int]]):
    """A dataset as torchvision's MNIST serves it: uint8 pixels -> PIL image -> ``ToTensor`` -> ``Normalize``."""

    def __init__(self, n: int, seed: int = 0):
        from torchvision import transforms

        rng = np.random.default_rng(seed)
        self.pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        self.labels = rng.integers(0, 10, size=n).tolist()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.pixels[i])), self.labels[i]


def best_of(repeats: int, *measures: Callable[[], float]) -> list[float]:
    """Run the measures alternately ``repeats`` times; the best rate of each."""
    best = [0.0] * len(measures)
    for _ in range(repeats):
        for i, measure in enumerate(measures):
            best[i] = max(best[i], measure())
    return best


def row(benchmark: str, textbook: float | None, engine: float, unit: str, note: str, target: str) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "textbook": textbook,
        "engine": engine,
        "unit": unit,
        "ratio": engine / textbook if textbook else None,
        "note": note,
        "target": target,
    }


def threads_note() -> str:
    return f"{torch.get_num_threads()} threads"
