"""Build a report from stores: collect stages, call the registered figure functions, save figures.

The builder owns everything figure functions do not: which stages exist,
provenance, file names, saving each figure in the formats asked for (PNG and
SVG unless :class:`ReportOptions` says otherwise) with its provenance printed
under it (unless ``footer`` is off: a figure for a paper), and catching a figure function that fails so one broken
study does not hide the rest (the failure is shown in the report and makes the
command exit non-zero).
"""

from __future__ import annotations

import io
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text
from PIL import Image

from redundancy.errors import RedundancyError
from redundancy.present.text import clean
from redundancy.report.document import RenderedFigure, Report, Section
from redundancy.report.figures import figure_for
from redundancy.report.manifest import FIGURES_DIR, Previous, check_figures_folder, check_free, digest, finish, previous_files, write_file
from redundancy.report.model import Block, FigureBlock, NoteBlock, Provenance, StageView
from redundancy.report.sections import _slug, spec_name, store_sections
from redundancy.report.style import GREY, PNG_DPI, report_style
from redundancy.report.writer import write_html, write_markdown
from redundancy.store import now_iso
from redundancy.store.reader import find_stores, read_store

FOOTER_IN = 0.2  # height of the provenance strip under each figure (inches)
FILL_COMMAND = "make run  (or: redundancy run specs/quickstart.yaml)"


#: The figure file formats ``report --format`` offers.
FORMATS = ("png", "svg", "pdf")


class NoStores(RedundancyError):
    """Nothing to report: no store under the given paths."""


class BadReportOption(RedundancyError):
    """A report option out of its range (a format, a resolution, a kind no store has)."""

    exit_code = 2


@dataclass(frozen=True)
class ReportOptions:
    """What the report writes: figure ``formats``, PNG resolution, the provenance footer inside each
    figure, and which ``kinds`` of sections (``train``, ``grid`` and study kinds; None: all)."""

    formats: tuple[str, ...] = ("png", "svg")
    dpi: int = PNG_DPI
    footer: bool = True
    kinds: frozenset[str] | None = None

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise BadReportOption(f"--format: expected {', '.join(FORMATS)}; found {', '.join(bad) or 'none'}")
        if not 10 <= self.dpi <= 1200:
            raise BadReportOption(f"--dpi: expected 10 to 1200 dots per inch; found {self.dpi}")

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


def _png(fig: Figure, dpi: int) -> bytes:
    """An 8-bit palette PNG: line plots use few colours, so this is about a third of the RGBA
    file with no visible change, which keeps the self-contained page and the committed figures small."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": "redundancy report"})  # no label clipped
    buffer.seek(0)
    out = io.BytesIO()
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        palette.save(out, format="png", optimize=True)
    return out.getvalue()


def literal_text(fig: Figure) -> None:
    """Every text of ``fig`` (titles, labels, legends, the footer) as literal characters: never parsed
    as mathtext, control characters as visible escapes. Store names reach figures in many places;
    this one pass before saving covers them all."""
    for artist in fig.findobj(Text):
        assert isinstance(artist, Text)
        artist.set_parse_math(False)
        value = artist.get_text()
        if clean(value) != value:
            artist.set_text(clean(value))


class _Builder:
    def __init__(self, out: Path, report: Report, previous: Previous, options: ReportOptions):
        self.out = out
        self.report = report
        self.previous = previous
        self.options = options
        self.slugs: set[str] = set()

    def _taken(self, slug: str) -> bool:
        """A figure name is taken by this report, or by a file in the folder the report did not make."""
        if slug in self.slugs:
            return True
        return any(
            os.path.lexists(self.out / name) and name not in self.previous
            for name in (f"{FIGURES_DIR}/{slug}.{ext}" for ext in FORMATS)
        )

    def unique(self, slug: str) -> str:
        candidate, n = slug, 2
        while self._taken(candidate):
            candidate, n = f"{slug}-{n}", n + 1
        self.slugs.add(candidate)
        return candidate

    def save(self, block: FigureBlock, stem: str, prov: Provenance) -> RenderedFigure:
        """Write the figure in each format asked for, with the provenance line printed under the axes unless
        the footer is off; the page shows an in-memory PNG either way."""
        slug = self.unique(stem)
        fig = block.figure
        if self.options.footer:
            # Reserve a strip at the bottom for the provenance line, so the layout keeps legends and labels off it.
            footer = FOOTER_IN / fig.get_figheight()
            engine = fig.get_layout_engine()
            if isinstance(engine, ConstrainedLayoutEngine):
                engine.set(rect=(0.0, footer, 1.0, 1.0 - footer))
            fig.text(0.5, 0.25 * footer, prov.line(), ha="center", va="bottom", fontsize=6.0, color=GREY)
        literal_text(fig)
        files = {ext: f"{FIGURES_DIR}/{slug}.{ext}" if ext in self.options.formats else None for ext in FORMATS}
        embedded = _png(fig, self.options.dpi if files["png"] else PNG_DPI)
        if files["png"]:
            write_file(self.out / files["png"], embedded)
        # The first save laid the figure out; the vector files reuse those positions (figure fractions, the
        # same at any dpi) instead of solving the constrained layout again.
        fig.set_layout_engine("none")
        if files["svg"]:
            vector = io.BytesIO()
            fig.savefig(vector, format="svg", bbox_inches="tight", metadata={"Date": None})  # no date: same store, same SVG
            write_file(self.out / files["svg"], vector.getvalue())
        if files["pdf"]:
            document = io.BytesIO()
            fig.savefig(document, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None})
            write_file(self.out / files["pdf"], document.getvalue())
        rendered = RenderedFigure(slug, block.title, block.caption, prov, files["png"], files["svg"], files["pdf"], embedded)
        self.report.figures.append(rendered)
        return rendered

    def draw(self, kind: str, view: StageView, stem: str, section: Section) -> None:
        """Call the kind's figure function; a failure becomes a visible note and a problem, not a crash."""
        fn = figure_for(kind)  # a kind without its own figures gets the generic ones
        try:
            blocks = fn(view)
        except Exception as exc:  # a figure bug must not hide every other figure
            where = f"{kind} {view.label} ({view.info.id})"
            last = traceback.extract_tb(exc.__traceback__)[-1]
            message = f"figures for {where} failed: {type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"
            self.report.problems.append(message)
            section.items.append(NoteBlock(message))
            return
        self.place(blocks, stem, view.provenance, section)

    def place(self, blocks: list[Block], stem: str, prov: Provenance, section: Section) -> None:
        for block in blocks:
            if isinstance(block, FigureBlock):
                section.items.append(self.save(block, _slug(stem, block.key), prov))
            else:
                section.items.append(block)


