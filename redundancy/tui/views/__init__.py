"""Registry of study views: study kind -> :class:`StudyView` (a plain dict).

A built-in study kind adds one module here with a ``VIEW`` and one line below;
an installed plugin may declare one under the entry point group :data:`GROUP`
(its kind's name -> a :class:`StudyView`). A kind without a view is still
shown, by :data:`GENERIC`, from its summary and curves.
"""

from __future__ import annotations

from redundancy.tui.views import correspondence, dynamics, lottery, pruning, subspace, unit_ticket
from redundancy.studies.installed import installed
from redundancy.tui.views.base import GENERIC, StudyView

VIEWS: dict[str, StudyView] = {}


def register(view: StudyView) -> StudyView:
    VIEWS[view.kind] = view
    return view


for _module in (pruning, subspace, lottery, dynamics, unit_ticket, correspondence):
    register(_module.VIEW)


def view_for(kind: str) -> StudyView:
    """The kind's view: a built-in's, an installed plugin's (entry point group :data:`GROUP`),
    else the generic one that reads any summary and curves.

    Only installed entry points are looked at: a kind named in a store is never imported.
    """
    if kind in VIEWS:
        return VIEWS[kind]
    view = installed(GROUP, kind)
    return view if isinstance(view, StudyView) else GENERIC


GROUP = "redundancy.tui_views"


__all__ = ["GENERIC", "GROUP", "VIEWS", "StudyView", "register", "view_for"]
