"""``redundancy tui``: a Textual browser for stores (tree, tables, plots, provenance, compare).

Only the command line imports this package, inside the ``tui`` command, so the
engine, the store and the studies never load Textual.
"""

from __future__ import annotations

from redundancy.tui.app import RedundancyApp, run_tui

__all__ = ["RedundancyApp", "run_tui"]
