"""The built-in models: the seed report's networks, each a builder and its training defaults."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from redundancy.plugins import Plugin
from redundancy.spec.schema import MODEL_TRAIN_DEFAULTS, ModelConfig

from .net import Block, LayeredNet


def _scaled(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def _mlp(in_features: int, hidden: Sequence[int], num_classes: int, bias: bool) -> LayeredNet:
    blocks: list[tuple[str, Block]] = []
    prev = in_features
    for i, h in enumerate(hidden, start=1):
        blocks.append((f"fc{i}", Block(nn.Linear(prev, h, bias=bias), flatten=(i == 1))))
        prev = h
    last = len(hidden) + 1
    blocks.append((f"fc{last}", Block(nn.Linear(prev, num_classes, bias=bias), relu=False, flatten=(last == 1))))
    return LayeredNet(blocks)


def lenet_300_100(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """LeNet-300-100 (LeCun et al. 1998): FC 300, 100, classes."""
    return _mlp(math.prod(input_shape), [_scaled(300, cfg.width), _scaled(100, cfg.width)], num_classes, cfg.bias)


def mlp(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """A ReLU MLP with hidden widths ``cfg.widths`` (default [100]) times ``cfg.width``."""
    hidden = [_scaled(w, cfg.width) for w in (cfg.widths or [100])]
    return _mlp(math.prod(input_shape), hidden, num_classes, cfg.bias)


def _convnet(
    plan: Sequence[int | str],
    fc: Sequence[int],
    cfg: ModelConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    batch_norm: bool = False,
    avg_pool: bool = False,
) -> LayeredNet:
    """VGG-style stack: ints are 3x3 conv widths, 'M' a 2x2 max pool after the previous conv."""
    channels, height, width = input_shape
    blocks: list[tuple[str, Block]] = []
    prev = channels
    convs = [p for p in plan if p != "M"]
    conv_i = 0
    for j, p in enumerate(plan):
        if p == "M":
            continue
        conv_i += 1
        out = _scaled(int(p), cfg.width)
        pool_after = j + 1 < len(plan) and plan[j + 1] == "M"
        norm = nn.BatchNorm2d(out) if batch_norm else None
        pool = nn.MaxPool2d(2) if pool_after else None
        if pool_after:
            height, width = height // 2, width // 2
        if avg_pool and conv_i == len(convs):
            pool = nn.AdaptiveAvgPool2d(1)
            height = width = 1
        blocks.append(
            (f"conv{conv_i}", Block(nn.Conv2d(prev, out, 3, padding=1, bias=cfg.bias and not batch_norm), norm=norm, pool=pool))
        )
        prev = out
    flat = prev * height * width
    for i, h in enumerate(fc, start=1):
        hidden = _scaled(h, cfg.width)
        blocks.append((f"fc{i}", Block(nn.Linear(flat, hidden, bias=cfg.bias), flatten=(i == 1))))
        flat = hidden
    blocks.append(
        (f"fc{len(fc) + 1}", Block(nn.Linear(flat, num_classes, bias=cfg.bias), relu=False, flatten=not fc))
    )
    return LayeredNet(blocks)


def conv2(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """Conv-2 (Frankle & Carbin 2018): conv 64, 64, pool; FC 256, 256, classes."""
    return _convnet([64, 64, "M"], [256, 256], cfg, input_shape, num_classes)


def conv4(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """Conv-4: conv 64, 64, pool, 128, 128, pool; FC 256, 256, classes."""
    return _convnet([64, 64, "M", 128, 128, "M"], [256, 256], cfg, input_shape, num_classes)


def conv6(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """Conv-6: conv 64, 64, pool, 128, 128, pool, 256, 256, pool; FC 256, 256, classes."""
    return _convnet([64, 64, "M", 128, 128, "M", 256, 256, "M"], [256, 256], cfg, input_shape, num_classes)


def vgg19(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
    """VGG19 in its CIFAR form: 16 convs with batch norm, global average pool, FC 512, 512, classes."""
    plan: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
    return _convnet(plan, [512, 512], cfg, input_shape, num_classes, batch_norm=True, avg_pool=True)


ModelBuilder = Callable[[ModelConfig, tuple[int, ...], int], LayeredNet]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder, its default training config and the input it takes.

    Calling the entry builds the model, so ``MODELS[name](cfg, input_shape, num_classes)`` works.
    """

    build: ModelBuilder
    train_defaults: dict[str, Any]  # TrainConfig fields a spec leaves out (optimizer, lr, ...)
    needs_images: bool = False  # the first block is a convolution: input must be (C, H, W)
    plugin: Plugin | None = None  # set for models from entry points and import paths

    def __call__(self, cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> LayeredNet:
        return self.build(cfg, input_shape, num_classes)


BUILTIN: dict[str, ModelEntry] = {
    "lenet_300_100": ModelEntry(lenet_300_100, MODEL_TRAIN_DEFAULTS["lenet_300_100"]),
    "mlp": ModelEntry(mlp, MODEL_TRAIN_DEFAULTS["mlp"]),
    "conv2": ModelEntry(conv2, MODEL_TRAIN_DEFAULTS["conv2"], True),
    "conv4": ModelEntry(conv4, MODEL_TRAIN_DEFAULTS["conv4"], True),
    "conv6": ModelEntry(conv6, MODEL_TRAIN_DEFAULTS["conv6"], True),
    "vgg19": ModelEntry(vgg19, MODEL_TRAIN_DEFAULTS["vgg19"], True),
}
