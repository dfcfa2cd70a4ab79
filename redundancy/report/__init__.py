"""``redundancy report``: figures and tables from stores, as one HTML page, Markdown and PNG/SVG files.

Reads stores only (never trains); depends on matplotlib, which the engine,
the store and the studies never import. A study kind adds its figures by
registering one function in :data:`redundancy.report.figures.FIGURES`.
"""

from __future__ import annotations

from redundancy.report.builder import FILL_COMMAND, NoStores, Report, build_report
from redundancy.report.figures import FIGURES, register

__all__ = ["FIGURES", "FILL_COMMAND", "NoStores", "Report", "build_report", "register"]
