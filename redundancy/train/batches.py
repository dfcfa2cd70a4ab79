"""Each member's batches: a fresh permutation of the training set every epoch, from its own generator on the device."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Batches:
    """Each member's epoch permutations, drawn from its own generator on the device.

    The eager loop slices the current permutation on the host (``order[..., c:c+B]``);
    the captured step reads the same indices inside the graph from a static copy
    of the permutation at a device-side cursor (:meth:`graph_indices`), while the
    host keeps the epoch bookkeeping (:meth:`advance`). Both give identical batches.
    """

    def __init__(self, seeds: Sequence[int], n: int, batch: int, device: torch.device, stacked: bool):
        self.n, self.batch, self.device, self.stacked = n, batch, device, stacked
        self.gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.order = self._draw()
        self.cursor = 0
        # static buffers for the captured step: the epoch's permutation and the positions read next
        self.static_order = self.order.clone()
        self.offsets = torch.arange(batch, device=device)
        self.positions = self.offsets.clone()

    def _draw(self) -> torch.Tensor:
        perms = [torch.randperm(self.n, generator=g, device=self.device) for g in self.gens]
        return torch.stack(perms) if self.stacked else perms[0]

    def next_slice(self) -> torch.Tensor:
        """Eager: the next batch's indices, ``(B,)`` or ``(M, B)``."""
        if self.cursor + self.batch > self.n:
            self.order = self._draw()
            self.cursor = 0
        idx = self.order[..., self.cursor : self.cursor + self.batch]
        self.cursor += self.batch
        return idx

    def advance(self) -> None:
        """Graph: host bookkeeping for the next replay; a new epoch refills the static permutation."""
        if self.cursor + self.batch > self.n:
            self.order = self._draw()
            self.static_order.copy_(self.order)
            self.positions.copy_(self.offsets)
            self.cursor = 0
        self.cursor += self.batch

    def graph_indices(self) -> torch.Tensor:
        """Inside the graph: the indices at the device-side positions, which then move on by one batch."""
        idx = self.static_order.index_select(-1, self.positions)
        self.positions.add_(self.batch)
        return idx

    def rewind_positions(self) -> None:
        self.positions.copy_(self.offsets)


def gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` of ``x``: ``(B, ...)`` for ``idx (B,)``, ``(M, B, ...)`` for ``idx (M, B)``."""
    return x.index_select(0, idx.reshape(-1)).view(*idx.shape, *x.shape[1:])
