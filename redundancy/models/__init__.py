"""Models: the seed report's networks as named stacks of blocks, built and initialized by name.

The networks themselves (:class:`LayeredNet`, its blocks and the names of their parameters) are
:mod:`redundancy.models.net`'s; the built-in architectures :mod:`.builtin`'s; the name -> model
table, with plugins, :mod:`.registry`'s.
"""

from __future__ import annotations

import math

import torch

from redundancy.errors import RedundancyError
from redundancy.spec.schema import ModelConfig

from .builtin import ModelBuilder, ModelEntry, conv2, conv4, conv6, lenet_300_100, mlp, vgg19
from .net import (
    Block,
    LayeredNet,
    LayerInfo,
    full_param_name,
    layer_infos,
    norm_prefix,
    param_layer,
    param_name,
    short_param_names,
)
from .registry import CONV_MODELS, MODELS, ModelRequest, get_model, train_defaults


def _init(model: LayeredNet, how: str, generator: torch.Generator) -> None:
    """Gaussian Glorot (the seed's choice): W ~ N(0, 2 / (fan_in + fan_out)), biases zero."""
    if how == "default":
        return
    for block in model.blocks.values():
        w = block.layer.weight  # type: ignore[union-attr]
        receptive = w[0, 0].numel() if w.dim() > 2 else 1
        fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
        std = math.sqrt(2.0 / (fan_in + fan_out)) if how == "glorot_normal" else math.sqrt(2.0 / fan_in)
        with torch.no_grad():
            w.copy_(torch.randn(w.shape, generator=generator) * std)
            if block.layer.bias is not None:  # type: ignore[union-attr]
                block.layer.bias.zero_()  # type: ignore[union-attr]


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, seed: int) -> LayeredNet:
    """Build and initialize ``cfg.name``; the same seed gives bit-identical initial weights."""
    entry = get_model(cfg.name)
    if entry.plugin is not None:
        model = entry.build(cfg, tuple(input_shape), num_classes, seed)  # type: ignore[call-arg]
    else:
        if entry.needs_images and len(input_shape) != 3:
            raise RedundancyError(f"model {cfg.name!r} needs image data (C, H, W); the dataset gives shape {input_shape}")
        model = entry(cfg, tuple(input_shape), num_classes)
    generator = torch.Generator().manual_seed(seed)
    _init(model, cfg.init, generator)
    return model


def describe_layers(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> dict[str, LayerInfo]:
    """Layer names and sizes for ``cfg`` without allocating weights (meta device; a plugin's on the CPU,
    where its adapter is checked against its own forward)."""
    return layer_infos(shape_model(cfg, input_shape, num_classes))


def shape_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """The model with the right shapes but not its initial weights: on the meta device for a built-in."""
    entry = get_model(cfg.name)
    if entry.plugin is not None:
        return entry.build(cfg, tuple(input_shape), num_classes, 0)  # type: ignore[call-arg]
    with torch.device("meta"):
        return entry(cfg, tuple(input_shape), num_classes)


__all__ = [
    "Block", "CONV_MODELS", "LayerInfo", "LayeredNet", "MODELS", "ModelBuilder", "ModelEntry", "ModelRequest",
    "build_model", "conv2", "conv4", "conv6", "describe_layers", "full_param_name", "get_model", "layer_infos",
    "lenet_300_100", "mlp", "norm_prefix", "param_layer", "param_name", "shape_model", "short_param_names",
    "train_defaults", "vgg19",
]
