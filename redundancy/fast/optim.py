"""SGD with momentum and Adam as plain tensor updates, without ``torch.optim``.

Two costs of ``torch.optim`` that these small networks feel:

- The first optimizer a process creates imports ``torch._dynamo`` (and with it
  sympy): 1.3 s on a 2-core CPU, 6 s on the H100 host we measured, paid by every
  ``redundancy run`` before its first step.
- Each ``step()`` goes through hooks, profiler records and per-group
  bookkeeping: tens of microseconds, a few percent of a LeNet step on CPU.

The updates are PyTorch's own, operation for operation:

- unfused (CPU): the per-tensor formulas of ``torch.optim.SGD`` and
  ``torch.optim.Adam`` as PyTorch runs them on CPU by default, so training stays
  bit for bit that of the textbook loop;
- fused (CUDA): PyTorch's fused kernels ``torch._fused_sgd_`` and
  ``torch._fused_adam_``, what ``SGD(fused=True)`` and ``Adam(fused=True)`` call:
  one kernel for the whole update, which at LeNet's size is about a tenth of a
  captured step on an H100.

SGD, for a parameter θ with gradient g, momentum μ, weight decay λ, rate η:
    g ← g + λθ;  b ← μb + g;  θ ← θ − ηb
Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8), step t:
    g ← g + λθ;  m ← m + (1 − β₁)(g − m);  v ← β₂v + (1 − β₂)g²
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

All state (momentum buffers, moments, step counts) exists from the start, so
that a CUDA graph can capture the update and :class:`~redundancy.fast.graph.StateSnapshot`
can save and restore it. A zero momentum buffer gives PyTorch's first step
exactly (μ·0 + g = g), where PyTorch copies the first gradient instead.
``param_groups[0]["lr"]`` is read at every step, as with ``torch.optim``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


class Update:
    """The optimizer of one training run: ``kind`` is ``"sgd"`` or ``"adam"``."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        kind: str,
        *,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        fused: bool = False,
    ):
        if kind not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {kind!r}: sgd or adam")
        self.params = list(params)
        self.kind, self.momentum, self.weight_decay, self.fused = kind, momentum, weight_decay, fused
        self.param_groups: list[dict[str, Any]] = [{"lr": lr}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        for p in self.params:
            if kind == "sgd":
                self.state[p] = {"momentum_buffer": torch.zeros_like(p)} if momentum else {}
            else:
                step_dtype = torch.float32 if fused else torch.get_default_dtype()
                self.state[p] = {
                    "step": torch.zeros((), dtype=step_dtype, device=p.device if fused else "cpu"),
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                }

    def _with_grad(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = [p for p in self.params if p.grad is not None]
        return params, [p.grad for p in params]  # type: ignore[misc]

    @torch.no_grad()
    def step(self) -> None:
        lr = float(self.param_groups[0]["lr"])
        params, grads = self._with_grad()
        if not params:
            return
        if self.kind == "sgd":
            (self._fused_sgd if self.fused else self._sgd)(params, grads, lr)
        else:
            (self._fused_adam if self.fused else self._adam)(params, grads, lr)

    def _sgd(self, params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> None:
        for p, g in zip(params, grads):
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            if self.momentum:
                buf = self.state[p]["momentum_buffer"]
                buf.mul_(self.momentum).add_(g, alpha=1.0)
                g = buf
            p.add_(g, alpha=-lr)

    def _fused_sgd(self, params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> None:
        buffers = [self.state[p]["momentum_buffer"] for p in params] if self.momentum else []
        torch._fused_sgd_(
            params,
            grads,
            buffers,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            lr=lr,
            dampening=0.0,
            nesterov=False,
            maximize=False,
            is_first_step=False,
        )

    def _adam(self, params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> None:
        for p, g in zip(params, grads):
            state = self.state[p]
            step_t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            step_t += 1
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            m.lerp_(g, 1 - BETA1)
            v.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
            step = step_t.item()
            bias_correction1 = 1 - BETA1**step
            bias_correction2 = 1 - BETA2**step
            step_size = lr / bias_correction1
            denom = (v.sqrt() / bias_correction2**0.5).add_(EPS)
            p.addcdiv_(m, denom, value=-step_size)

    def _fused_adam(self, params: list[torch.Tensor], grads: list[torch.Tensor], lr: float) -> None:
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            steps,
            lr=lr,
            beta1=BETA1,
            beta2=BETA2,
            weight_decay=self.weight_decay,
            eps=EPS,
            amsgrad=False,
            maximize=False,
        )
