"""The dataset registry: each built-in dataset's entry, and plugins found by name.

A dataset is a :class:`DatasetEntry` in :data:`DATASETS`: its loader, a plain function
``(DataConfig, DataOptions) -> RawData``, and what a spec check needs without loading it
(input shape and classes, the sizes of the training pool and the test set, whether the
files are there). Add one entry to register a dataset; a name the table lacks is looked
up as an installed ``redundancy.datasets`` entry point or an import path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redundancy import plugins
from redundancy.plugins import Plugin
from redundancy.registry import Registry
from redundancy.spec.schema import DataConfig

from .base import DataOptions, RawData, UnknownDataset, resolve_root
from .bundle import DataBundle
from .mnist5k import load_mnist_5k
from .plugin import load_plugin
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


_BUILTIN: dict[str, DatasetEntry] = {
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


def _plugin_entry(plugin: Plugin) -> DatasetEntry:
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


def _plugin(name: str) -> DatasetEntry:
    return _plugin_entry(plugins.resolve(plugins.DATASET_GROUP, name))


#: Every dataset by name: the built-ins above, then additions; plugins by :func:`get_dataset`.
DATASETS: Registry[DatasetEntry] = Registry(
    "dataset", _BUILTIN, plugin=_plugin, installed=lambda: plugins.entry_point_names(plugins.DATASET_GROUP)
)


def get_dataset(name: str) -> DatasetEntry:
    """The dataset ``name``: a built-in, an installed ``redundancy.datasets`` entry point, or ``module:function``.

    :class:`UnknownDataset` lists the known names; :class:`~redundancy.plugins.PluginError`
    says why a plugin cannot be imported.
    """
    try:
        return DATASETS.lookup(name)
    except KeyError:
        known = ", ".join([*sorted(DATASETS), *DATASETS.installed()])
        raise UnknownDataset(f"unknown dataset {name!r}; available: {known}, or an import path 'package.module:function'") from None


def get_loader(name: str) -> Loader:
    """The loader registered as ``name``; :class:`UnknownDataset` lists the known names."""
    return get_dataset(name)


def data_shape(cfg: DataConfig) -> Shape:
    """``(input_shape, num_classes)`` of ``cfg``'s dataset, as :func:`~redundancy.data.load_data` will give them."""
    return get_dataset(cfg.name).shape(cfg)