def _quiet(message: str) -> None:
    pass


def build_report(
    paths: Sequence[Path], out: Path, options: ReportOptions | None = None, *, log: Callable[[str], None] = _quiet
) -> Report:
    """Build the report for every store under ``paths`` into ``out``: index.html, report.md, figures/,
    one HTML page per store when there are several, and the manifest of those files.

    ``log`` gets one line as each store is started (reading and verifying a store's stages and
    drawing its figures takes seconds). Stages are verified against their checksums as they are
    read; a corrupt or unreadable one is one line among the problems, never drawn.

    Only files listed in ``out``'s previous manifest are replaced or removed (see
    :mod:`redundancy.report.manifest`). Raises :class:`NoStores` when ``paths`` hold no store,
    naming the command that fills one, and :class:`ReportFolderTaken` before writing anything
    when a page's name is taken by a file the report did not make.
    """
    options = options or ReportOptions()
    stores = [read_store(root) for root in find_stores(list(paths))]
    if not stores:
        where = ", ".join(str(p) for p in paths) or "(no path given)"
        raise NoStores(f"no store under {where}; nothing to report. Fill one with: {FILL_COMMAND}")
    if options.kinds is not None:
        present = {"train", "grid"} | {str(rec.study_kind) for store in stores for rec in store.studies()}
        unknown = sorted(options.kinds - present)
        if unknown:
            raise BadReportOption(f"--kind {', '.join(unknown)}: no such section in these stores (there: {', '.join(sorted(present))})")
    pages: dict[Path, str] = {}
    if len(stores) > 1:
        used: set[str] = {"index"}
        for store in stores:
            stem = base = "store-" + _slug(spec_name(store))
            n = 2
            while stem in used:
                stem, n = f"{base}-{n}", n + 1
            used.add(stem)
            pages[store.root] = f"{stem}.html"
    out.mkdir(parents=True, exist_ok=True)
    previous = previous_files(out)
    check_free(out, ["index.html", "report.md", *pages.values()], previous)
    check_figures_folder(out)
    (out / FIGURES_DIR).mkdir(exist_ok=True)
    report = Report(out=out, sources=[str(s.root) for s in stores], created=now_iso())
    builder = _Builder(out, report, previous, options)
    healthy: list[list[Section]] = []
    failing: list[list[Section]] = []
    with report_style():
        for number, store in enumerate(stores, 1):
            log(f"report: store {number} of {len(stores)}, {store.root} ({len(store.stages)} stage(s))")
            problems = len(report.problems)
            sections, failed = store_sections(builder, store)
            report.problems[problems:problems] = store.problems()  # known once its stages are verified
            for section in sections:
                section.page = pages.get(store.root, "index.html")
            # A store with failed stages or figures goes after the ones that are whole.
            (failing if failed or len(report.problems) > problems else healthy).append(sections)
    anchors: set[str] = set()
    for sections in [*healthy, *failing]:
        for section in sections:
            section.anchor = base = _slug(section.title)
            n = 2
            while section.anchor in anchors:
                section.anchor, n = f"{base}-{n}", n + 1
            anchors.add(section.anchor)
            report.sections.append(section)
    heads = [sections[0] for sections in [*healthy, *failing]]
    shared = {h.title for h in heads if sum(other.title == h.title for other in heads) > 1}
    for head in heads:  # two stores of one spec (copies, reruns): their folders tell them apart
        if head.title in shared:
            head.title = f"{head.title} ({head.folder})"
    report.index, report.pages = write_html(report)
    report.markdown = write_markdown(report)
    names = [f for fig in report.figures for f in fig.files]
    names += [p.relative_to(out).as_posix() for p in (report.index, *report.pages, report.markdown)]
    written = {name: sha for name in names if (sha := digest(out / name)) is not None}
    finish(out, written, previous)
    return report
