"""Store text on screen: every label, title, cell and caption passes :func:`redundancy.present.text.clean`.

Textual draws a ``rich.text.Text`` literally (no markup), but an ESC byte in it
still reaches the terminal as one; plotext even reads its labels as ANSI. So
the app cleans a :class:`Detail` once when it arrives from its worker, and every
tree label and status line on its way to the screen.
"""

from __future__ import annotations

import dataclasses

from rich.text import Text

from redundancy.present.text import clean, is_clean
from redundancy.tui.model import Detail, HeatmapPanel, Panel, PlotPanel, Provenance, Series, Table, TablePanel

ESCAPE_STYLE = "reverse"  # an escape that stands for a control character stands out from the text around it


def safe_text(text: Text) -> Text:
    """``text`` with its styles, every control character replaced by a visible escape."""
    plain = text.plain
    if is_clean(plain) and "\n" not in plain and "\t" not in plain:
        return text
    cuts = sorted({i for i, ch in enumerate(plain) if clean(ch, one_line=True) != ch} | {i + 1 for i, ch in enumerate(plain) if clean(ch, one_line=True) != ch})
    out = Text(style=text.style, justify=text.justify, no_wrap=text.no_wrap, end=text.end)
    for piece in text.divide(cuts):
        if len(piece.plain) == 1 and clean(piece.plain, one_line=True) != piece.plain:
            out.append(clean(piece.plain, one_line=True), style=ESCAPE_STYLE)
        else:
            out.append_text(piece)
    return out


def line(value: object) -> str:
    return clean(value, one_line=True)


def _table(table: Table | None) -> Table | None:
    if table is None:
        return None
    rows = [[line(c) if isinstance(c, str) else c for c in row] for row in table.rows]
    return dataclasses.replace(table, columns=[line(c) for c in table.columns], rows=rows, caption=clean(table.caption))


def _series(s: Series) -> Series:
    return dataclasses.replace(s, label=line(s.label))


def _panel(panel: Panel) -> Panel:
    if isinstance(panel, PlotPanel):
        return dataclasses.replace(
            panel, title=line(panel.title), xlabel=line(panel.xlabel), ylabel=line(panel.ylabel), series=[_series(s) for s in panel.series]
        )
    if isinstance(panel, HeatmapPanel):
        return dataclasses.replace(panel, title=line(panel.title))
    if isinstance(panel, TablePanel):
        table = _table(panel.table)
        assert table is not None
        return dataclasses.replace(panel, title=line(panel.title), table=table)
    return panel


def clean_detail(detail: Detail) -> Detail:
    """A copy of ``detail`` with every string it will put on screen cleaned (numbers untouched)."""
    provenance = detail.provenance
    if provenance is not None:
        provenance = Provenance([(line(k), clean(v)) for k, v in provenance.facts], clean(provenance.text), line(provenance.text_title))
    return dataclasses.replace(
        detail,
        title=line(detail.title),
        table=_table(detail.table),
        panels=[_panel(p) for p in detail.panels],
        message=clean(detail.message),
        provenance=provenance,
    )
