"""Registry of report figures: stage kind -> figure function (a plain dict).

The key is ``train`` for a training run and the study kind (``pruning``,
``subspace``, ...) for a study. A new study kind adds its figures with one
module here that decorates one function with :func:`register`; a kind with no
entry (a plugin's) gets :func:`~redundancy.report.figures.generic.generic_figures`:
its typed summary as a table, its curves as line plots.
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


#: Entry point group under which an installed plugin may declare its kind's figure function.
GROUP = "redundancy.report_figures"


def figure_for(kind: str) -> FigureFn:
    """The kind's figure function: a built-in's, an installed plugin's (entry point group
    :data:`GROUP`), else the generic one (summary table and line plots of any typed results).

    Only installed entry points are looked at: a kind named in a store is never imported.
    """
    if kind in FIGURES:
        return FIGURES[kind]
    from redundancy.studies.installed import installed

    fn = installed(GROUP, kind)
    return fn if callable(fn) else generic_figures


# Each module registers its function on import.
from redundancy.report.figures import correspondence, dynamics, lottery, pruning, subspace, training, unit_ticket  # noqa: E402
from redundancy.report.figures.generic import generic_figures  # noqa: E402

__all__ = ["FIGURES", "GROUP", "correspondence", "dynamics", "figure_for", "generic_figures", "lottery", "pruning", "register", "subspace", "training", "unit_ticket"]
