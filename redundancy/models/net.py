"""The networks every model is: named stacks of blocks, and the names of their parameters.

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

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


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


def layer_infos(model: LayeredNet) -> dict[str, LayerInfo]:
    """Every prunable layer of ``model`` with its unit count and fan-in, in forward order."""
    names = model.names
    out: dict[str, LayerInfo] = {}
    for name in names:
        w = model.block(name).layer.weight
        kind = "conv" if w.dim() == 4 else "linear"
        out[name] = LayerInfo(name, kind, w.shape[0], int(w[0].numel()), name == names[-1])
    return out
