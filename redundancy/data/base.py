"""Types shared by every dataset loader: what a loader returns and what it is given."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from redundancy.errors import RedundancyError

_SEED_MASK = 2**64 - 1


class DataError(RedundancyError):
    """A data request that cannot be met (bad split sizes, bad dataset parameters)."""


class UnknownDataset(DataError):
    """A dataset name that is not in :data:`redundancy.data.DATASETS`."""


@dataclass(frozen=True)
class DataOptions:
    """Run-time options a loader needs beyond its :class:`DataConfig`.

    ``root`` is the already resolved folder for on-disk datasets (see :func:`resolve_root`).
    """

    root: Path


@dataclass
class RawData:
    """What a loader returns: a train pool and a test set, inputs already normalized.

    ``train_x``/``test_x`` are float32 of shape ``(n, *input_shape)``; ``train_y``/``test_y``
    are int64 class indices in ``[0, num_classes)``. The validation set is held out of the
    train pool later, by :func:`redundancy.data.load_data`. ``generated`` marks synthetic
    data whose loader already produced ``train_samples``/``test_samples`` samples, so they
    are not cut again. ``files`` are the files read (their SHA-256 goes into provenance).

    Image datasets also say how they normalized (``normalization``: the per-channel mean and
    std applied to pixels scaled to [0, 1]) and, when their rows are not in source order,
    each row's position in the source (``source_index``: for the train pool and the test set;
    None means the pool's rows first, then the test set's, each in order). ``data.preprocess``
    and ``data.split`` need both.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    source: str
    offline_subset: bool = False
    generated: bool = False
    files: tuple[Path, ...] = ()
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    source_index: tuple[torch.Tensor, torch.Tensor] | None = None


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/redundancy/data``, else ``~/.cache/redundancy/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "redundancy" / "data"


def resolve_root(config_root: str | None, data_root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the spec's ``data.root``, else ``--data-root``, else ``$REDUNDANCY_DATA``,
    else the user cache (:func:`user_cache_dir`)."""
    for candidate in (config_root, data_root, os.environ.get("REDUNDANCY_DATA")):
        if candidate:
            return Path(candidate).expanduser()
    return user_cache_dir()


def seed_words(seed: int, stream: int) -> list[int]:
    """Entropy for ``numpy.random.default_rng``: one independent stream per (seed, purpose); negative seeds allowed."""
    return [seed & _SEED_MASK, stream]


def normalize_images(pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images ``(n, c, h, w)`` to float32: scaled to [0, 1], then ``(x - mean[c]) / std[c]`` per channel."""
    if pixels.dim() != 4 or pixels.shape[1] != len(mean) or len(mean) != len(std):
        raise ValueError(f"expected (n, {len(mean)}, h, w) images, found shape {tuple(pixels.shape)}")
    x = pixels.to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)
