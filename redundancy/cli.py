"""The ``redundancy`` command line: a thin layer over the engine, the store and the summaries.

Every error the user can cause is one message and a non-zero exit (2 for a bad
spec), never a traceback. Anything unexpected becomes one line and exit 1 too;
``--debug`` shows its traceback.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from redundancy.errors import Problem, RedundancyError, SpecError, StoreBusy
from redundancy.present.format import fmt
from redundancy.present.text import clean

DEBUG_HINT = "run with --debug for the traceback"


# What the command-line library raises on purpose (exits, usage errors): passed through as they are.
_EXPECTED: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    KeyboardInterrupt,
    SystemExit,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


class _Group(TyperGroup):
    """The command group: turns an unexpected exception in any command into one line and exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _EXPECTED:
            raise
        except RedundancyError as exc:
            raise _fail(exc) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            err.print(Text("error: ", style="bold red") + Text(clean(f"{type(exc).__name__}: {reason} ({DEBUG_HINT})")), soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="redundancy",
    cls=_Group,
    help="Declarative, reproducible studies of where redundancy lives in trained neural networks.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags print as flags, not as "--force <bool>"
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Lines are never broken at a width: on a terminal the terminal wraps them, and piped output (a log,
# --quiet lines read by a program) keeps one message per line whatever the length.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
if not err.is_terminal:  # tables on stderr (a run's closing summary) are laid out unbounded too
    err = Console(stderr=True, soft_wrap=True, width=10_000)
_state: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from redundancy import __version__

        out.print(Text(f"redundancy {__version__}"))
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an unexpected error")] = False,
) -> None:
    """Declarative, reproducible studies of where redundancy lives in trained neural networks."""
    _state["debug"] = debug

# Piped output is read by programs and people with wide editors: lay tables out this wide, so no
# name is cut or wrapped to fit an 80-column terminal that is not there.
PIPE_WIDTH = 10_000
Width = Annotated[Optional[int], typer.Option("--width", min=20, help="lay tables out for N columns (default: the terminal's width; no limit when piped)")]


def _console(width: int | None) -> Console:
    """Where tables go: ``width`` columns when given, the terminal's width on a terminal, unlimited when piped."""
    if width is not None:
        return Console(width=width)
    if out.is_terminal:
        return out
    return Console(width=PIPE_WIDTH)


#: Above this many stages ``--dry-run`` prints plain aligned lines: laying out a Rich table measures
#: every cell, minutes for the 300,000 stages of a 100,000-point grid.
DRY_RUN_TABLE_ROWS = 2000


def _print_plain(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """``rows`` as lines of columns padded to the widest cell (the last column unpadded), text cleaned."""
    cells = [tuple(clean(c, one_line=True) for c in row) for row in rows]
    widths = [max([len(header[i]), *(len(r[i]) for r in cells)]) for i in range(len(header) - 1)]
    lines = [clean(title, one_line=True)]
    for row in [header, *cells]:
        lines.append("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _t(value: object, style: str = "") -> Text:
    """Store or spec text as a Rich ``Text``: never read as markup, control characters shown as escapes."""
    return Text(clean(value, one_line=True), style=style)


def _fail(exc: RedundancyError) -> typer.Exit:
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            err.print(Text("error: ", style="bold red") + Text(clean(problem)), soft_wrap=True)
        err.print(f"{len(exc.problems)} problem(s); nothing was run or written.", style="red")
    else:
        err.print(Text("error: ", style="bold red") + Text(clean(exc)), soft_wrap=True)
    return typer.Exit(code=exc.exit_code)


def _warn(problems: list[Problem]) -> None:
    for problem in problems:
        err.print(Text("warning: ", style="bold yellow") + Text(clean(problem)), soft_wrap=True)


def _print_contracts(resolved: Any) -> None:
    """The data contract each imported run is evaluated under: which samples it is tested on, preprocessed how."""
    from redundancy.data import get_dataset
    from redundancy.data.contract import describe
    from redundancy.spec.loader import run_label

    seen: set[str] = set()
    for point in resolved.points:
        run = point.run
        if not run.train.from_checkpoints or point.shared in seen:
            continue
        seen.add(point.shared)
        entry = get_dataset(run.data.name)
        where = f"{run_label(point.values)}: " if len(resolved.points) > 1 else ""
        err.print(Text(clean(where + describe(run, entry.sizes(run.data), entry.normalization))), soft_wrap=True)


DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _check_device(device: str) -> None:
    if not DEVICE.match(device):
        raise RedundancyError(f"--device {device!r} is not a device (expected auto, cpu, cuda or cuda:N)")


SpecPaths = Annotated[list[Path], typer.Argument(metavar="SPEC...", help="YAML spec file(s)")]
def _complete_set(incomplete: str) -> list[str]:
    """Shell completion of ``--set``: the spec's field paths, each ending in ``=``."""
    from redundancy.spec.schema import field_paths

    return [f"{path}=" for path in field_paths() if path.startswith(incomplete)]


Overrides = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set", metavar="PATH=VALUE", autocompletion=_complete_set,
        help="set a spec field as if written in the file, e.g. --set train.iterations=100 (repeatable; VALUE is YAML)",
    ),
]


def _load_all(paths: list[Path], overrides: list[str]) -> tuple[list[Any], list[Problem]]:
    """Every spec resolved, or every problem of every spec."""
    from redundancy.spec.loader import load_spec

    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append(load_spec(path, overrides))
        except SpecError as exc:
            problems += exc.problems
    return loaded, problems


@app.command()
def run(
    spec_paths: SpecPaths,
    store: Annotated[Optional[Path], typer.Option(help="store folder (default: store/<spec name>); with several specs, the folder holding one store per spec")] = None,
    set_: Overrides = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="recompute stages even when stored")] = False,
    refresh_env: Annotated[bool, typer.Option("--refresh-env", help="recompute stored stages computed under other library versions, BLAS or CPU capability")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan and exit")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="log lines instead of progress bars")] = False,
    data_root: Annotated[Optional[str], typer.Option(help="folder for torchvision datasets")] = None,
    executor: Annotated[Optional[str], typer.Option(help="local | ray | slurm (default: the spec's executor.kind, else local)")] = None,
    address: Annotated[Optional[str], typer.Option(help="ray: an existing cluster's address (default: start a local instance)")] = None,
    gpus_per_stage: Annotated[Optional[float], typer.Option(help="ray/slurm: GPUs per stage (fractions share a GPU on ray)")] = None,
    cpus_per_stage: Annotated[Optional[float], typer.Option(help="ray/slurm: CPU cores per stage")] = None,
    partition: Annotated[Optional[str], typer.Option(help="slurm: partition")] = None,
    time_limit: Annotated[Optional[str], typer.Option(help="slurm: time limit per stage, minutes or HH:MM:SS")] = None,
    max_retries: Annotated[Optional[int], typer.Option(help="re-runs of a stage whose worker died (default 3 on ray/slurm, 1 with local workers)")] = None,
    workers: Annotated[Optional[str], typer.Option(help="local: worker processes running stages side by side, N or auto (default: one per core for a grid on the CPU)")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="exit with code 3 if another run writes the store, instead of waiting")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="move the existing store aside to <store>.replaced-<time> and start anew")] = False,
) -> None:
    """Train the specs' runs and run their studies, writing everything to the stores.

    Every spec is checked before anything runs; the exit status is the worst of the specs'.
    """
    from redundancy.engine import make_plan
    from redundancy.engine.driver import default_store_root
    from redundancy.engine.executors import resolve_options, spec_executor_options
    from redundancy.spec.preflight import preflight
    from redundancy.store import Store

    _check_device(device)
    loaded, problems = _load_all(spec_paths, set_ or [])
    if problems:
        raise SpecError(problems)
    jobs = []
    targets: dict[Path, str] = {}
    for resolved in loaded:
        spec = resolved.spec
        root = default_store_root(spec.name, store) if len(loaded) == 1 else (store or Path("store")) / spec.name
        if root in targets:
            problems.append(Problem(resolved.file, None, None, "name", f"{targets[root]} writes the same store {root}; give the specs different names"))
        targets[root] = resolved.file
        options = resolve_options(
            spec_executor_options(spec.executor), kind=executor, address=address, gpus_per_stage=gpus_per_stage,
            cpus_per_stage=cpus_per_stage, partition=partition, time_limit=time_limit, max_retries=max_retries, workers=workers,
        )
        if options.kind == "local" and not dry_run:  # remote workers bring their own data and memory
            problems += preflight(resolved, device=device, data_root=data_root)
        _warn(resolved.warnings)
        _print_contracts(resolved)
        jobs.append((make_plan(resolved), Store(root), options))
    if problems:
        raise SpecError(problems)

    worst = 0
    for resolved, (plan, target, options) in zip(loaded, jobs):
        worst = max(
            worst,
            _run_plan(
                plan, target, options, spec_path=Path(resolved.file), device=device, force=force, refresh_env=refresh_env, dry_run=dry_run, quiet=quiet,
                data_root=data_root, no_wait=no_wait, replace=replace,
            ),
        )
    if worst:
        raise typer.Exit(code=worst)


