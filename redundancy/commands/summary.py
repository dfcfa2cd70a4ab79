"""The tables ``show`` and ``run`` print for a store: its runs, each study's summary, a grid's
mean ± std by point, arms compared across networks, and what each number means."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from redundancy.commands.base import PIPE_WIDTH, as_text, rich_table, table_console
from redundancy.present.format import fmt
from redundancy.store.document import Document


def headline_of(rec: Any) -> str:
    """A finished stage's first numbers, for ``ls``: a run's test accuracy, a study's first two headline numbers."""
    from redundancy.grid import flatten_numbers, headline_numbers
    from redundancy.store import layout as L

    if not rec.done:
        return ""
    if rec.stage_kind == L.KIND_TRAIN:
        acc = rec.attrs.get(L.A_TEST_ACCURACY)
        return f"test acc {acc:.4f}" if isinstance(acc, (int, float)) else ""
    # From the attributes the listing read (verifying every stage's content is --verify's to ask for).
    summary = rec.json(L.A_SUMMARY, {}) if L.A_SUMMARY in rec.attrs else {}
    summary = summary if isinstance(summary, dict) else {}
    numbers = [(k, v) for k, v in headline_numbers(str(rec.study_kind), summary).items() if v is not None]
    numbers = numbers or [(k, v) for k, v in flatten_numbers(summary).items() if v is not None]
    return "; ".join(f"{k} {fmt(v)}" for k, v in numbers[:2])


def summary_tables(title: str, summary: dict[str, Any], width: int | None = None) -> list[Table]:
    """A summary dict as tables (:func:`redundancy.present.tables.summary_tables`): nested dicts
    become rows and their keys columns, or the transpose when that is what fits ``width`` columns
    without cutting names; rows of another shape make a table of their own."""
    from redundancy.present.tables import summary_tables as build

    return [rich_table(t) for t in build(summary, title, width=width or PIPE_WIDTH, fold_prefix=True)]


def _runs_table(doc: Document) -> Table:
    from redundancy.store import layout as L

    runs = Table(title=as_text(f"runs in {doc.store}"), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("run", "model", "data", "seed", "status", "iters", "best", "test acc", "acc@best"):
        if col == "run":  # the run's name is what a reader looks for: it keeps up to 30 columns
            runs.add_column(col, overflow="fold", min_width=min(30, max([3, *(len(r.name) for r in doc.runs)])))
        elif col in ("model", "data"):  # names fold onto a second line when the terminal is narrow
            runs.add_column(col, overflow="fold", min_width=len(col))
        else:
            runs.add_column(col, no_wrap=True)
    for r in doc.runs:
        cells = (r.name, r.model, r.dataset, r.seed, r.status, r.value(L.A_ITERATIONS), r.value(L.A_BEST_ITERATION),
                 r.test_accuracy, r.value(L.A_TEST_ACCURACY_AT_BEST))
        runs.add_row(*(as_text(fmt(c)) for c in cells))
    return runs


def _print_studies(doc: Document, console: Console, shown: dict[str, list[str]], *, each: bool) -> None:
    """Each study's summary tables (``each``), or a line for a study that is not done."""
    from redundancy.present.format import weights_label
    from redundancy.present.tables import summary_columns, summary_rows

    room = None if console.width >= PIPE_WIDTH else console.width
    runs_by_id = doc.runs_by_id()
    for st in doc.studies:
        if st.summary and each:
            run = runs_by_id.get(str(st.run_id)) if st.run_id is not None else None
            weights = weights_label(st.config, run.fields if run is not None else {})
            title = f"{st.kind} {st.label}" + (f" · weights {weights}" if weights else "")
            for table in summary_tables(title, st.summary, room):
                console.print(table)
            rows, scalars = summary_rows(st.summary)
            shown.setdefault(st.kind, []).extend([*summary_columns(rows), *scalars])
        elif not st.done:
            console.print(as_text(f"{st.kind} {st.label}: {st.status} {st.error}"))


def print_summary(
    doc: Document, *, studies: bool = False, console: Console | None = None, explain: bool = False, per_run: bool = True
) -> None:
    from redundancy.grid import grid_runs_table, summarize_grid
    from redundancy.present.tables import grid_table_data
    from redundancy.replicates import comparison_table_data, network_comparisons

    console = console or table_console(None)
    shown: dict[str, list[str]] = {"train": ["iters", "best", "test acc", "acc@best"]}  # kind -> metrics printed
    console.print(_runs_table(doc))
    unseen = [r.name for r in doc.runs if r.data_contract == "unknown"]
    if unseen:  # honest conclusions: say it wherever the accuracy is shown
        console.print(as_text(f"note: {', '.join(unseen)}: imported checkpoints whose spec declares no data contract; their test "
                         "accuracy may count samples they trained on (declare data.split, or train.data_contract)"), soft_wrap=True)
    grid = summarize_grid(doc)
    _print_studies(doc, console, shown, each=studies or not grid.axes)  # a grid's studies are summarized by grid point below
    for data, t in zip(grid_table_data(grid), [t for t in grid.tables if t.rows]) if grid.axes else []:
        console.print(rich_table(data, fold_numbers=False))
        shown.setdefault(t.kind, []).extend(t.metrics)
        each = grid_runs_table(doc, t, transposed=data.transposed) if per_run else None
        if each is not None:  # the runs the mean ± std above averages, each with its own numbers
            console.print(rich_table(each))  # plain numbers: run names fold rather than end in an ellipsis
    for comparison in network_comparisons(doc):
        for data in comparison_table_data(comparison):
            console.print(rich_table(data))
    if explain:
        _print_glossary(shown, console)
    if doc.stale:
        console.print(as_text(f"{len(doc.stale)} stale stage(s), left by earlier versions of the spec (redundancy gc STORE moves them aside): "
                         + ", ".join(s.id for s in doc.stale)), soft_wrap=True)


def _print_glossary(shown: dict[str, list[str]], console: Console) -> None:
    """Every metric the tables above printed, defined with its unit, by kind."""
    from redundancy.present.glossary import glossary

    table = Table(title="what the numbers mean", box=box.SIMPLE_HEAD, pad_edge=False, show_lines=False)
    table.add_column("kind", no_wrap=True)
    table.add_column("metric", overflow="fold")
    table.add_column("meaning [unit]", overflow="fold", ratio=1)
    for kind, keys in shown.items():
        for name, text in glossary(kind, keys):
            table.add_row(as_text(kind), as_text(name), as_text(text))
    console.print(table)

