"""Whether a model stacks, and whether stacking several trainings of it pays on a device."""

from __future__ import annotations

import torch

from redundancy.data import DataBundle
from redundancy.fast.stacked import can_stack
from redundancy.models import LayeredNet, shape_model
from redundancy.spec.schema import ModelConfig


def _meta_model(model_cfg: ModelConfig, data: DataBundle) -> LayeredNet:
    return shape_model(model_cfg, tuple(data.input_shape), data.num_classes)


def stack_supported(model_cfg: ModelConfig, data: DataBundle) -> bool:
    """Whether :func:`~redundancy.train.train_stacked` can stack ``model_cfg`` (every block type has a stacked form)."""
    return can_stack(_meta_model(model_cfg, data))


def parameter_count(model_cfg: ModelConfig, data: DataBundle) -> int:
    """Trainable parameters of ``model_cfg`` on ``data`` (counted without allocating them)."""
    return sum(p.numel() for p in _meta_model(model_cfg, data).parameters())


CPU_STACK_MAX_PARAMS = 64_000
"""On CPU, networks up to this many parameters stack; larger ones train one after another.

A CPU step of a larger network is bound by its matrix products, which a batched
product does no faster (and the single-network CPU step skips autograd), so
stacking stops paying: measured on a 2-core CPU with five stacked MNIST MLPs,
model-iterations/s over separate training were 1.16× at 6K parameters, 1.29×
at 25K, 1.18× at 51K and 1.02× at 102K; four stacked LeNet-300-100s (266K)
ran at 0.83×. On CUDA a step is bound by launches, and stacking always pays.
"""


def stacking_pays(model_cfg: ModelConfig, data: DataBundle, device: torch.device | str) -> bool:
    """Whether ``model_cfg`` has a stacked form and training several of it stacked is faster on ``device``."""
    if not stack_supported(model_cfg, data):
        return False
    if torch.device(device).type == "cuda":
        return True
    return parameter_count(model_cfg, data) <= CPU_STACK_MAX_PARAMS
