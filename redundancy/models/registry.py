"""The model registry: the built-in models by name, and plugins found by name.

A name the table lacks is looked up as an installed ``redundancy.models`` entry point or
an import path; a plugin's builder is called with one :class:`ModelRequest` and its
network adapted (:mod:`redundancy.models.adapt`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from redundancy import plugins
from redundancy.errors import RedundancyError
from redundancy.plugins import Plugin
from redundancy.registry import Registry
from redundancy.spec.schema import MODEL_TRAIN_DEFAULTS, ModelConfig

from .adapt import adapt
from .builtin import BUILTIN, ModelEntry
from .net import LayeredNet


@dataclass(frozen=True)
class ModelRequest:
    """What a model plugin's builder receives (its one argument).

    ``input_shape`` is one sample's shape (``(784,)``, ``(1, 28, 28)``), ``num_classes`` the
    number of logits to return, ``seed`` the run's seed (the global generator is also seeded
    with it while the builder runs, so PyTorch's default initialization is reproducible),
    ``width`` the spec's multiplier on hidden widths, ``bias`` whether layers carry a bias,
    and ``options`` the spec's ``model.options`` (validated by the builder's ``options``
    pydantic class when it declares one).
    """

    input_shape: tuple[int, ...]
    num_classes: int
    seed: int
    width: float = 1.0
    bias: bool = True
    options: dict[str, Any] = field(default_factory=dict)


def _plugin_entry(plugin: Plugin) -> ModelEntry:
    def build(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> LayeredNet:
        request = ModelRequest(tuple(input_shape), num_classes, seed, cfg.width, cfg.bias, dict(cfg.options))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = plugins.call(plugin, "model", request)
            return adapt(out, tuple(input_shape), plugin.describe("model"))

    defaults = getattr(plugin.function, "train_defaults", None)
    merged = dict(MODEL_TRAIN_DEFAULTS["lenet_300_100"])  # a plugin's row starts from the fully connected one
    if isinstance(defaults, dict):
        merged.update({k: v for k, v in defaults.items() if k in merged})
    return ModelEntry(build, merged, plugin=plugin)  # type: ignore[arg-type]


def _plugin(name: str) -> ModelEntry:
    return _plugin_entry(plugins.resolve(plugins.MODEL_GROUP, name))


#: Every model by name: the built-ins, then additions; plugins by :func:`get_model`.
MODELS: Registry[ModelEntry] = Registry("model", BUILTIN, plugin=_plugin, installed=lambda: plugins.entry_point_names(plugins.MODEL_GROUP))

# Models whose first block is a convolution need image-shaped input (C, H, W).
CONV_MODELS = {name for name, entry in MODELS.items() if entry.needs_images}


def get_model(name: str) -> ModelEntry:
    """The model ``name``: a built-in, an installed ``redundancy.models`` entry point, or ``module:function``.

    Raises :class:`PluginError` for a plugin that cannot be imported and
    :class:`RedundancyError` for an unknown name (listing the known ones).
    """
    try:
        return MODELS.lookup(name)
    except KeyError:
        known = [*MODELS, *MODELS.installed()]
        raise RedundancyError(f"unknown model {name!r}; expected one of {', '.join(known)} or an import path 'package.module:function'") from None


def train_defaults(name: str) -> dict[str, Any]:
    """The training defaults of model ``name`` (LeNet-300-100's for a name not registered)."""
    try:
        return get_model(name).train_defaults
    except RedundancyError:
        return MODELS["lenet_300_100"].train_defaults
