"""``redundancy ls``, ``show``, ``report``, ``gc`` and ``tui``: reading stores, and tidying them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from redundancy.commands.base import Width, app, as_text, err, fail, print_problems, print_warnings, store_paths, table_console
from redundancy.commands.summary import headline_of, print_summary
from redundancy.errors import RedundancyError
from redundancy.present.text import clean


@app.command("ls")
def ls(
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="[STORE_OR_FOLDER]...", help="default: store/")] = None,
    width: Width = None,
    verify: Annotated[bool, typer.Option("--verify", help="also check every stage's content against its checksum (reads every dataset)")] = False,
) -> None:
    """List stores, their runs and studies, with status (from attributes alone, unless --verify)."""
    from redundancy.store import layout as L
    from redundancy.store.reader import complete, find_stores, read_store

    stores = find_stores(store_paths(paths))
    if not stores:
        err.print(as_text(f"no stores under {', '.join(map(str, store_paths(paths)))}; fill one with: redundancy run specs/quickstart.yaml"))
        raise typer.Exit(code=1)
    table = Table(title="stores")
    for col in ("store", "stage", "kind", "name", "status", "headline"):
        table.add_column(col, overflow="fold", min_width=len(col))
    problems: list[str] = []
    mixed: list[str] = []
    for root in stores:
        reading = read_store(root)
        for rec in reading.stages:
            if verify:
                complete(rec)
            name = f"{rec.run}/{rec.name}" if rec.stage_kind == "study" else (rec.name or rec.id)
            headline = rec.error if rec.error else headline_of(rec)
            status = f"{rec.status} (stale)" if rec.stale else rec.status
            table.add_row(*(as_text(c) for c in (root, rec.id, rec.kind, name, status, headline)))
        problems += reading.problems()
        if warning := reading.environment_warning():
            mixed.append(f"{root}: {warning}")
    table_console(width).print(table)
    print_warnings(mixed)
    print_problems(problems)


@app.command()
def show(
    store: Annotated[Path, typer.Argument(metavar="STORE", help="store folder, e.g. store/quickstart")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    studies: Annotated[bool, typer.Option("--studies", help="for a grid, also print every study's own table")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="after the tables, define every metric they show, with its unit")] = False,
    runs: Annotated[bool, typer.Option("--runs/--no-runs", help="for a grid, each run's own numbers under the grid's mean ± std")] = True,
    width: Width = None,
) -> None:
    """Summary tables of a store (or the whole store as JSON)."""
    from redundancy.store import Store
    from redundancy.store import layout as L
    from redundancy.store.document import load_document, strict_json

    target = Store(store)
    if not target.exists():
        err.print(Text("error: ", style="bold red") + as_text(f"{store}: not a store (no {L.INDEX} or {L.STAGES}/ folder)"))
        raise typer.Exit(code=1)
    doc = load_document(target.root, curves=as_json)
    if as_json:
        from redundancy.grid import summarize_grid
        from redundancy.replicates import network_comparisons, to_plain

        doc.grid = summarize_grid(doc).to_json()
        doc.comparisons = [to_plain(c) for c in network_comparisons(doc)]
        sys.stdout.write(strict_json(doc.to_json(), indent=1) + "\n")
    else:
        print_summary(doc, studies=studies, console=table_console(width), explain=explain, per_run=runs)
    if doc.mixed_environments:
        from redundancy.store.environment import mixed_message

        print_warnings([f"{target.root}: {mixed_message(doc.mixed_environments)}"])
    print_problems(doc.problems)


@app.command()
def report(
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="[STORE_OR_FOLDER]...", help="default: store/")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="report folder: index.html, report.md, figures/ (files already there that the report did not make are kept)")] = Path("report"),
    format_: Annotated[Optional[list[str]], typer.Option("--format", metavar="png|svg|pdf", help="figure file format; repeat for several (default: png and svg)")] = None,
    dpi: Annotated[int, typer.Option(help="resolution of PNG figures, dots per inch")] = 150,
    no_footer: Annotated[bool, typer.Option("--no-footer", help="leave the provenance line out of the figure images (the page still shows it)")] = False,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", help="only these sections: train, grid or a study kind; repeat for several (default: all)")] = None,
) -> None:
    """Figures and tables of every store as HTML (a page per store when several), Markdown and PNG/SVG/PDF files."""
    from redundancy.report import build_report
    from redundancy.report.builder import ReportOptions

    try:
        options = ReportOptions(tuple(dict.fromkeys(format_ or ["png", "svg"])), dpi, not no_footer, frozenset(kind) if kind else None)
        built = build_report(store_paths(paths), out_dir, options, log=lambda message: err.print(Text(clean(message)), soft_wrap=True))
    except RedundancyError as exc:
        raise fail(exc) from None
    except OSError as exc:  # a full disk, a read-only folder, --out naming a file
        err.print(Text("error: ", style="bold red") + as_text(f"cannot write the report to {out_dir}: {exc.strerror or exc}"
                                                         + (f" ({exc.filename})" if exc.filename else "")))
        raise typer.Exit(code=1) from None
    for problem in built.problems:
        err.print(Text("warning: ", style="bold yellow") + Text(clean(problem)), soft_wrap=True)
    err.print(as_text(f"{len(built.figures)} figures from {len(built.sources)} store(s) -> {built.index} and {built.markdown}"))
    if built.problems:
        raise typer.Exit(code=1)


@app.command()
def gc(
    store: Annotated[Path, typer.Argument(metavar="STORE", help="store folder, e.g. store/quickstart")],
    delete: Annotated[bool, typer.Option("--delete", help="free the space of stale stages: list them, and delete them once confirmed")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="with --delete: confirm without asking")] = False,
) -> None:
    """Move stages that the store's current plan no longer names into stages/stale/ (nothing is deleted);
    with --delete, list the stale stage files and delete them after confirmation."""
    from redundancy.store import Store
    from redundancy.store.gc import collect_stale, delete_stale, stale_files

    log = lambda message: err.print(Text(clean(message)), soft_wrap=True)  # noqa: E731
    target = Store(store)
    if not delete:
        try:
            moved = collect_stale(target, log=log)
        except RedundancyError as exc:
            raise fail(exc) from None
        err.print(as_text(f"{len(moved)} stale stage(s) moved aside" + (f" to {moved[0].parent}" if moved else "")))
        return
    try:
        remove, keep = stale_files(target)
    except RedundancyError as exc:
        raise fail(exc) from None
    for path, why in keep:
        log(f"keep    {path}: {why}; gc deletes only stage files it wrote")
    for path, size in remove:
        log(f"stale   {path} ({size / 2**20:.1f} MiB)")
    total = sum(size for _, size in remove)
    if not remove:
        err.print("no stale stage file to delete")
        return
    what = f"{len(remove)} stale stage file(s), {total / 2**20:.1f} MiB"
    if not yes:
        if not sys.stdin.isatty():
            err.print(as_text(f"dry run: {what} would be deleted; nothing was. Confirm with --yes."))
            return
        if not typer.confirm(f"delete {what}?", default=False, err=True):
            err.print("nothing deleted")
            return
    try:
        freed = delete_stale(target, [p for p, _ in remove], log=log)
    except RedundancyError as exc:
        raise fail(exc) from None
    err.print(as_text(f"deleted {what}: {freed / 2**20:.1f} MiB freed"))
