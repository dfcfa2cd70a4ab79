"""A training step for all-Linear networks (LeNet-300-100, MLPs) without autograd.

On a CPU a LeNet step at batch 64 is two 30-MFLOP products plus some twenty
small operations, and autograd's bookkeeping (recording the graph, running it
backwards, accumulating gradients) is a sizeable share of the rest. The
backward pass of ``Linear -> ReLU -> ... -> Linear -> cross-entropy`` has a
closed form, so :class:`LinearStep` computes it directly — and with the very
ATen kernels autograd would call, in the same order, so gradients are bit for
bit those of ``loss.backward()`` (a CPU test checks this):

- forward ``z = addmm(b, h, Wᵀ)``, ``h' = relu(z)``, ``log_softmax``, ``nll_loss``;
- backward ``nll_loss_backward``, ``_log_softmax_backward_data``, then per layer
  ``∂W = gᵀ h``, ``∂b = Σ_batch g``, ``g ← threshold_backward(g W, h, 0)``.

Gradients are written as fresh ``.grad`` tensors, as after
``zero_grad(set_to_none=True)`` and ``backward()``.
"""

from __future__ import annotations

import torch
from torch import nn

from redundancy.models import Block, LayeredNet

_aten = torch.ops.aten


def linear_chain(model: LayeredNet) -> list[Block] | None:
    """The blocks of ``model`` if every one is a plain Linear layer (optional flatten and ReLU), else None."""
    blocks: list[Block] = []
    for block in model.blocks.values():
        if not isinstance(block, Block) or not isinstance(block.layer, nn.Linear) or block.norm is not None or block.pool is not None:
            return None
        blocks.append(block)
    return blocks


class LinearStep:
    """Loss and gradients of an all-Linear :class:`LayeredNet` under mean cross-entropy, computed by hand."""

    def __init__(self, blocks: list[Block]):
        self.blocks = blocks
        self.layers: list[nn.Linear] = [b.layer for b in blocks]  # type: ignore[misc]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the batch (detached); sets every parameter's ``.grad``."""
        inputs: list[torch.Tensor] = []  # input of each layer, (B, fan_in)
        outputs: list[torch.Tensor] = []  # output of each block, after its ReLU
        h = x
        for block, layer in zip(self.blocks, self.layers):
            if block.flatten:
                h = h.flatten(1)
            inputs.append(h)
            h = torch.mm(h, layer.weight.t()) if layer.bias is None else torch.addmm(layer.bias, h, layer.weight.t())
            if block.relu:
                h = torch.relu(h)
            outputs.append(h)
        log_p = torch.log_softmax(h, 1)
        loss, total_weight = _aten.nll_loss_forward(log_p, y, None, 1, -100)  # 1: mean
        g = _aten.nll_loss_backward(torch.ones_like(loss), log_p, y, None, 1, -100, total_weight)
        g = _aten._log_softmax_backward_data(g, log_p, 1, log_p.dtype)
        for i in range(len(self.layers) - 1, -1, -1):
            block, layer = self.blocks[i], self.layers[i]
            if block.relu:
                g = _aten.threshold_backward(g, outputs[i], 0)
            layer.weight.grad = torch.mm(g.t(), inputs[i])
            if layer.bias is not None:
                layer.bias.grad = g.sum(0)
            if i > 0:
                g = torch.mm(g, layer.weight)
        return loss
