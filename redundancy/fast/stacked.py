"""Stacked models: M networks of one architecture trained as one set of batched weights.

At batch 64 a LeNet step is a few dozen tiny kernels, so its time goes to
Python and kernel launches, not arithmetic. Stacking M copies of the network
along a leading *model axis* makes every step one launch per layer for all M
members: Linear layers become batched matrix products (``baddbmm``), Conv
layers one grouped convolution with ``groups=M``, batch norm one norm over
``M * C`` channels. Each member keeps its own initialization and sees its own
batch (its own row of indices), and nothing mixes members:

- the loss is the *sum* of the members' mean losses, so the gradient reaching
  member m is exactly the gradient of m's own loss;
- SGD (momentum, weight decay) and Adam update every element independently, so
  an optimizer over the stacked tensors performs each member's own update.

The results therefore equal training each member alone up to floating-point
rounding (a batched product may sum in another order than a single one).

Activations between convolutions stay in *channel-stacked* layout
``(B, M*C, H, W)``, between Linear layers in *model-major* layout ``(M, B, F)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from redundancy.models import Block, LayeredNet, norm_prefix, param_name


class _StackedLinear(torch.autograd.Function):
    """``h (M, B, in) -> h Wᵀ + b`` for stacked ``W (M, out, in)``, with the weight gradient in W's own layout.

    Autograd's backward of ``baddbmm(b, h, W.transpose(1, 2))`` computes the
    gradient as ``(M, in, out)`` and then copies it into W's layout; on a CPU
    that strided copy of 32 LeNets' fc1 cost more than the product itself.
    Here ``∂W = gᵀ h`` is computed as ``(M, out, in)`` directly.
    """

    @staticmethod
    def forward(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        wt = w.transpose(1, 2)
        return torch.bmm(h, wt) if b is None else torch.baddbmm(b.unsqueeze(1), h, wt)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        h, w, b = inputs
        ctx.save_for_backward(h, w)
        ctx.has_bias = b is not None

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, w = ctx.saved_tensors
        gh = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        gw = torch.bmm(g.transpose(1, 2), h) if ctx.needs_input_grad[1] else None
        gb = g.sum(1) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gh, gw, gb


class StackingUnsupported(ValueError):
    """A model has a part the stacked forward pass does not implement."""


@dataclass(frozen=True)
class _BlockPlan:
    """What one :class:`Block` does, in the terms the stacked forward needs."""

    name: str
    kind: str  # "linear" or "conv"
    flatten: bool
    relu: bool
    stride: int
    padding: int
    dilation: int
    has_bias: bool
    norm: tuple[float, float] | None  # (eps, momentum) of a BatchNorm2d
    pool: tuple[str, int, int] | None  # ("max", kernel, stride) or ("avg1", 1, 1)


def _plan_block(name: str, block: nn.Module) -> _BlockPlan:
    if not isinstance(block, Block):
        raise StackingUnsupported(f"block {name!r} is a {type(block).__name__}, not a Block")
    layer = block.layer
    if isinstance(layer, nn.Linear):
        kind, stride, padding, dilation = "linear", 1, 0, 1
    elif isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise StackingUnsupported(f"conv {name!r}: only groups=1 with numeric zero padding stacks")
        if len(set(layer.stride)) != 1 or len(set(layer.padding)) != 1 or len(set(layer.dilation)) != 1:
            raise StackingUnsupported(f"conv {name!r}: only square stride, padding and dilation stack")
        kind, stride, padding, dilation = "conv", layer.stride[0], int(layer.padding[0]), layer.dilation[0]
    else:
        raise StackingUnsupported(f"block {name!r}: layer {type(layer).__name__} does not stack")
    norm: tuple[float, float] | None = None
    if block.norm is not None:
        bn = block.norm
        if not isinstance(bn, nn.BatchNorm2d) or not bn.affine or not bn.track_running_stats or bn.momentum is None:
            raise StackingUnsupported(f"block {name!r}: only affine BatchNorm2d with running stats and a momentum stacks")
        norm = (bn.eps, float(bn.momentum))
    pool: tuple[str, int, int] | None = None
    if block.pool is not None:
        p = block.pool
        if isinstance(p, nn.MaxPool2d) and isinstance(p.kernel_size, int) and p.padding == 0 and p.dilation == 1 and not p.ceil_mode:
            stride_p = p.stride if isinstance(p.stride, int) else p.kernel_size
            pool = ("max", p.kernel_size, stride_p)
        elif isinstance(p, nn.AdaptiveAvgPool2d) and p.output_size in (1, (1, 1)):
            pool = ("avg1", 1, 1)
        else:
            raise StackingUnsupported(f"block {name!r}: pool {type(p).__name__} does not stack")
    return _BlockPlan(name, kind, block.flatten, block.relu, stride, padding, dilation, layer.bias is not None, norm, pool)


def plan_model(model: LayeredNet) -> list[_BlockPlan]:
    """The stacked plan of ``model``; raises :class:`StackingUnsupported` for parts it cannot stack."""
    plans = [_plan_block(name, block) for name, block in model.blocks.items()]
    for p in plans:
        if p.kind == "linear" and p.norm is not None:
            raise StackingUnsupported(f"block {p.name!r}: batch norm after a Linear layer does not stack")
    return plans


def can_stack(model: LayeredNet) -> bool:
    """Whether :class:`StackedNet` implements every block of ``model``."""
    try:
        plan_model(model)
    except StackingUnsupported:
        return False
    return True


class StackedNet:
    """M :class:`LayeredNet` s of one architecture as stacked tensors with a leading model axis.

    ``params`` maps each parameter name of the member model (``blocks.fc1.layer.weight``)
    to a leaf tensor of shape ``(M, *shape)``; ``buffers`` likewise for batch-norm
    statistics. :meth:`member_state` gives member m's ``state_dict`` back.
    """

    def __init__(self, members: Sequence[LayeredNet], device: torch.device | str = "cpu"):
        if not members:
            raise ValueError("a stacked model needs at least one member")
        self.plan = plan_model(members[0])
        self.size = len(members)
        states = [m.state_dict() for m in members]
        self.keys = list(states[0].keys())
        shapes = {k: v.shape for k, v in states[0].items()}
        for i, s in enumerate(states[1:], start=1):
            if list(s.keys()) != self.keys or any(s[k].shape != shapes[k] for k in self.keys):
                raise StackingUnsupported(f"member {i} has another architecture than member 0")
        param_names = {name for name, _ in members[0].named_parameters()}
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        for k in self.keys:
            stacked = torch.stack([s[k].detach() for s in states]).to(device).contiguous()
            if k in param_names:
                self.params[k] = stacked.requires_grad_(True)
            else:
                self.buffers[k] = stacked
        self.training = True

    # --- state -----------------------------------------------------------------------------------

    def tensor(self, key: str) -> torch.Tensor:
        return self.params[key] if key in self.params else self.buffers[key]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self, mode: bool = True) -> StackedNet:
        self.training = mode
        return self

    def eval(self) -> StackedNet:
        return self.train(False)

    @torch.no_grad()
    def member_states(self, members: Sequence[int] | None = None) -> dict[int, dict[str, torch.Tensor]]:
        """CPU copies of the chosen members' state dicts (all by default), one transfer per tensor."""
        chosen = list(range(self.size)) if members is None else list(members)
        if not chosen:
            return {}
        index = torch.tensor(chosen, device=self.tensor(self.keys[0]).device)
        host = {k: self.tensor(k).index_select(0, index).to("cpu") for k in self.keys}
        return {m: {k: host[k][j].clone() for k in self.keys} for j, m in enumerate(chosen)}

    def member_state(self, member: int) -> dict[str, torch.Tensor]:
        return self.member_states([member])[member]

    # --- forward ---------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """Logits ``(M, B, classes)``.

        ``x`` is ``(M, B, *input)`` (each member its own batch), or with ``shared``
        ``(B, *input)`` given to every member (evaluation).
        """
        m = self.size
        h = x
        layout = "shared" if shared else "mb"  # shared: (B, ...); mb: (M, B, ...); ch: (B, M*C, H, W)
        for p in self.plan:
            w = self.params[param_name(p.name)]
            b = self.params.get(param_name(p.name, "bias"))
            if p.kind == "conv":
                if layout == "shared":
                    h = h.repeat(1, m, 1, 1)
                elif layout == "mb":
                    h = h.transpose(0, 1).reshape(h.shape[1], m * h.shape[2], *h.shape[3:])
                layout = "ch"
                h = F.conv2d(
                    h,
                    w.reshape(m * w.shape[1], *w.shape[2:]),
                    None if b is None else b.reshape(-1),
                    stride=p.stride,
                    padding=p.padding,
                    dilation=p.dilation,
                    groups=m,
                )
            else:
                if layout == "ch":
                    batch = h.shape[0]
                    h = h.reshape(batch, m, -1).transpose(0, 1)  # (M, B, C*H*W), each member's C, H, W order
                elif layout == "shared":
                    # every member reads the same input: one (B, in) x (in, M*out) product, no copies of it
                    h = h.flatten(1) if p.flatten else h
                    z = torch.mm(h, w.reshape(m * w.shape[1], w.shape[2]).t()).view(h.shape[0], m, w.shape[1]).transpose(0, 1)
                    h = z if b is None else z + b.unsqueeze(1)
                    layout = "mb"
                    h = self._post(p, h)
                    continue
                elif p.flatten:
                    h = h.flatten(2)
                layout = "mb"
                h = _StackedLinear.apply(h, w, b)
            h = self._post(p, h)
        if layout == "ch":
            h = h.reshape(h.shape[0], m, -1).transpose(0, 1)
        return h

    __call__ = forward

    def _post(self, p: _BlockPlan, h: torch.Tensor) -> torch.Tensor:
        """Batch norm, ReLU and pooling of block ``p`` (batch norm only follows convolutions)."""
        if p.norm is not None:
            eps, momentum = p.norm
            prefix = norm_prefix(p.name)
            if self.training:
                self.buffers[prefix + "num_batches_tracked"].add_(1)
            h = F.batch_norm(
                h,
                self.buffers[prefix + "running_mean"].view(-1),
                self.buffers[prefix + "running_var"].view(-1),
                self.params[prefix + "weight"].view(-1),
                self.params[prefix + "bias"].view(-1),
                self.training,
                momentum,
                eps,
            )
        if p.relu:
            h = torch.relu(h)
        if p.pool is not None:
            kind, kernel, stride = p.pool
            h = F.max_pool2d(h, kernel, stride) if kind == "max" else F.adaptive_avg_pool2d(h, 1)
        return h

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's mean cross-entropy on its own batch: ``x (M, B, ...)``, ``y (M, B)`` -> ``(M,)``."""
        logits = self.forward(x)
        m, batch, classes = logits.shape
        per_sample = F.cross_entropy(logits.reshape(m * batch, classes), y.reshape(m * batch), reduction="none")
        return per_sample.view(m, batch).mean(1)

    @torch.no_grad()
    def evaluate_sums(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy (float64) and correct counts per member on ``(x, y)``; stays on the device."""
        m = self.size
        total = torch.zeros(m, device=x.device, dtype=torch.float64)
        correct = torch.zeros(m, device=x.device, dtype=torch.int64)
        if any(p.kind == "conv" for p in self.plan):
            # conv activations grow with M * batch: keep them at the size of one member's evaluation
            batch_size = max(1, batch_size // m)
        for start in range(0, x.shape[0], batch_size):
            logits = self.forward(x[start : start + batch_size], shared=True)  # (M, b, K)
            target = y[start : start + batch_size]
            b, classes = logits.shape[1], logits.shape[2]
            ce = F.cross_entropy(logits.reshape(m * b, classes), target.repeat(m), reduction="none").view(m, b)
            total += ce.sum(1).double()
            correct += (logits.argmax(-1) == target).sum(1)
        return total, correct