def _run_plan(
    plan: Any, target: Any, options: Any, *, spec_path: Path, device: str, force: bool, refresh_env: bool, dry_run: bool,
    quiet: bool, data_root: str | None, no_wait: bool, replace: bool,
) -> int:
    """Run one plan into ``target``; its exit status (0 when every stage is stored)."""
    from redundancy.cli_progress import RunView
    from redundancy.engine.driver import describe_plan, drive
    from redundancy.engine.executors import make_executor
    from redundancy.store.writer import writer_session

    if dry_run:
        rows = describe_plan(plan, target)
        title = f"plan for {plan.spec.name} -> {target.root}"
        if len(rows) > DRY_RUN_TABLE_ROWS:
            _print_plain(title, ("stage", "kind", "name", "status"), rows)
            return 0
        table = Table(title=_t(title))
        for col in ("stage", "kind", "name", "status"):
            table.add_column(col)
        for row in rows:
            table.add_row(*(_t(c) for c in row))
        _console(None).print(table)
        return 0
    try:
        log = lambda message: err.print(Text(clean(message)), soft_wrap=True)  # noqa: E731
        resolved = plan.spec.model_dump(mode="json")
        runner = make_executor(options, spec_name=plan.spec.name)  # an executor that cannot start fails before the store is touched
        try:
            runner.device_type(device)
            with writer_session(target, spec_path=spec_path, resolved=resolved, wait=not no_wait, replace=replace, log=log):
                with RunView(err, quiet) as view:
                    report = drive(
                        plan, target, runner, device=device, force=force, refresh_env=refresh_env, data_root=data_root, on_event=view,
                    )
        finally:
            runner.close()
    except StoreBusy as exc:  # only --no-wait gets here: say how to wait instead
        return _fail(StoreBusy(f"{exc} (or leave out --no-wait to wait for it)")).exit_code
    except RedundancyError as exc:
        return _fail(exc).exit_code
    except KeyboardInterrupt:
        err.print("interrupted; finished stages are stored and the next run resumes from them", style="yellow")
        raise typer.Exit(code=130) from None

    from redundancy.store.reader import read_document

    _print_summary(read_document(target.root, curves=False))
    err.print(
        _t(
            f"{len(report.trained)} trained, {len(report.studied)} studies run, {len(report.cached)} cached, "
            f"{len(report.failed)} failed in {report.seconds:.1f} s -> {target.root}"
        )
    )
    return 1 if report.failed else 0


