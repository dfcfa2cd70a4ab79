"""Dataset plugins: a loader outside the project, and what it may return.

A dataset plugin is a function ``load(request: DataRequest)``; it returns one of

- :class:`~redundancy.data.base.RawData` (a train pool and a test set): split like a
  built-in on-disk dataset (validation held out by ``train.validation``, then
  ``data.train_samples`` / ``data.test_samples`` cut);
- plain tensors ``(train_x, train_y, test_x, test_y)``, as a tuple or a dict with those
  keys (and optionally ``num_classes``): treated as RawData, with inputs made float32,
  labels int64, the input shape from ``train_x`` and the number of classes the largest
  label plus one unless given;
- a :class:`~redundancy.data.DataBundle`: used as it is, its own validation set
  included (``train.validation`` and the sample counts do not apply).

What a spec check needs (input shape, classes, sizes) comes from calling the loader,
once per process and config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redundancy import plugins
from redundancy.plugins import Plugin, PluginError
from redundancy.spec.schema import DataConfig

from .base import DataOptions, RawData
from .bundle import DataBundle


@dataclass(frozen=True)
class DataRequest:
    """What a dataset plugin's loader receives (its one argument).

    ``options`` is the spec's ``data.options``; ``train_samples`` / ``test_samples`` the
    sample counts asked for (None: all; RawData is cut to them afterwards, so a loader
    may ignore them); ``data_seed`` the dataset's own seed; ``root`` the data folder
    (``data.root``, ``--data-root``, ``$REDUNDANCY_DATA`` or the user cache);
    ``download`` whether fetching missing files is allowed.
    """

    options: dict[str, Any] = field(default_factory=dict)
    train_samples: int | None = None
    test_samples: int | None = None
    data_seed: int = 0
    root: Path = Path(".")
    download: bool = True


_NAMES = ("train_x", "train_y", "test_x", "test_y")


def _tensor(value: Any, name: str, what: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise PluginError(f"{what} returned {type(value).__name__} for {name}; expected a tensor or a NumPy array")
    return value.detach().cpu()


def raw_from_tensors(values: Mapping[str, Any], what: str, source: str) -> RawData:
    """Plain tensors as :class:`RawData`, every shape and type checked with a message naming the tensor."""
    missing = [n for n in _NAMES if n not in values]
    if missing:
        raise PluginError(f"{what} returned a dict without {', '.join(missing)}")
    t = {n: _tensor(values[n], n, what) for n in _NAMES}
    for split in ("train", "test"):
        x, y = t[f"{split}_x"], t[f"{split}_y"]
        if x.dim() < 2:
            raise PluginError(f"{what}: {split}_x has shape {tuple(x.shape)}; expected (n, *input_shape)")
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise PluginError(f"{what}: {split}_y has shape {tuple(y.shape)}; expected ({x.shape[0]},), one label per {split}_x row")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise PluginError(f"{what}: {split}_y holds {y.dtype}; expected integer class labels")
        if x.shape[0] == 0:
            raise PluginError(f"{what}: {split}_x is empty")
    if t["train_x"].shape[1:] != t["test_x"].shape[1:]:
        raise PluginError(f"{what}: train_x samples have shape {tuple(t['train_x'].shape[1:])}, test_x samples {tuple(t['test_x'].shape[1:])}")
    train_y, test_y = t["train_y"].long(), t["test_y"].long()
    low = int(min(train_y.min(), test_y.min()))
    top = int(max(train_y.max(), test_y.max()))
    classes = values.get("num_classes", top + 1)
    if type(classes) is not int or classes < 2:
        raise PluginError(f"{what}: num_classes must be an int >= 2, found {classes!r}")
    if low < 0 or top >= classes:
        raise PluginError(f"{what}: labels must be in [0, {classes}), found {low}..{top}")
    return RawData(
        train_x=t["train_x"].float().contiguous(),
        train_y=train_y,
        test_x=t["test_x"].float().contiguous(),
        test_y=test_y,
        num_classes=classes,
        input_shape=tuple(t["train_x"].shape[1:]),
        source=source,
    )


def coerce(out: Any, plugin: Plugin) -> Any:
    """A loader's return value as :class:`RawData` or a :class:`DataBundle`; anything else is a :class:`PluginError`."""
    what = plugin.describe("dataset")
    source = f"plugin {plugin.name} ({plugin.identity})"
    if isinstance(out, (RawData, DataBundle)):
        return out
    if isinstance(out, tuple) and len(out) == 4:
        return raw_from_tensors(dict(zip(_NAMES, out)), what, source)
    if isinstance(out, Mapping):
        return raw_from_tensors(out, what, source)
    raise PluginError(
        f"{what} returned {type(out).__name__}; expected a DataBundle, RawData, (train_x, train_y, test_x, test_y) or a dict of them"
    )


_LOADED: dict[str, Any] = {}


def load_plugin(plugin: Plugin, cfg: DataConfig, opts: DataOptions) -> Any:
    """Call the loader once per process for ``cfg`` (spec checks and the run share the result)."""
    key = json.dumps([plugin.name, cfg.model_dump(mode="json", exclude={"plugin"}), str(opts.root)], sort_keys=True)
    if key not in _LOADED:
        request = DataRequest(dict(cfg.options), cfg.train_samples, cfg.test_samples, cfg.data_seed, opts.root, cfg.download)
        _LOADED[key] = coerce(plugins.call(plugin, "dataset", request), plugin)
    return _LOADED[key]


def forget() -> None:
    """Drop loaded plugin data (tests that edit a plugin between runs)."""
    _LOADED.clear()
