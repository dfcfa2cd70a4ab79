"""Networks not written against :class:`~redundancy.models.LayeredNet`, seen as one.

Every study reads a network as a chain of named blocks (weight layer, then
norm, ReLU, pooling; see :class:`~redundancy.models.Block`), so a model plugin's
network becomes a :class:`LayeredNet` whose blocks hold the plugin's own layer
modules (the parameters are shared, not copied). Three ways in:

- a :class:`LayeredNet`: used as it is;
- a plain ``nn.Sequential`` of ``Linear``, ``Conv2d``, ``ReLU``, ``Flatten``,
  ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``BatchNorm1d``/``2d`` and
  ``Identity``: adapted automatically; the weight layers are named ``fc1``,
  ``fc2`` ... and ``conv1``, ``conv2`` ... in forward order;
- any other ``nn.Module`` with an *adapter*: a method ``redundancy_layers()``
  on the module, or the builder returning ``(module, layers)``, where
  ``layers`` lists the prunable layers in forward order as ``(name, Block)``
  pairs, each ``Block(layer, norm=..., relu=..., pool=..., flatten=...)``
  wrapping the module's own ``nn.Linear`` / ``nn.Conv2d`` and describing what
  follows it up to the next weight layer.

An adapted network's forward is checked against the module's own forward on a
random batch, so an adapter that leaves something out (a skip connection, an
activation the blocks cannot express) is an error at validate time, not a wrong
result. The module's own ``state_dict`` names (``0.weight``, ``features.3.bias``)
are kept as :attr:`LayeredNet.foreign_names`, so its checkpoints import without
a ``keys:`` map.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from redundancy.models.net import Block, LayeredNet
from redundancy.plugins import PluginError

#: A layer name becomes part of store paths and spec fields.
LAYER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def from_sequential(seq: nn.Sequential, what: str) -> list[tuple[str, Block]]:
    """The blocks of a plain ``nn.Sequential``; anything the blocks cannot express is an error naming it."""
    blocks: list[tuple[str, Block]] = []
    counts = {"fc": 0, "conv": 0}
    flatten = False
    stage = 3  # 0 after a weight layer, 1 after its norm, 2 after its ReLU, 3 after its pool (or before any layer)
    for index, child in seq.named_children():
        here = f"{what}: layer {index} ({type(child).__name__})"
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            prefix = "fc" if isinstance(child, nn.Linear) else "conv"
            counts[prefix] += 1
            blocks.append((f"{prefix}{counts[prefix]}", Block(child, relu=False, flatten=flatten)))
            flatten, stage = False, 0
        elif isinstance(child, nn.Flatten):
            if child.start_dim != 1 or child.end_dim != -1:
                raise PluginError(f"{here}: only Flatten(1, -1) is adapted")
            flatten, stage = True, 3
        elif isinstance(child, nn.Identity):
            continue
        elif not blocks or flatten:
            raise PluginError(f"{here} must follow a Linear or Conv2d layer to be adapted")
        elif isinstance(child, _NORMS) and stage < 1:
            blocks[-1][1].norm = child
            stage = 1
        elif isinstance(child, nn.ReLU) and stage < 2:
            blocks[-1][1].relu = True
            stage = 2
        elif isinstance(child, _POOLS) and stage < 3:
            blocks[-1][1].pool = child
            stage = 3
        else:
            raise PluginError(
                f"{here} cannot be adapted: a plain nn.Sequential is adapted when each Linear or Conv2d is followed by at most "
                "a BatchNorm, a ReLU and a pooling layer, in that order (Flatten before a layer); give the module a "
                "redundancy_layers() adapter otherwise"
            )
    if flatten:
        raise PluginError(f"{what}: the nn.Sequential ends with a Flatten and no layer after it")
    if not blocks:
        raise PluginError(f"{what}: the nn.Sequential has no Linear or Conv2d layer")
    return blocks


def _check_layers(layers: Any, what: str) -> list[tuple[str, Block]]:
    if not isinstance(layers, (list, tuple)):
        raise PluginError(f"{what}: the adapter returned {type(layers).__name__}; expected a list of (name, Block) pairs")
    out: list[tuple[str, Block]] = []
    for i, item in enumerate(layers):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], Block)):
            raise PluginError(f"{what}: adapter entry {i} is {type(item).__name__}; expected a (name, redundancy.models.Block) pair")
        name, block = item
        if not LAYER_NAME.match(name):
            raise PluginError(f"{what}: layer name {name!r} must be letters, digits and _ (starting with a letter)")
        if not isinstance(block.layer, (nn.Linear, nn.Conv2d)):
            raise PluginError(f"{what}: layer {name!r} wraps a {type(block.layer).__name__}; a block's layer is an nn.Linear or nn.Conv2d")
        out.append((name, block))
    names = [n for n, _ in out]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise PluginError(f"{what}: the adapter names {', '.join(map(repr, dups))} more than once")
    if not out:
        raise PluginError(f"{what}: the adapter lists no layers")
    return out


def _foreign_names(module: nn.Module, net: LayeredNet) -> dict[str, str]:
    """The module's own ``state_dict`` names -> the layered network's."""
    prefixes: dict[int, str] = {}
    for name, block in net.blocks.items():
        prefixes[id(block.layer)] = f"blocks.{name}.layer"  # type: ignore[union-attr]
        if block.norm is not None:  # type: ignore[union-attr]
            prefixes[id(block.norm)] = f"blocks.{name}.norm"  # type: ignore[union-attr]
    ours = set(net.state_dict())
    out: dict[str, str] = {}
    for qual, sub in module.named_modules():
        target = prefixes.get(id(sub))
        if target is None:
            continue
        for key in sub.state_dict():
            mapped = f"{target}.{key}"
            if mapped in ours:
                out[f"{qual}.{key}" if qual else key] = mapped
    return out


def _same_forward(module: nn.Module, net: LayeredNet, input_shape: tuple[int, ...], what: str) -> None:
    """The adapted network computes what the module computes (eval mode, a random batch of two)."""
    params = list(module.parameters())
    if any(p.is_meta for p in params):
        return
    x = torch.randn((2, *input_shape), generator=torch.Generator().manual_seed(0))
    if params:
        x = x.to(dtype=params[0].dtype, device=params[0].device)
    was = module.training
    module.eval()
    net.eval()
    try:
        with torch.no_grad():
            try:
                expected = module(x)
            except Exception as exc:
                raise PluginError(f"{what}: the module's own forward fails on input of shape {tuple(x.shape)}: {type(exc).__name__}: {exc}") from None
            try:
                got = net(x)
            except Exception as exc:
                raise PluginError(f"{what}: the adapted layers fail on input of shape {tuple(x.shape)}: {type(exc).__name__}: {exc}") from None
    finally:
        module.train(was)
        net.train(was)
    if not isinstance(expected, torch.Tensor) or expected.shape != got.shape:
        shape = tuple(expected.shape) if isinstance(expected, torch.Tensor) else type(expected).__name__
        raise PluginError(f"{what}: the module's forward gives {shape}, the adapted layers {tuple(got.shape)}; the adapter does not describe the module")
    if not torch.allclose(expected, got, rtol=1e-4, atol=1e-5):
        diff = float((expected - got).abs().max())
        raise PluginError(
            f"{what}: the adapted layers do not compute what the module computes (largest difference {diff:.3g}); "
            "list every weight layer in forward order with the norm, ReLU, pooling and flattening that follow it"
        )


def adapt(out: Any, input_shape: tuple[int, ...], what: str) -> LayeredNet:
    """A model plugin's return value as a :class:`LayeredNet` (see the module docstring); else a :class:`PluginError`."""
    if isinstance(out, LayeredNet):
        out.foreign_names = {}
        return out
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], nn.Module):
        module, layers = out[0], _check_layers(out[1], what)
    elif isinstance(out, nn.Module) and callable(getattr(out, "redundancy_layers", None)):
        module = out
        try:
            raw = out.redundancy_layers()
        except Exception as exc:
            raise PluginError(f"{what}: redundancy_layers() failed: {type(exc).__name__}: {exc}") from None
        layers = _check_layers(raw, what)
    elif isinstance(out, nn.Sequential):
        module, layers = out, from_sequential(out, what)
    else:
        raise PluginError(
            f"{what} returned {type(out).__name__}; expected a redundancy.models.LayeredNet, a plain nn.Sequential, "
            "an nn.Module with a redundancy_layers() adapter, or (module, layers)"
        )
    net = LayeredNet(layers)
    net.foreign_names = _foreign_names(module, net)
    _same_forward(module, net, input_shape, what)
    return net
