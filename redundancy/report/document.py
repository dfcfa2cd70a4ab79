"""A built report as plain data: its sections in page order, the figures it saved, what failed.

The builder fills a :class:`Report`; the writer turns it into HTML and
Markdown. Both import this module and neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from redundancy.report.model import NoteBlock, Provenance, TableBlock


@dataclass
class RenderedFigure:
    """A saved figure: files relative to the report folder, plus what the page shows around it."""

    slug: str
    title: str
    caption: str
    provenance: Provenance
    png: str | None  # each file only when its format was asked for
    svg: str | None
    pdf: str | None = None
    embedded: bytes = field(default=b"", repr=False)  # the PNG the HTML page shows, whatever the file formats

    @property
    def files(self) -> list[str]:
        return [f for f in (self.png, self.svg, self.pdf) if f]


Item = RenderedFigure | TableBlock | NoteBlock


@dataclass
class Section:
    """A heading and what follows it; ``page`` is the HTML file it goes on, ``anchor`` its id there."""

    title: str
    level: int
    intro: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    page: str = "index.html"
    anchor: str = ""
    folder: str = ""  # a store's head section: the store's folder


@dataclass
class Report:
    """What was built: the sections in page order, the files written and any figure that failed."""

    out: Path
    sources: list[str]
    created: str
    sections: list[Section] = field(default_factory=list)
    figures: list[RenderedFigure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    index: Path | None = None
    markdown: Path | None = None
    pages: list[Path] = field(default_factory=list)

    @property
    def store_pages(self) -> list[str]:
        """The HTML files other than the index, in page order (empty: everything is on the index)."""
        return list(dict.fromkeys(s.page for s in self.sections if s.page != "index.html"))
