"""``redundancy run`` and ``redundancy validate``: specs checked, planned and run into their stores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from redundancy.commands.base import DRY_RUN_TABLE_ROWS, app, as_text, err, fail, out, print_plain, table_console, warn
from redundancy.commands.summary import print_summary
from redundancy.errors import Problem, RedundancyError, SpecError, StoreBusy
from redundancy.present.text import clean


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
        warn(resolved.warnings)
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
            print_plain(title, ("stage", "kind", "name", "status"), rows)
            return 0
        table = Table(title=as_text(title))
        for col in ("stage", "kind", "name", "status"):
            table.add_column(col)
        for row in rows:
            table.add_row(*(as_text(c) for c in row))
        table_console(None).print(table)
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
        return fail(StoreBusy(f"{exc} (or leave out --no-wait to wait for it)")).exit_code
    except RedundancyError as exc:
        return fail(exc).exit_code
    except KeyboardInterrupt:
        err.print("interrupted; finished stages are stored and the next run resumes from them", style="yellow")
        raise typer.Exit(code=130) from None

    from redundancy.store.document import load_document

    print_summary(load_document(target.root, curves=False))
    err.print(
        as_text(
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
        warn(resolved.warnings + preflight(resolved, data_root=data_root))
        plan = make_plan(resolved)
        out.print(
            Text(clean(f"{resolved.file}: ok — {len(plan.runs)} run(s), {len(plan.studies)} study stage(s), store store/{resolved.spec.name}")),
            soft_wrap=True,
        )
    if problems:
        raise SpecError(problems)

