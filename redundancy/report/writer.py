"""Write a built report as self-contained HTML pages and as Markdown for GitHub.

One store's report is one page, ``index.html``; several stores get one page
each (``store-<spec>.html``), which ``index.html`` links from its table of
contents, so no page carries every figure of every store. Each page embeds every figure as a base64 PNG data URI and its style
sheet inline, with no script and no external reference, so the single file
can be mailed, archived or opened offline and still shows everything; it also
links each figure's PNG and SVG files beside it for use in a paper.
``report.md`` has the same content and points at ``figures/*.png`` so GitHub
renders it from the repository.
"""

from __future__ import annotations

import base64
from pathlib import Path

from redundancy.version import __version__
from redundancy.present.text import html_text, markdown_text
from redundancy.report.document import Item, RenderedFigure, Report, Section
from redundancy.report.manifest import write_file
from redundancy.report.model import NoteBlock, TableBlock

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0;
       color: #1a1a1a; background: #fff; line-height: 1.45; }
main { max-width: 62rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.35rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 2rem; }
.meta, .prov { color: #555; font-size: 0.85rem; }
nav > ol { columns: 2; font-size: 0.9rem; }
nav li { break-inside: avoid; }
nav ol ol { padding-left: 1.2rem; }
figure { margin: 1.5rem 0; break-inside: avoid; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; margin-top: 0.4rem; }
figcaption a { font-size: 0.8rem; }
table { border-collapse: collapse; margin: 0.8rem 0 1.4rem; font-size: 0.85rem; font-variant-numeric: tabular-nums;
        break-inside: avoid; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { background: #fff6e0; border-left: 3px solid #E69F00; padding: 0.4rem 0.7rem; font-size: 0.9rem; }
.table-note { color: #555; font-size: 0.8rem; margin-top: -1rem; }
@media print { main { max-width: none; } nav, figcaption a { display: none; } h2 { break-before: page; } }
"""


def _e(text: object) -> str:
    return html_text(text)


def _links(fig: RenderedFigure) -> list[tuple[str, str]]:
    return [(name, path) for name, path in (("SVG", fig.svg), ("PNG", fig.png), ("PDF", fig.pdf)) if path]


def _figure_html(fig: RenderedFigure, out: Path) -> str:
    data = base64.b64encode(fig.embedded or (out / str(fig.png)).read_bytes()).decode("ascii")
    prov = fig.provenance
    data_source = f" Data: {_e(prov.data_source)}." if prov.data_source else ""
    links = " · ".join(f'<a href="{_e(path)}">{name}</a>' for name, path in _links(fig))
    return (
        f'<figure id="{_e(fig.slug)}">\n'
        f'<img src="data:image/png;base64,{data}" alt="{_e(fig.title)}">\n'
        f"<figcaption><strong>{_e(fig.title)}.</strong> {_e(fig.caption)}\n"
        f'<br><span class="prov">Provenance: spec <code>{_e(prov.spec_name)}</code>, stage <code>{_e(prov.stage_id)}</code>, '
        f"model {_e(prov.model)}, dataset {_e(prov.data)}, device {_e(prov.device)}, {_e(prov.date)}.{data_source}</span>\n"
        f"<br>{links}</figcaption>\n"
        "</figure>"
    )


def _table_html(table: TableBlock) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f'\n<p class="table-note">{_e(table.caption)}</p>' if table.caption else ""
    return f"<table>\n<caption>{_e(table.title)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>{note}"


def _item_html(item: Item, out: Path) -> str:
    if isinstance(item, RenderedFigure):
        return _figure_html(item, out)
    if isinstance(item, TableBlock):
        return _table_html(item)
    if isinstance(item, NoteBlock):
        return f'<p class="note">{_e(item.text)}</p>'
    raise TypeError(f"unknown report item {type(item).__name__}")


def _document(title: str, body: list[str]) -> str:
    head = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request: the page needs nothing beside itself
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body><main>",
    ]
    return "\n".join([*head, *body, "</main></body></html>\n"])


def _href(section: Section, here: str) -> str:
    return f"#{section.anchor}" if section.page == here else f"{section.page}#{section.anchor}"


def _toc(sections: list[Section], here: str) -> list[str]:
    """A table of contents: stores (level 2) with their sections (level 3) nested under them."""
    parts = ['<nav aria-label="contents"><ol>']
    open_child = False
    for section in sections:
        link = f'<a href="{_e(_href(section, here))}">{_e(section.title)}</a>'
        if section.level > 2:
            if not open_child:
                parts.append("<ol>")
                open_child = True
            parts.append(f"<li>{link}</li>")
            continue
        if open_child:
            parts.append("</ol>")
            open_child = False
        parts.append(f"<li>{link}")
    if open_child:
        parts.append("</ol>")
    parts.append("</ol></nav>")
    return parts


def _sections_html(sections: list[Section], out: Path) -> list[str]:
    parts = []
    for section in sections:
        parts.append(f'<section id="{_e(section.anchor)}">')
        parts.append(f"<h{section.level}>{_e(section.title)}</h{section.level}>")
        parts.extend(f"<p>{_e(p)}</p>" for p in section.intro)
        parts.extend(_item_html(item, out) for item in section.items)
        parts.append("</section>")
    return parts


def write_html(report: Report) -> tuple[Path, list[Path]]:
    """Write ``index.html`` and, when the report spans several stores, one page per store that the
    index links; returns (index, store pages)."""
    header = [
        "<h1>redundancy report</h1>",
        f'<p class="meta">Built {_e(report.created)} by redundancy {_e(__version__)} from '
        + ", ".join(f"<code>{_e(s)}</code>" for s in report.sources)
        + f"; {len(report.figures)} figures.</p>",
    ]
    if report.problems:
        header.append('<p class="note">' + "<br>".join(_e(p) for p in report.problems) + "</p>")
    pages = report.store_pages
    index = report.out / "index.html"
    if not pages:
        body = [*header, *_toc(report.sections, "index.html"), *_sections_html(report.sections, report.out)]
        write_file(index, _document("redundancy report", body).encode("utf-8"))
        return index, []
    header.append(f"<p>One page per store ({len(pages)}); stores with failed stages or figures come last.</p>")
    write_file(index, _document("redundancy report", [*header, *_toc(report.sections, "index.html")]).encode("utf-8"))
    written = []
    for page in pages:
        sections = [s for s in report.sections if s.page == page]
        title = sections[0].title
        body = [
            "<h1>redundancy report</h1>",
            f'<p class="meta"><a href="index.html">← all stores</a> · this page: {_e(title)}</p>',
            *_toc(sections, page),
            *_sections_html(sections, report.out),
        ]
        path = report.out / page
        write_file(path, _document(f"redundancy report: {title}", body).encode("utf-8"))
        written.append(path)
    return index, written


def _md(text: object) -> str:
    """Store text as literal Markdown (no tag, link, emphasis or table cell break is ever read from it)."""
    return markdown_text(text)


def _md_cell(text: object) -> str:
    return _md(text) or " "


def _item_md(item: Item) -> str:
    if isinstance(item, RenderedFigure):
        prov = item.provenance
        image = f"![{_md(item.title)}]({item.png or item.svg})\n\n" if item.png or item.svg else ""
        return (
            image
            + f"**{_md(item.title)}.** {_md(item.caption)}  \n"
            f"*Provenance: spec {_md(prov.spec_name)}, stage {_md(prov.stage_id)}, model {_md(prov.model)}, "
            f"dataset {_md(prov.data)}, device {_md(prov.device)}, {_md(prov.date)}.* "
            + " · ".join(f"[{name}]({path})" for name, path in _links(item))
        )
    if isinstance(item, TableBlock):
        lines = [f"**{_md(item.title)}**", "", "| " + " | ".join(_md_cell(c) for c in item.columns) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(item.columns) - 1)) + "|")
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in item.rows)
        if item.caption:
            lines += ["", f"*{_md(item.caption)}*"]
        return "\n".join(lines)
    if isinstance(item, NoteBlock):
        return f"> {_md(item.text)}"
    raise TypeError(f"unknown report item {type(item).__name__}")


def write_markdown(report: Report) -> Path:
    parts = [
        "# redundancy report",
        "",
        f"Built {_md(report.created)} by redundancy {__version__} from " + ", ".join(_md(s) for s in report.sources)
        + f"; {len(report.figures)} figures.",
    ]
    for problem in report.problems:
        parts += ["", f"> {_md(problem)}"]
    parts.append("")
    for section in report.sections:
        parts.append("  " * (section.level - 2) + f"- [{_md(section.title)}](#{section.anchor})")
    for section in report.sections:
        parts += ["", f'<a id="{section.anchor}"></a>', "", "#" * section.level + " " + _md(section.title)]
        for p in section.intro:
            parts += ["", _md(p)]
        for item in section.items:
            parts += ["", _item_md(item)]
    path = report.out / "report.md"
    write_file(path, ("\n".join(parts) + "\n").encode("utf-8"))
    return path
