"""The data contract: which samples and which preprocessing a run's weights saw.

A run trained by redundancy saw :func:`redundancy.data.load_data`'s split and
normalization, so its test set is unseen by construction. Weights trained elsewhere
(``train.from_checkpoints``) saw whatever their author's script gave them: if that was
another split of the same images, the tool's test set may hold digits the network trained
on, and scoring it there inflates every accuracy. A spec says what they saw with
``data.split`` (index files of the samples trained on and held out) and
``data.preprocess`` (``x = (pixel * scale - mean) / std``); the run is then evaluated on
the declared held-out samples, preprocessed the declared way. :func:`describe` is the
sentence ``run`` prints about it.

Index files count samples in the dataset's source order (see
:class:`~redundancy.spec.schema.Split`), so a script that read the files itself can write
them without this package. Pixels are recovered exactly from the normalized tensors
(they are whole numbers 0..255), so a declared preprocessing gives the same inputs the
author's script computed.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import torch

from redundancy.spec.schema import DataConfig, Preprocess, ResolvedRun, Split

from .base import DataError, RawData

#: Most indices an index file may hold (a split of the largest built-in dataset needs 70,000).
MAX_INDICES = 10_000_000


def read_indices(path: str | Path, what: str = "split file") -> np.ndarray:
    """The int64 indices in ``path``: ``.npy``, ``.pt`` (a tensor or list, read without running code) or text."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        elif path.suffix == ".pt":
            values = torch.load(path, map_location="cpu", weights_only=True)
            values = values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read(16 * MAX_INDICES)
            words = [w for w in re.split(r"[\s,\[\]]+", text) if w]
            values = np.asarray([int(w) for w in words], dtype=np.int64)
    except FileNotFoundError:
        raise DataError(f"{what} {path} not found") from None
    except (OSError, ValueError, RuntimeError, EOFError) as exc:
        raise DataError(f"cannot read {what} {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0 or not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
        raise DataError(f"{what} {path} must hold a non-empty list of sample indices; found {values.dtype} of shape {values.shape}")
    if values.size > MAX_INDICES:
        raise DataError(f"{what} {path} holds {values.size:,} indices; at most {MAX_INDICES:,}")
    values = values.astype(np.int64)
    if len(np.unique(values)) != len(values):
        raise DataError(f"{what} {path} lists some indices more than once")
    return values


def _per_channel(value: float | list[float], channels: int, field: str) -> list[float]:
    values = value if isinstance(value, list) else [value] * channels
    if len(values) != channels:
        raise DataError(f"data.preprocess.{field} has {len(values)} values; the images have {channels} channels")
    return [float(v) for v in values]


def _pixels(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The uint8 pixels ``x`` was normalized from (``((pixel / 255) - mean) / std``), recovered exactly."""
    m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    return (x.to(torch.float64) * s + m).mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)


def preprocess(pixels: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """float32 ``(pixel * scale - mean) / std`` per channel of uint8 images ``(n, c, h, w)``."""
    channels = pixels.shape[1]
    m = torch.tensor(_per_channel(pre.mean, channels, "mean"), dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(_per_channel(pre.std, channels, "std"), dtype=torch.float32).view(1, -1, 1, 1)
    return pixels.to(torch.float32).mul_(pre.scale).sub_(m).div_(s)


def _source_positions(raw: RawData) -> torch.Tensor:
    """Each row's index in the source order, for the train pool's rows then the test set's."""
    n_train, n_test = int(raw.train_y.shape[0]), int(raw.test_y.shape[0])
    if raw.source_index is None:
        return torch.arange(n_train + n_test)
    return torch.cat([raw.source_index[0].to(torch.int64), raw.source_index[1].to(torch.int64)])


def split_rows(total: int, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` source indices a split declares, checked against a dataset of ``total`` samples."""
    train = read_indices(split.train, "data.split.train file")
    if split.test is not None:
        test = read_indices(split.test, "data.split.test file")
    else:
        test = np.setdiff1d(np.arange(total), train)
    for name, values in (("train", train), ("test", test)):
        bad = values[(values < 0) | (values >= total)]
        if bad.size:
            raise DataError(f"data.split.{name} index {int(bad[0])} is outside the dataset's {total:,} samples (0 to {total - 1})")
    shared = np.intersect1d(train, test)
    if shared.size:
        raise DataError(f"data.split.test shares {shared.size:,} samples with data.split.train (the first is {int(shared[0])}): a test set must be unseen")
    if test.size == 0:
        raise DataError("data.split.train holds every sample; no sample is left for the test set")
    return train, test


def apply(raw: RawData, cfg: DataConfig) -> RawData:
    """``raw`` with ``cfg.preprocess`` and ``cfg.split`` applied: its pool the declared training
    samples, its test set the declared held-out ones, in the files' order."""
    if cfg.preprocess is None and cfg.split is None:
        return raw
    if raw.normalization is None or raw.generated:
        raise DataError(f"data.preprocess and data.split apply to image datasets; {cfg.name!r} is not one")
    train_x, test_x = raw.train_x, raw.test_x
    if cfg.preprocess is not None:
        mean, std = raw.normalization
        train_x = preprocess(_pixels(train_x, mean, std), cfg.preprocess)
        test_x = preprocess(_pixels(test_x, mean, std), cfg.preprocess)
    out = dataclasses.replace(raw, train_x=train_x, test_x=test_x)
    if cfg.split is None:
        return out
    positions = _source_positions(raw)
    row_of = torch.full((len(positions),), -1, dtype=torch.int64)
    row_of[positions] = torch.arange(len(positions))
    train, test = split_rows(len(positions), cfg.split)
    rows_train, rows_test = row_of[torch.from_numpy(train)], row_of[torch.from_numpy(test)]
    x, y = torch.cat([out.train_x, out.test_x]), torch.cat([out.train_y, out.test_y])
    return dataclasses.replace(
        out,
        train_x=x[rows_train],
        train_y=y[rows_train],
        test_x=x[rows_test],
        test_y=y[rows_test],
        source=f"{raw.source}; split declared by {Path(cfg.split.train).name}" + (f" and {Path(cfg.split.test).name}" if cfg.split.test else ""),
        source_index=None,
    )


def _number(value: float) -> str:
    return f"{value:.6g}"


def _preprocessing(cfg: DataConfig, normalization: tuple[tuple[float, ...], tuple[float, ...]] | None) -> str:
    if cfg.preprocess is not None:
        p = cfg.preprocess
        mean = p.mean if isinstance(p.mean, list) else [p.mean]
        std = p.std if isinstance(p.std, list) else [p.std]
        return f"declared: x = (pixel × {_number(p.scale)} − {'/'.join(map(_number, mean))}) / {'/'.join(map(_number, std))}"
    if normalization is None:
        return f"{cfg.name}'s own inputs"
    mean, std = normalization
    return f"redundancy's: x = (pixel / 255 − {'/'.join(map(_number, mean))}) / {'/'.join(map(_number, std))}"


def describe(run: ResolvedRun, sizes: tuple[int, int], normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> str:
    """One sentence on the samples and preprocessing an imported run is evaluated under.

    ``sizes`` is the dataset's (training pool, test set) in its own split.
    """
    cfg = run.data
    if cfg.split is not None:
        train, test = split_rows(sum(sizes), cfg.split)
        how = "declared by data.split.test" if cfg.split.test else "every sample not in data.split.train"
        split = f"trained on the {len(train):,} samples of {Path(cfg.split.train).name}; tested on {len(test):,} held-out samples ({how})"
    else:
        split = f"{cfg.name}'s split as redundancy.data.load_data makes it ({sizes[0]:,} training pool, {sizes[1]:,} test)"
    return f"data contract of the imported checkpoints: {split}; preprocessing {_preprocessing(cfg, normalization)}"


def contract_kind(run: ResolvedRun) -> str | None:
    """What an imported run's spec says its checkpoints were trained on: ``declared`` (data.split),
    ``redundancy`` (load_data's data) or ``unknown``; None for a run trained here."""
    if not run.train.from_checkpoints:
        return None
    if run.data.split is not None:
        return "declared"
    return "redundancy" if run.train.data_contract == "redundancy" else "unknown"


def unseen_warning(run: ResolvedRun) -> str | None:
    """Why the test set of an imported run may not be unseen, or None when the spec says what the weights saw."""
    if not run.train.from_checkpoints or run.data.split is not None or run.train.data_contract == "redundancy":
        return None
    return (
        f"cannot know that the test set is unseen: the imported checkpoints are evaluated on {run.data.name}'s test split as "
        "redundancy.data.load_data makes it, preprocessed its way; if they were trained on another split or preprocessing, "
        "declare it (data.split, data.preprocess), or set train.data_contract: redundancy if they were trained on load_data's data"
    )


__all__ = ["MAX_INDICES", "apply", "contract_kind", "describe", "preprocess", "read_indices", "split_rows", "unseen_warning"]
