"""Input shape, class count and sample counts of each dataset without loading it (for spec checks).

The functions here are the ``shape`` and ``pool`` members of each dataset's registry entry
(:data:`redundancy.data.registry.DATASETS`).
"""

from __future__ import annotations

from redundancy.spec.schema import DataConfig

from .synthetic import NUM_CLASSES, TEACHER_INPUT_DIM, TEACHER_TEST, TEACHER_TRAIN, XORD_PAIRS, XORD_TEST, XORD_TRAIN

Shape = tuple[tuple[int, ...], int]

MNIST_SHAPE: Shape = ((1, 28, 28), 10)
CIFAR_SHAPE: Shape = ((3, 32, 32), 10)


def teacher_shape(cfg: DataConfig) -> Shape:
    return (cfg.input_dim or TEACHER_INPUT_DIM,), NUM_CLASSES


def xord_shape(cfg: DataConfig) -> Shape:
    return (2 * (cfg.input_dim or XORD_PAIRS),), 2


def teacher_sizes(cfg: DataConfig) -> tuple[int, int]:
    return cfg.train_samples or TEACHER_TRAIN, cfg.test_samples or TEACHER_TEST


def xord_sizes(cfg: DataConfig) -> tuple[int, int]:
    return cfg.train_samples or XORD_TRAIN, cfg.test_samples or XORD_TEST

