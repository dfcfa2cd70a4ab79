"""Structurally smaller networks: units removed from the weights, not masked.

Removing unit i of layer L (row i of a Linear weight, output filter i of a
Conv, with its bias and batch-norm entries) and the matching inputs of the next
layer (column i of a Linear, input channel i of a Conv; after a flatten, the
block of columns that read channel i) gives a network whose forward pass equals
the masked one — L's output channel i held at zero — on every input, with
fewer parameters and fewer multiply-adds. Pruning studies evaluate the masked
form (:mod:`redundancy.studies.common.removal`); retraining and timing need the
smaller one.

Fully connected models (``lenet_300_100``, ``mlp``) have a smaller network that
is again a model of the registry: an ``mlp`` with the kept widths
(:func:`narrow_model_config`), which the training loop (and its stacked form)
trains like any other run.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from redundancy.models import LayeredNet, norm_prefix, param_name
from redundancy.spec.schema import ModelConfig

# Models whose structurally smaller networks are models of the registry (an ``mlp`` of the kept widths).
FULLY_CONNECTED = ("lenet_300_100", "mlp")
NORM_BUFFERS = ("weight", "bias", "running_mean", "running_var")


def kept_after(order: torch.Tensor, removed: int) -> torch.Tensor:
    """Units still present after removing ``order[:removed]``, ascending (their order in the layer)."""
    return torch.sort(order[removed:].to(torch.int64)).values


def shrink_state(state: Mapping[str, torch.Tensor], names: Sequence[str], keep: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of ``LayeredNet`` blocks ``names`` (forward order) with only the ``keep`` units.

    ``keep[L]`` lists the units of layer L that stay (ascending); L's rows, bias
    and batch-norm entries are cut to them, and so are the next layer's inputs.
    The output layer cannot lose units (its outputs are the classes).
    """
    out = {k: v.clone() for k, v in state.items()}
    for layer, idx in keep.items():
        i = list(names).index(layer)
        if i + 1 >= len(names):
            raise ValueError(f"{layer} is the output layer; its units are the classes and cannot be removed")
        idx = idx.to(torch.int64)
        n = state[param_name(layer)].shape[0]
        own = [param_name(layer), param_name(layer, "bias"), *(norm_prefix(layer) + b for b in NORM_BUFFERS)]
        for key in own:
            if key in state and state[key].dim() >= 1 and state[key].shape[0] == n:
                out[key] = out[key][idx]
        nxt = param_name(names[i + 1])
        w = out[nxt]
        if w.dim() == 4:
            out[nxt] = w[:, idx]
        else:
            # a Linear reads n channels of ``positions`` values each (1 unless it follows a flatten)
            m = w.shape[0]
            out[nxt] = w.reshape(m, n, -1)[:, idx].reshape(m, -1)
    return out


def shrink(net: LayeredNet, keep: Mapping[str, torch.Tensor]) -> LayeredNet:
    """A copy of ``net`` with only the ``keep`` units of the listed layers (see :func:`shrink_state`)."""
    small = copy.deepcopy(net)
    names = small.names
    state = shrink_state(small.state_dict(), names, keep)
    for layer in keep:
        for name in (layer, names[names.index(layer) + 1]):
            block = small.block(name)
            lin = block.layer
            w = state[param_name(name)]
            lin.weight = nn.Parameter(w.clone())
            if isinstance(lin, nn.Conv2d):
                lin.out_channels, lin.in_channels = w.shape[0], w.shape[1]
            else:
                lin.out_features, lin.in_features = w.shape[0], w.shape[1]
            if lin.bias is not None:
                lin.bias = nn.Parameter(state[param_name(name, "bias")].clone())
            norm = block.norm
            if name == layer and isinstance(norm, nn.BatchNorm2d):
                norm.num_features = w.shape[0]
                for key in NORM_BUFFERS:
                    value = state[norm_prefix(name) + key].clone()
                    if isinstance(getattr(norm, key), nn.Parameter):
                        setattr(norm, key, nn.Parameter(value))
                    else:
                        setattr(norm, key, value)
    return small


@dataclass(frozen=True)
class Cost:
    """Parameters and floating-point operations of one forward pass of one input (2 per multiply-add)."""

    params: int
    flops: int


def layer_costs(net: LayeredNet, input_shape: Sequence[int]) -> dict[str, Cost]:
    """Each block's parameters and FLOPs (weight layer and batch norm; 2 per multiply-add) for one input."""
    macs: dict[str, int] = {}
    hooks = []
    for name in net.names:
        layer = net.block(name).layer

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor, name: str = name) -> None:
            w = module.weight
            positions = output[0, 0].numel() if output.dim() == 4 else 1
            macs[name] = int(w.numel() * positions)

        hooks.append(layer.register_forward_hook(hook))
    param = next(net.parameters())
    with torch.no_grad():
        net(torch.zeros((1, *input_shape), dtype=param.dtype, device=param.device))
    for h in hooks:
        h.remove()
    return {
        name: Cost(sum(p.numel() for p in net.block(name).parameters()), 2 * macs[name]) for name in net.names
    }


def total_cost(costs: Mapping[str, Cost]) -> Cost:
    return Cost(sum(c.params for c in costs.values()), sum(c.flops for c in costs.values()))


def pruned_cost(net: LayeredNet, costs: Mapping[str, Cost], layer: str, removed: int) -> Cost:
    """Cost of ``net`` with ``removed`` units of ``layer`` taken out structurally, from the dense costs.

    Everything of ``layer`` but nothing else scales with its units; of the next
    layer the weights (and their multiply-adds) do, its bias does not.
    """
    n = net.block(layer).units
    keep = (n - removed) / n
    nxt = net.next_name(layer)
    params, flops = 0, 0
    for name, cost in costs.items():
        if name == layer:
            params += round(cost.params * keep)
            flops += round(cost.flops * keep)
        elif name == nxt:
            lin = net.block(name).layer
            w = lin.weight.numel()
            params += round(w * keep) + (cost.params - w)
            flops += round(cost.flops * keep)
        else:
            params += cost.params
            flops += cost.flops
    return Cost(int(params), int(flops))


def hidden_widths(net: LayeredNet) -> list[int]:
    """Units of every layer but the output one."""
    return [net.block(name).units for name in net.names[:-1]]


def narrow_model_config(model: ModelConfig, widths: Sequence[int]) -> ModelConfig:
    """The registry's config of a fully connected model with hidden ``widths`` (an ``mlp``)."""
    if model.name not in FULLY_CONNECTED:
        raise ValueError(f"model {model.name!r} has no registry form when narrowed; structural training supports {', '.join(FULLY_CONNECTED)}")
    return model.model_copy(update={"name": "mlp", "widths": [int(w) for w in widths], "width": 1.0})
