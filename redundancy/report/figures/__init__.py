"""Registry of report figures: stage kind -> figure function (a plain dict).

The key is ``train`` for a training run and the study kind (``pruning``,
``subspace``, ...) for a study. A new study kind adds its figures with one
module here that decorates one function with :func:`register`; a kind with no
entry still gets its summary table in the report.
"""

from __future__ import annotations

from collections.abc import Callable

from redundancy.report.model import FigureFn

FIGURES: dict[str, FigureFn] = {}


def register(kind: str) -> Callable[[FigureFn], FigureFn]:
    """Decorator: ``@register("pruning")`` makes a function draw that kind's stages."""

    def add(fn: FigureFn) -> FigureFn:
        FIGURES[kind] = fn
        return fn

    return add


# Each module registers its function on import.
from redundancy.report.figures import dynamics, lottery, pruning, subspace, training  # noqa: E402

__all__ = ["FIGURES", "dynamics", "lottery", "pruning", "register", "subspace", "training"]
