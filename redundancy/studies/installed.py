"""What installed plugins supply to readers: a view or a figure function for their kind.

Readers (``show``, the TUI, the report) never import code because a store names
it. The one exception is code a user installed and declared for the purpose:
an entry point, in a presentation group, named as the study kind. It is looked
up by name among the installed distributions' metadata and loaded only when a
stage of that kind is shown; anything that goes wrong loading it falls back to
the generic presentation.
"""

from __future__ import annotations

import importlib.metadata as metadata
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=None)
def installed(group: str, kind: str) -> Any:
    """The object the installed entry point ``kind`` of ``group`` names, or None."""
    try:
        found = [ep for ep in metadata.entry_points(group=group) if ep.name == kind]
        return found[0].load() if found else None
    except Exception:  # a broken plugin must not break reading a store
        return None
