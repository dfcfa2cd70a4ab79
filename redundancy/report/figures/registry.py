"""The figure registry: stage kind -> figure function; see :mod:`redundancy.report.figures`."""

from __future__ import annotations

from collections.abc import Callable

from redundancy.report.figures.generic import generic_figures
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
