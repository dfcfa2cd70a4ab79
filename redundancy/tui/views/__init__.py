"""Registry of study views: study kind -> :class:`StudyView` (a plain dict).

A new study kind adds one module here with a ``VIEW`` and one line below; a kind
without a view is still shown, by :data:`GENERIC`, from its summary and curves.
"""

from __future__ import annotations

from redundancy.tui.views import dynamics, lottery, pruning, subspace
from redundancy.tui.views.base import GENERIC, StudyView

VIEWS: dict[str, StudyView] = {}


def register(view: StudyView) -> StudyView:
    VIEWS[view.kind] = view
    return view


for _module in (pruning, subspace, lottery, dynamics):
    register(_module.VIEW)


def view_for(kind: str) -> StudyView:
    """The kind's view, or the generic one that reads any summary and curves."""
    return VIEWS.get(kind, GENERIC)


__all__ = ["GENERIC", "VIEWS", "StudyView", "register", "view_for"]
