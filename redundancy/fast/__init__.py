"""The fast engine: CUDA-graph replay of the training step and stacked training of many networks.

:mod:`redundancy.fast.graph` captures a whole step (batch sampling, forward,
backward, masks, optimizer) and replays it; :mod:`redundancy.fast.stacked`
trains M networks of one architecture as one set of batched weights. The loop
that uses both is :mod:`redundancy.train`.
"""

from redundancy.fast.graph import CapturedStep, StateSnapshot
from redundancy.fast.stacked import StackedNet, StackingUnsupported, can_stack

__all__ = ["CapturedStep", "StackedNet", "StackingUnsupported", "StateSnapshot", "can_stack"]
