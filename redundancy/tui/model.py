"""What the right-hand pane shows, as plain data: tables, plot panels, heatmaps.

Views (one module per study kind under ``views/``) and dataset previews build
these objects from JSON curves and arrays; the widgets only draw them, and
export writes them to CSV. Keeping them free of Textual means a view is tested
by calling a function, and what is exported is exactly what is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np


@dataclass
class Table:
    """Rows of cells under named columns; ``caption`` holds scalars that fit no column.

    ``headline`` names the column a reader looks at first (a pruning table's ``auc``): on screen it
    follows the first column and both stay in view while the rest scroll sideways. ``max_width`` cuts
    longer cells on screen (an export has them whole). ``more`` holds further tables of the same
    summary whose rows have other columns (a unit-ticket study's per-fraction comparisons after its
    per-arm rows): the pane shows them as table panels."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    headline: str | None = None
    max_width: int | None = None
    more: list["TablePanel"] = field(default_factory=list)
    #: What the metrics shown mean (column or row label -> definition with unit): the table's tooltip.
    definitions: dict[str, str] = field(default_factory=dict)


@dataclass
class Series:
    """One line of a plot; ``std`` draws a ±std band around it (random baselines)."""

    label: str
    x: list[float]
    y: list[float]
    std: list[float] | None = None


@dataclass
class PlotPanel:
    """A line plot (or, with ``bars``, a histogram) of several series on shared axes; ``logx``
    draws x on a log(1 + x) scale, for axes such as log-spaced checkpoints or ranks k where
    the first few values matter most. ``logy_ok`` marks a y axis (a loss) that the log-axis key
    may draw on a log scale."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    bars: bool = False
    logx: bool = False
    logy_ok: bool = False


@dataclass
class HeatmapPanel:
    """A 2-D matrix drawn as colored cells (weights, masks)."""

    title: str
    matrix: np.ndarray


@dataclass
class TablePanel:
    """A table in the plot area: dataset values, or per-round numbers of a study."""

    title: str
    table: Table


Panel = Union[PlotPanel, HeatmapPanel, TablePanel]


@dataclass
class Provenance:
    """Where a result came from: key/value facts and the spec text to highlight."""

    facts: list[tuple[str, str]]
    text: str = ""
    text_title: str = ""


@dataclass
class Detail:
    """Everything shown for one tree node (or a comparison)."""

    key: str
    title: str
    table: Table | None = None
    panels: list[Panel] = field(default_factory=list)
    message: str = ""
    provenance: Provenance | None = None
    exportable: bool = False
    export_stem: str = "export"