@app.command()
def validate(
    spec_paths: SpecPaths,
    set_: Overrides = None,
    data_root: Annotated[Optional[str], typer.Option(help="folder for torchvision datasets")] = None,
) -> None:
    """Check specs completely without running anything.

    Errors (exit 2): YAML syntax and bounds, control characters, unknown or misspelled fields,
    wrong types and ranges (integer fields have upper bounds), unknown datasets, models, layers
    and checkpoints, splits larger than the data, study names equal to another study's label,
    imported weights that are not finite floats, plugins that fail or exit on import.
    Warnings (exit 0): data not on disk and not downloadable here, runs too large for this
    machine's memory, grid points that are the same run, validation written as 1.0 (a count),
    batches larger than the training data, checkpoints past the last iteration.
    """
    from redundancy.engine import make_plan
    from redundancy.spec.preflight import preflight

    loaded, problems = _load_all(spec_paths, set_ or [])
    for resolved in loaded:
        _warn(resolved.warnings + preflight(resolved, data_root=data_root))
        plan = make_plan(resolved)
        out.print(
            Text(clean(f"{resolved.file}: ok — {len(plan.runs)} run(s), {len(plan.studies)} study stage(s), store store/{resolved.spec.name}")),
            soft_wrap=True,
        )
    if problems:
        raise SpecError(problems)


