"""Model registry: the seed report's networks as named stacks of blocks.

Every model is a :class:`LayeredNet`: an ordered list of named blocks, each one
weight layer (``nn.Linear`` or ``nn.Conv2d``) followed by optional batch norm,
ReLU, pooling and flattening. Block names are the layers' stable names
(``conv1`` ... ``fc1``, ``fc2``, ``fc3``) and parameters are ``<name>.layer.weight``.

A *unit* of a block is one row of a Linear weight or one output filter of a
Conv weight; removing it means the block's output channel is zero for every
input (after batch norm and ReLU). The studies use :meth:`LayeredNet.features`
(input of a block), :meth:`LayeredNet.block` and :meth:`LayeredNet.forward_from`
to evaluate the network from any block on without recomputing what is below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any
from dataclasses import dataclass, field

import torch
from torch import nn

from redundancy import plugins
from redundancy.errors import RedundancyError
from redundancy.plugins import Plugin
from redundancy.spec.schema import ModelConfig


class Block(nn.Module):
    """One weight layer and what follows it: ``flatten? -> layer -> norm? -> relu? -> pool?``."""

    def __init__(
        self,
        layer: nn.Linear | nn.Conv2d,
        *,
        norm: nn.Module | None = None,
        relu: bool = True,
        pool: nn.Module | None = None,
        flatten: bool = False,
    ):
        super().__init__()
        self.layer = layer
        self.norm = norm
        self.relu = relu
        self.pool = pool
        self.flatten = flatten

    def pre(self, h: torch.Tensor) -> torch.Tensor:
        """The layer's pre-activation (before norm) for input ``h``."""
        if self.flatten:
            h = h.flatten(1)
        return self.layer(h)

    def post(self, z: torch.Tensor, unit_mask: torch.Tensor | None = None) -> torch.Tensor:
        """From pre-activation to block output; ``unit_mask`` (n_units,) zeroes removed units after norm."""
        if self.norm is not None:
            z = self.norm(z)
        if self.relu:
            z = torch.relu(z)
        if unit_mask is not None:
            shape = (1, -1) + (1,) * (z.dim() - 2)
            z = z * unit_mask.view(shape)
        if self.pool is not None:
            z = self.pool(z)
        return z

    def forward(self, h: torch.Tensor, unit_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.post(self.pre(h), unit_mask)

    @property
    def units(self) -> int:
        return self.layer.weight.shape[0]


def param_name(layer: str, param: str = "weight") -> str:
    """A layer's parameter in a model's ``state_dict`` (and in a stored checkpoint): ``weight`` or ``bias``."""
    return f"blocks.{layer}.layer.{param}"


def param_layer(name: str) -> str:
    """The layer of a ``state_dict`` name (``blocks.fc1.layer.weight`` -> ``fc1``); other names as they are."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "blocks" else name


def short_param_names(names: Iterable[str]) -> dict[str, str]:
    """``<layer>.<param>`` -> the full name, for each layer parameter among ``names`` (``fc1.weight``)."""
    out = {}
    for full in names:
        parts = full.split(".")
        if len(parts) == 4 and parts[0] == "blocks" and parts[2] == "layer":
            out[f"{parts[1]}.{parts[3]}"] = full
    return out


def full_param_name(name: str, names: Container[str]) -> str:
    """A parameter written short (``fc1.weight``, ``fc1.norm.bias``) as its full ``state_dict`` name among ``names``."""
    if name in names:
        return name
    layer, _, param = name.partition(".")
    for candidate in (param_name(layer, param), f"blocks.{layer}.{param}"):
        if candidate in names:
            return candidate
    return name


def norm_prefix(layer: str) -> str:
    """The prefix of a layer's normalization parameters and buffers in a ``state_dict``."""
    return f"blocks.{layer}.norm."


class LayeredNet(nn.Module):
    """A feed-forward network of named :class:`Block` s; the last block gives the logits."""

    def __init__(self, blocks: Sequence[tuple[str, Block]]):
        super().__init__()
        self.blocks = nn.ModuleDict(dict(blocks))

    @property
    def names(self) -> list[str]:
        return list(self.blocks.keys())

    def forward(self, x: torch.Tensor, unit_masks: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        for name, block in self.blocks.items():
            x = block(x, None if unit_masks is None else unit_masks.get(name))
        return x

    def features(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Input of block ``name`` for network input ``x``."""
        for block_name, block in self.blocks.items():
            if block_name == name:
                return x
            x = block(x)
        raise KeyError(name)

    def block(self, name: str) -> Block:
        return self.blocks[name]  # type: ignore[return-value]

    def next_name(self, name: str) -> str | None:
        names = self.names
        i = names.index(name)
        return names[i + 1] if i + 1 < len(names) else None

    def forward_from(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """Run the blocks after ``name`` on ``h``, the output of block ``name``."""
        started = False
        for block_name, block in self.blocks.items():
            if started:
                h = block(h)
            elif block_name == name:
                started = True
        if not started:
            raise KeyError(name)
        return h


@dataclass(frozen=True)
class LayerInfo:
    """What a study needs to know of a prunable layer without building weights."""

    name: str
    kind: str  # "linear" or "conv"
    units: int  # rows of a Linear weight / output filters of a Conv
    fan_in: int  # length of a unit's incoming weight vector
    is_output: bool


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

# The seed report's training table (Figure 1): what a spec's "model default" train fields become.
_FC_SGD: dict[str, Any] = dict(optimizer="sgd", lr=3e-3, momentum=0.9, batch_size=64, iterations=50_000, lr_milestones=[])


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


MODELS: dict[str, ModelEntry] = {
    "lenet_300_100": ModelEntry(lenet_300_100, _FC_SGD),
    "mlp": ModelEntry(mlp, _FC_SGD),
    "conv2": ModelEntry(conv2, dict(optimizer="adam", lr=2e-4, momentum=0.0, batch_size=64, iterations=20_000, lr_milestones=[]), True),
    "conv4": ModelEntry(conv4, dict(optimizer="adam", lr=3e-4, momentum=0.0, batch_size=60, iterations=25_000, lr_milestones=[]), True),
    "conv6": ModelEntry(conv6, dict(optimizer="adam", lr=3e-4, momentum=0.0, batch_size=60, iterations=40_000, lr_milestones=[]), True),
    "vgg19": ModelEntry(
        vgg19,
        dict(optimizer="sgd", lr=0.1, momentum=0.9, batch_size=64, iterations=112_000, lr_milestones=[56_000, 84_000]),
        True,
    ),
}

# Models whose first block is a convolution need image-shaped input (C, H, W).
CONV_MODELS = {name for name, entry in MODELS.items() if entry.needs_images}


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
        from redundancy.models.adapt import adapt

        request = ModelRequest(tuple(input_shape), num_classes, seed, cfg.width, cfg.bias, dict(cfg.options))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = plugins.call(plugin, "model", request)
            return adapt(out, tuple(input_shape), plugin.describe("model"))

    defaults = getattr(plugin.function, "train_defaults", None)
    merged = dict(_FC_SGD)
    if isinstance(defaults, dict):
        merged.update({k: v for k, v in defaults.items() if k in _FC_SGD})
    return ModelEntry(build, merged, plugin=plugin)  # type: ignore[arg-type]


def get_model(name: str) -> ModelEntry:
    """The model ``name``: a built-in, an installed ``redundancy.models`` entry point, or ``module:function``.

    Raises :class:`PluginError` for a plugin that cannot be imported and
    :class:`RedundancyError` for an unknown name (listing the known ones).
    """
    entry = MODELS.get(name)
    if entry is not None:
        return entry
    try:
        return _plugin_entry(plugins.resolve(plugins.MODEL_GROUP, name))
    except KeyError:
        known = [*MODELS, *plugins.entry_point_names(plugins.MODEL_GROUP)]
        raise RedundancyError(f"unknown model {name!r}; expected one of {', '.join(known)} or an import path 'package.module:function'") from None


def train_defaults(name: str) -> dict[str, Any]:
    """The training defaults of model ``name`` (LeNet-300-100's for a name not registered)."""
    try:
        return get_model(name).train_defaults
    except RedundancyError:
        return MODELS["lenet_300_100"].train_defaults


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


def layer_infos(model: LayeredNet) -> dict[str, LayerInfo]:
    """Every prunable layer of ``model`` with its unit count and fan-in, in forward order."""
    names = model.names
    out: dict[str, LayerInfo] = {}
    for name in names:
        w = model.block(name).layer.weight
        kind = "conv" if w.dim() == 4 else "linear"
        out[name] = LayerInfo(name, kind, w.shape[0], int(w[0].numel()), name == names[-1])
    return out


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


def unit_vectors(weight: torch.Tensor) -> torch.Tensor:
    """A layer weight as a matrix with one row per unit: (n_units, fan_in)."""
    return weight.reshape(weight.shape[0], -1)
