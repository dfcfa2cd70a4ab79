"""Input shape and class count of each dataset without loading it (for spec checks)."""

from __future__ import annotations

from redundancy.spec.schema import DataConfig

from .synthetic import NUM_CLASSES, TEACHER_INPUT_DIM, XORD_PAIRS

_IMAGES: dict[str, tuple[tuple[int, ...], int]] = {
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "mnist-5k": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}


def data_shape(cfg: DataConfig) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` of ``cfg``'s dataset, as :func:`load_data` will give them."""
    if cfg.name in _IMAGES:
        return _IMAGES[cfg.name]
    if cfg.name == "teacher-student":
        return (cfg.input_dim or TEACHER_INPUT_DIM,), NUM_CLASSES
    if cfg.name == "xord":
        return (2 * (cfg.input_dim or XORD_PAIRS),), 2
    raise KeyError(cfg.name)