def _store_paths(paths: list[Path] | None) -> list[Path]:
    return paths or [Path("store")]


@app.command("ls")
def ls(
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="[STORE_OR_FOLDER]...", help="default: store/")] = None,
    width: Width = None,
    verify: Annotated[bool, typer.Option("--verify", help="also check every stage's content against its checksum (reads every dataset)")] = False,
) -> None:
    """List stores, their runs and studies, with status (from attributes alone, unless --verify)."""
    from redundancy.store import layout as L
    from redundancy.store.reader import complete, find_stores, read_store

    stores = find_stores(_store_paths(paths))
    if not stores:
        err.print(_t(f"no stores under {', '.join(map(str, _store_paths(paths)))}; fill one with: redundancy run specs/quickstart.yaml"))
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
            headline = rec.error if rec.error else _headline(rec)
            status = f"{rec.status} (stale)" if rec.stale else rec.status
            table.add_row(*(_t(c) for c in (root, rec.id, rec.kind, name, status, headline)))
        problems += reading.problems()
        if warning := reading.environment_warning():
            mixed.append(f"{root}: {warning}")
    _console(width).print(table)
    _print_warnings(mixed)
    _print_problems(problems)


def _print_warnings(lines: list[str]) -> None:
    """One line per thing a reader should know before trusting a store (its stages mix environments)."""
    for line in lines:
        err.print(Text("warning: ", style="bold yellow") + Text(clean(line)), soft_wrap=True)


def _headline(rec: Any) -> str:
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


def _print_problems(problems: list[str]) -> None:
    """One line per thing of a store that could not be read, then exit 1 when there was any."""
    for problem in problems:
        err.print(Text("error: ", style="bold red") + Text(clean(problem)), soft_wrap=True)
    if problems:
        raise typer.Exit(code=1)


def rich_table(data: Any, *, fold_numbers: bool = True) -> Table:
    """A :class:`redundancy.present.tables.TableData` as a Rich table: names fold onto a second line
    rather than end in an ellipsis; a ``mean ± std`` cell never breaks (``fold_numbers=False``, a
    grid's table, which keeps its frame)."""
    frame = dict(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True) if fold_numbers else {}
    table = Table(title=_t(data.title) if data.title else None, **frame)
    for i, col in enumerate(data.columns):
        if i == 0:
            table.add_column(_t(col), overflow="fold")
        elif fold_numbers:
            table.add_column(_t(col), justify="right", overflow="fold")
        else:
            table.add_column(_t(col), justify="right", no_wrap=True)
    for row in data.rows:
        table.add_row(*(_t(fmt(cell)) for cell in row))
    if data.caption:
        table.caption = _t(data.caption)
    return table


def summary_tables(title: str, summary: dict[str, Any], width: int | None = None) -> list[Table]:
    """A summary dict as tables (:func:`redundancy.present.tables.summary_tables`): nested dicts
    become rows and their keys columns, or the transpose when that is what fits ``width`` columns
    without cutting names; rows of another shape make a table of their own."""
    from redundancy.present.tables import summary_tables as build

    return [rich_table(t) for t in build(summary, title, width=width or PIPE_WIDTH, fold_prefix=True)]


