"""What is trained: one :class:`~redundancy.models.LayeredNet`, or a stack of them, behind one interface for the loop."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from redundancy.fast.mlp import LinearStep, linear_chain
from redundancy.fast.stacked import StackedNet
from redundancy.models import LayeredNet
from redundancy.train.evaluate import evaluate_sums


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class Single:
    """One :class:`LayeredNet`; batches are ``(B, ...)``.

    On CPU an all-Linear network takes its gradients from :class:`LinearStep`
    (the same kernels as autograd, without its bookkeeping); on CUDA the graph
    replay removes that overhead anyway, so autograd stays.
    """

    stacked = False

    def __init__(self, model: LayeredNet, device: torch.device):
        self.model = model
        self.size = 1
        self.named = dict(model.named_parameters())
        chain = linear_chain(model) if device.type == "cpu" else None
        self.by_hand = LinearStep(chain) if chain is not None else None

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def state_tensors(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers()]

    def param(self, name: str) -> torch.Tensor | None:
        return self.named.get(name)

    def stack_masks(self, name: str, masks: list[torch.Tensor | None], like: torch.Tensor) -> torch.Tensor:
        (mask,) = masks
        assert mask is not None
        return mask.to(device=like.device, dtype=like.dtype)

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Set fresh gradients of the mean cross-entropy on the batch; return the loss, detached."""
        if self.by_hand is not None:
            return self.by_hand(xb, yb)
        for p in self.named.values():
            p.grad = None
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        return loss.detach()

    def evaluate_sums(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        total, correct = evaluate_sums(self.model, x, y, batch_size)
        return total.reshape(1), correct.reshape(1)

    def states(self, members: Sequence[int]) -> dict[int, dict[str, torch.Tensor]]:
        return {0: snapshot(self.model)} if members else {}

    def train(self, mode: bool) -> None:
        self.model.train(mode)


class Stacked:
    """A :class:`StackedNet`; batches are ``(M, B, ...)``."""

    stacked = True

    def __init__(self, net: StackedNet):
        self.net = net
        self.size = net.size

    def parameters(self) -> list[torch.Tensor]:
        return self.net.parameters()

    def state_tensors(self) -> list[torch.Tensor]:
        return [*self.net.params.values(), *self.net.buffers.values()]

    def param(self, name: str) -> torch.Tensor | None:
        return self.net.params.get(name)

    def stack_masks(self, name: str, masks: list[torch.Tensor | None], like: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(like.shape[1:], dtype=like.dtype)
        rows = [ones if m is None else m.to(dtype=like.dtype, device="cpu") for m in masks]
        return torch.stack(rows).to(like.device)

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Set fresh gradients of the sum of the members' mean losses; return the members' losses, detached."""
        for p in self.net.params.values():
            p.grad = None
        losses = self.net.losses(xb, yb)
        losses.sum().backward()
        return losses.detach()

    def evaluate_sums(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.evaluate_sums(x, y, batch_size)

    def states(self, members: Sequence[int]) -> dict[int, dict[str, torch.Tensor]]:
        return self.net.member_states(members)

    def train(self, mode: bool) -> None:
        self.net.train(mode)


Trainee = Single | Stacked
