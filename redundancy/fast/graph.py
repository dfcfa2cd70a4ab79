"""CUDA-graph replay of a whole training step.

A LeNet step at batch 64 is some fifty small kernels; launched one by one from
Python it runs at a few hundred steps per second on an H100, replayed as one
CUDA graph at over ten thousand (measured in plain PyTorch: 477 against 10,201
it/s). The step we
capture is everything between two evaluations: batch sampling from the
resident data (indices read from a static epoch permutation at a device-side
cursor), forward, backward, lottery masks and the optimizer step.

Capturing needs warm-up steps first (autograd and the optimizer allocate their
state lazily, cuBLAS its workspace), and those steps would change the weights.
:class:`CapturedStep` therefore snapshots every tensor the step writes,
warms up, captures, and copies the snapshot back, so the first replay starts
from exactly the state eager training would have. Optimizer state that did not
exist before the warm-up (SGD momentum, Adam moments and step) is zeroed, which
is what a fresh SGD or Adam would start from.

Whatever is baked into the graph as a host value — the learning rate — is
changed by capturing again (:meth:`CapturedStep.recapture`); the learning-rate
milestones of VGG happen twice per run.

On a device without CUDA the same object runs the step eagerly (after the same
warm-up and restore), so the capturable step and the restore logic are
exercised and compared on CPU too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import torch


class Stateful(Protocol):
    """An optimizer as the snapshot sees it: per-parameter state tensors
    (:class:`redundancy.fast.optim.Update` or any ``torch.optim`` optimizer)."""

    @property
    def state(self) -> Mapping[Any, Mapping[str, Any]]: ...


def _optimizer_tensors(opt: Stateful) -> list[torch.Tensor]:
    return [t for state in opt.state.values() for t in state.values() if isinstance(t, torch.Tensor)]


class StateSnapshot:
    """Copies of tensors a step writes, to put back after warm-up steps.

    ``tensors`` are saved as they are; optimizer state is saved if it exists,
    and any state created later is zeroed on :meth:`restore`.
    """

    def __init__(self, tensors: Iterable[torch.Tensor], opt: Stateful):
        self.opt = opt
        with torch.no_grad():
            self.saved = [(t, t.detach().clone()) for t in tensors]
            self.saved += [(t, t.detach().clone()) for t in _optimizer_tensors(opt)]

    @torch.no_grad()
    def restore(self) -> None:
        known = {id(t) for t, _ in self.saved}
        for t, copy in self.saved:
            t.copy_(copy)
        for t in _optimizer_tensors(self.opt):
            if id(t) not in known:
                t.zero_()


class CapturedStep:
    """One training step, captured as a CUDA graph on CUDA and replayed by :meth:`__call__`.

    ``step`` is the step function: it must not synchronize with the host and must
    read and write only tensors whose addresses stay fixed (``state`` lists those
    it writes besides the optimizer state). ``before_warmup`` runs after the snapshot,
    before each warm-up step (the sampler uses it to rewind its cursor so warm-up
    steps never read past the epoch's permutation).
    """

    def __init__(
        self,
        step: Callable[[], None],
        state: Callable[[], list[torch.Tensor]],
        opt: Stateful,
        *,
        device: torch.device,
        before_warmup: Callable[[], None] | None = None,
        warmup: int = 3,
        strict: bool = True,
    ):
        self.step = step
        self.state = state
        self.opt = opt
        self.device = device
        self.before_warmup = before_warmup
        self.warmup = warmup
        self.strict = strict
        self.graph: torch.cuda.CUDAGraph | None = None
        self.captures = 0
        self.failure: str | None = None
        self.recapture()

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def recapture(self) -> None:
        """Warm up, capture (on CUDA), and restore the state as it was before.

        If capture fails and ``strict`` is off, the step runs eagerly from then on
        (same results: it is the same step function) and :attr:`failure` says why.
        """
        self.graph = None
        snapshot = StateSnapshot(self.state(), self.opt)
        if self.device.type == "cuda" and self.failure is None:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._warm()
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    self.step()
            except RuntimeError as exc:
                if self.strict:
                    raise
                self.failure = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                torch.cuda.synchronize(self.device)
            else:
                self.graph = graph
        else:
            self._warm()
        snapshot.restore()
        self.captures += 1

    def _warm(self) -> None:
        for _ in range(self.warmup):
            if self.before_warmup is not None:
                self.before_warmup()
            self.step()

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            self.step()