def _print_summary(
    doc: dict[str, Any], *, studies: bool = False, console: Console | None = None, explain: bool = False, per_run: bool = True
) -> None:
    from redundancy.present.tables import summary_columns, summary_rows
    from redundancy.store import layout as L

    console = console or _console(None)
    shown: dict[str, list[str]] = {"train": ["iters", "best", "test acc", "acc@best"]}  # kind -> metrics printed
    room = None if console.width >= PIPE_WIDTH else console.width
    runs = Table(title=_t(f"runs in {doc['store']}"), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("run", "model", "data", "seed", "status", "iters", "best", "test acc", "acc@best"):
        if col == "run":  # the run's name is what a reader looks for: it keeps up to 30 columns
            runs.add_column(col, overflow="fold", min_width=min(30, max([3, *(len(str(r.get("name"))) for r in doc["runs"])])))
        elif col in ("model", "data"):  # names fold onto a second line when the terminal is narrow
            runs.add_column(col, overflow="fold", min_width=len(col))
        else:
            runs.add_column(col, no_wrap=True)
    for r in doc["runs"]:
        keys = ("name", L.A_MODEL, L.A_DATASET, L.A_SEED, "status", L.A_ITERATIONS, L.A_BEST_ITERATION, L.A_TEST_ACCURACY, L.A_TEST_ACCURACY_AT_BEST)
        runs.add_row(*(_t(fmt(r.get(k, ""))) for k in keys))
    console.print(runs)
    unseen = [str(r.get("name")) for r in doc["runs"] if r.get(L.A_DATA_CONTRACT) == "unknown"]
    if unseen:  # honest conclusions: say it wherever the accuracy is shown
        console.print(_t(f"note: {', '.join(unseen)}: imported checkpoints whose spec declares no data contract; their test "
                         "accuracy may count samples they trained on (declare data.split, or train.data_contract)"), soft_wrap=True)
    from redundancy.grid import grid_summary
    from redundancy.grid import grid_runs_table
    from redundancy.present.tables import grid_table_data

    from redundancy.present.format import weights_label

    grid = grid_summary(doc)
    runs_by_id = {r["id"]: r for r in doc["runs"]}
    for st in doc["studies"]:
        if st.get("summary") and (studies or not grid["axes"]):  # a grid's studies are summarized by grid point below
            weights = weights_label(st.get("config"), runs_by_id.get(st.get("run_id"), {}))
            title = f"{st['kind']} {st['run']}/{st['name']}" + (f" · weights {weights}" if weights else "")
            for table in summary_tables(title, st["summary"], room):
                console.print(table)
            rows, scalars = summary_rows(st["summary"])
            shown.setdefault(str(st["kind"]), []).extend([*summary_columns(rows), *scalars])
        elif st["status"] != "done":
            console.print(_t(f"{st['kind']} {st['run']}/{st['name']}: {st['status']} {st.get('error', '')}"))
    for data, t in zip(grid_table_data(grid), [t for t in grid["tables"] if t["rows"]]) if grid["axes"] else []:
        console.print(rich_table(data, fold_numbers=False))
        shown.setdefault(str(t["kind"]), []).extend(t["metrics"])
        each = grid_runs_table(doc, t, transposed=data.transposed) if per_run else None
        if each is not None:  # the runs the mean ± std above averages, each with its own numbers
            console.print(rich_table(each))  # plain numbers: run names fold rather than end in an ellipsis
    from redundancy.replicates import comparison_table_data
    from redundancy.replicates import network_comparisons

    for comparison in network_comparisons(doc):
        for data in comparison_table_data(comparison):
            console.print(rich_table(data))
    if explain:
        _print_glossary(shown, console)
    stale = doc.get("stale") or []
    if stale:
        console.print(_t(f"{len(stale)} stale stage(s), left by earlier versions of the spec (redundancy gc STORE moves them aside): "
                         + ", ".join(str(s["id"]) for s in stale)), soft_wrap=True)


def _print_glossary(shown: dict[str, list[str]], console: Console) -> None:
    """Every metric the tables above printed, defined with its unit, by kind."""
    from redundancy.present.glossary import glossary

    table = Table(title="what the numbers mean", box=box.SIMPLE_HEAD, pad_edge=False, show_lines=False)
    table.add_column("kind", no_wrap=True)
    table.add_column("metric", overflow="fold")
    table.add_column("meaning [unit]", overflow="fold", ratio=1)
    for kind, keys in shown.items():
        for name, text in glossary(kind, keys):
            table.add_row(_t(kind), _t(name), _t(text))
    console.print(table)


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
    from redundancy.store.reader import read_document, strict_json

    target = Store(store)
    if not target.exists():
        err.print(Text("error: ", style="bold red") + _t(f"{store}: not a store (no {L.INDEX} or {L.STAGES}/ folder)"))
        raise typer.Exit(code=1)
    doc = read_document(target.root, curves=as_json)
    if as_json:
        from redundancy.grid import grid_summary

        from redundancy.replicates import network_comparisons, to_plain

        doc["grid"] = grid_summary(doc)
        doc["comparisons"] = [to_plain(c) for c in network_comparisons(doc)]
        sys.stdout.write(strict_json(doc, indent=1) + "\n")
    else:
        _print_summary(doc, studies=studies, console=_console(width), explain=explain, per_run=runs)
    if doc["mixed_environments"]:
        from redundancy.store.environment import mixed_message

        _print_warnings([f"{target.root}: {mixed_message(doc['mixed_environments'])}"])
    _print_problems(doc["problems"])


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
        built = build_report(_store_paths(paths), out_dir, options, log=lambda message: err.print(Text(clean(message)), soft_wrap=True))
    except RedundancyError as exc:
        raise _fail(exc) from None
    except OSError as exc:  # a full disk, a read-only folder, --out naming a file
        err.print(Text("error: ", style="bold red") + _t(f"cannot write the report to {out_dir}: {exc.strerror or exc}"
                                                         + (f" ({exc.filename})" if exc.filename else "")))
        raise typer.Exit(code=1) from None
    for problem in built.problems:
        err.print(Text("warning: ", style="bold yellow") + Text(clean(problem)), soft_wrap=True)
    err.print(_t(f"{len(built.figures)} figures from {len(built.sources)} store(s) -> {built.index} and {built.markdown}"))
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
    from redundancy.store.writer import collect_stale, delete_stale, stale_files

    log = lambda message: err.print(Text(clean(message)), soft_wrap=True)  # noqa: E731
    target = Store(store)
    if not delete:
        try:
            moved = collect_stale(target, log=log)
        except RedundancyError as exc:
            raise _fail(exc) from None
        err.print(_t(f"{len(moved)} stale stage(s) moved aside" + (f" to {moved[0].parent}" if moved else "")))
        return
    try:
        remove, keep = stale_files(target)
    except RedundancyError as exc:
        raise _fail(exc) from None
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
            err.print(_t(f"dry run: {what} would be deleted; nothing was. Confirm with --yes."))
            return
        if not typer.confirm(f"delete {what}?", default=False, err=True):
            err.print("nothing deleted")
            return
    try:
        freed = delete_stale(target, [p for p, _ in remove], log=log)
    except RedundancyError as exc:
        raise _fail(exc) from None
    err.print(_t(f"deleted {what}: {freed / 2**20:.1f} MiB freed"))


@app.command()
def tui(
    paths: Annotated[Optional[list[Path]], typer.Argument(metavar="[STORE_OR_FOLDER]...", help="default: store/")] = None,
    poll: Annotated[float, typer.Option(help="seconds between checks for new stages (0: never)")] = 1.0,
    export_dir: Annotated[Optional[Path], typer.Option(help="folder for CSV exports (key e); default ~/redundancy-exports")] = None,
) -> None:
    """Browse stores in the terminal: tree, summary tables, plots, datasets, provenance, compare."""
    targets = _store_paths(paths)
    if not any(p.exists() for p in targets):
        err.print(_t(f"no stores under {', '.join(map(str, targets))}; fill one with: redundancy run specs/quickstart.yaml"))
        raise typer.Exit(code=1)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Without a terminal the app would draw escape codes into a pipe and wait for keys for ever.
        err.print(Text("error: ", style="bold red") + _t("tui needs a terminal (stdin and stdout are not one); for piped output use: redundancy show STORE, or redundancy report"))
        raise typer.Exit(code=1)
    from redundancy.store.bounds import read_limit
    from redundancy.tui import run_tui  # Textual loads only for this command

    read_limit()  # a bad REDUNDANCY_READ_LIMIT is one line here, not an error in a worker thread
    run_tui(targets, poll=poll, export_dir=export_dir)


_shown_warnings: set[str] = set()


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """A library's warning (torch, matplotlib, numpy) as one of the tool's own log lines, once per message.

    Python's default prints the warning's source line and file path, often several lines, into
    the middle of progress output; here it is ``warning: <library>: <first line>``, and
    ``--debug`` adds where it was raised.
    """
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    origin = Path(filename).parts
    library = next((p for p in ("torch", "matplotlib", "numpy", "scipy", "h5py", "textual", "sklearn") if p in origin), Path(filename).stem)
    line_text = f"{library}: {text}" + (f" ({category.__name__} at {filename}:{lineno})" if _state["debug"] else "")
    if line_text in _shown_warnings:
        return
    _shown_warnings.add(line_text)
    err.print(Text("warning: ", style="yellow") + Text(clean(line_text, one_line=True)), soft_wrap=True)


def main() -> None:
    import signal
    import warnings

    warnings.showwarning = _show_warning
    if hasattr(signal, "SIGXFSZ"):  # past a file size limit (ulimit -f) a write fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    app(prog_name="redundancy")


if __name__ == "__main__":
    main()
