"""Checks that need the registries: names, plugin options, dataset sizes, imported checkpoints; and notes.

Each check returns ``(field paths, message)`` pairs for a run, or problems located in the
file for the raw data; the resolver reports a run's problems at the grid value that caused them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from redundancy.errors import Problem, RedundancyError
from redundancy.registry import Lookups
from redundancy.spec.loader.located import Loc, Located, pydantic_problems
from redundancy.spec.schema import ResolvedRun, StudyConfig


def registries() -> tuple[Lookups[Any], Lookups[Any]]:
    """The dataset and model registries, each name's answer remembered for one pass over a spec."""
    from redundancy.data import DATASETS
    from redundancy.models import MODELS

    return DATASETS.lookups(), MODELS.lookups()


def check_names(where: Located, data: dict[str, Any], section: str, field_name: str, registry: Lookups[Any]) -> list[Problem]:
    value = data.get(section, {}).get(field_name) if isinstance(data.get(section), dict) else None
    if isinstance(value, str):
        why = registry.problem(value)
        if why is not None:
            return [where.problem((section, field_name), why)]
    return []


#: Fields the loader fills in from plugins and files; a spec that writes them is wrong.
_DERIVED = {("model", "plugin"): "the model plugin's version", ("data", "plugin"): "the dataset plugin's version", ("train", "checkpoint_sha256"): "the SHA-256 of the from_checkpoints files"}


def _needs_init(kind: str) -> bool:
    """The kind reads the initialization (iteration 0) of the run (its package's entry says so)."""
    from redundancy.studies import BUILTIN

    return kind in BUILTIN and BUILTIN[kind].reads_init


def _retrains(kind: str) -> bool:
    """The kind trains networks again (a pruning study also does when it fine-tunes)."""
    from redundancy.studies import BUILTIN

    return kind in BUILTIN and BUILTIN[kind].retrains


def plugin_problems(where: Located, data: dict[str, Any], registries: tuple[Lookups[Any], Lookups[Any]]) -> list[Problem]:
    """Fields only the loader sets, options of built-ins, options a plugin's schema refuses, imports without files."""
    from redundancy.plugins import options_model

    problems: list[Problem] = []
    for (section, name), what in _DERIVED.items():
        sec = data.get(section)
        if isinstance(sec, dict) and name in sec:
            problems.append(where.problem((section, name), f"{section}.{name} is set by redundancy ({what}); remove it from the spec", at_key=True))
    split = data.get("data", {}).get("split") if isinstance(data.get("data"), dict) else None
    if isinstance(split, dict) and "sha256" in split:
        problems.append(where.problem(("data", "split", "sha256"), "data.split.sha256 is set by redundancy (the SHA-256 of the split files); remove it from the spec", at_key=True))
    for section, registry in zip(("data", "model"), registries):
        sec = data.get(section)
        if not isinstance(sec, dict) or not isinstance(sec.get("name", ""), str):
            continue
        name = sec.get("name") or ("mnist-5k" if section == "data" else "lenet_300_100")
        options = sec.get("options")
        if options is None or registry.problem(name) is not None:
            continue
        entry = registry[name]
        if entry.plugin is None:
            if options:
                problems.append(where.problem((section, "options"), f"options are passed to {section} plugins; {registry.what} {name!r} is built in"))
            continue
        schema = options_model(entry.plugin)
        if schema is not None and isinstance(options, dict):
            try:
                schema.model_validate(options)
            except ValidationError as exc:
                problems += pydantic_problems(where, exc, schema, (section, "options"))
    train = data.get("train")
    if isinstance(train, dict) and not train.get("from_checkpoints"):
        for key in ("keys", "best_iteration", "data_contract"):
            if train.get(key) is not None:
                problems.append(where.problem(("train", key), f"train.{key} applies to imported runs; set train.from_checkpoints too", at_key=True))
    return problems


def _uses_best(value: Any, loc: Loc = ()) -> list[Loc]:
    """Field paths in a study config (dumped) whose value is the checkpoint name ``best``."""
    if isinstance(value, str):
        return [loc] if value == "best" else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _uses_best(v, loc + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _uses_best(v, loc + (i,))]
    return []


def import_checks(run: ResolvedRun, studies: list[tuple[int, StudyConfig]], shape: Any, classes: int) -> list[tuple[list[Loc], str]]:
    """Problems of a run that imports its checkpoints: files, keys and shapes, best and init references."""
    from redundancy.checkpoints import check_files

    out: list[tuple[list[Loc], str]] = []
    files = run.train.from_checkpoints or {}
    for it, message in check_files(run, tuple(shape), classes):
        out.append(([("train", "from_checkpoints", it), ("train", "from_checkpoints")], message))
    best = run.train.best_iteration
    if best is not None and best not in files:
        out.append(([("train", "best_iteration")], f"best_iteration {best} is not an imported iteration (from_checkpoints has {sorted(files)})"))
    for i, study in studies:
        if best is None:
            for sub in _uses_best(study.model_dump(mode="json", exclude={"name"})):
                out.append(([("studies", i) + sub, ("studies", i)], f"{study.kind} uses checkpoint 'best', but the run imports its checkpoints without train.best_iteration; set it, or name final or an iteration (pruning's checkpoint is best unless set)"))
        if _needs_init(study.kind) and 0 not in files:
            out.append(([("studies", i, "kind"), ("studies", i)], f"{study.kind} needs the initialization, iteration 0; train.from_checkpoints has no file for it (it has {sorted(files)})"))
    return out


def retrain_note(run: ResolvedRun, studies: list[tuple[int, StudyConfig]], given: set[str]) -> str | None:
    """What the studies that train again use for training, and which values are the model's defaults."""
    kinds = [s.kind for _, s in studies if _retrains(s.kind) or getattr(s, "finetune", None) is not None]
    if not kinds:
        return None
    fields = ("optimizer", "lr", "momentum", "batch_size", "iterations", "lr_milestones")
    values = ", ".join(f"{f} {getattr(run.train, f)}" for f in fields)
    defaults = [f for f in fields if f not in given]
    note = f" (model {run.model.name!r} defaults: {', '.join(defaults)})" if defaults else ""
    return f"the run imports its checkpoints; studies that train again ({', '.join(dict.fromkeys(kinds))}) train with {values}{note}"


def _contract_checks(run: ResolvedRun, entry: Any, shape: Any) -> list[tuple[list[Loc], str]]:
    """A declared split and preprocessing: on an image dataset, with as many values as channels, agreeing with data_contract."""
    out: list[tuple[list[Loc], str]] = []
    data, contract = run.data, run.train.data_contract
    for name in ("preprocess", "split"):
        if getattr(data, name) is not None and not entry.images:
            out.append(([("data", name), ("data",)], f"data.{name} applies to image datasets (mnist, fashion-mnist, cifar10, mnist-5k); {data.name!r} is not one"))
    if data.preprocess is not None and entry.images:
        for name in ("mean", "std"):
            value = getattr(data.preprocess, name)
            if isinstance(value, list) and len(value) != shape[0]:
                out.append(([("data", "preprocess", name), ("data", "preprocess")], f"data.preprocess.{name} has {len(value)} values; {data.name} images have {shape[0]} channels"))
    if contract == "declared" and data.split is None:
        out.append(([("train", "data_contract"), ("data",)], "train.data_contract is 'declared' but the data section declares no split; set data.split"))
    if contract == "redundancy" and (data.split is not None or data.preprocess is not None):
        out.append(([("train", "data_contract"), ("data",)], "train.data_contract is 'redundancy' but the data section declares its own split or preprocessing; use 'declared'"))
    return out


def run_checks(run: ResolvedRun, datasets: Lookups[Any], models: Lookups[Any]) -> list[tuple[list[Loc], str]]:
    """Problems of one resolved run that need the registries (dataset sizes, model input)."""
    from redundancy.data import validation_count
    from redundancy.data.contract import split_rows

    out: list[tuple[list[Loc], str]] = []
    if run.data.name not in datasets or run.model.name not in models:
        for section, name, registry in (("data", run.data.name, datasets), ("model", run.model.name, models)):
            if name not in registry:
                out.append(([(section, "name"), (section,)], f"unknown {'dataset' if section == 'data' else 'model'} {name!r} (expected one of: {', '.join(registry)})"))
        return out
    entry = datasets[run.data.name]
    try:
        pool, test = entry.sizes(run.data)
        shape, _ = entry.shape(run.data)
    except RedundancyError as exc:  # a dataset plugin that fails or returns the wrong thing
        return [([("data", "name"), ("data",)], str(exc))]
    out += _contract_checks(run, entry, shape)
    if run.data.split is not None and not out:
        try:
            train, test = split_rows(pool + test, run.data.split)
        except RedundancyError as exc:
            return out + [([("data", "split"), ("data",)], str(exc))]
        pool, test = len(train), len(test)
    try:
        held = validation_count(pool, run.train.validation)
    except Exception as exc:  # DataError: a split that does not fit the pool
        out.append(([("train", "validation"), ("data",)], f"{exc} ({run.data.name})"))
        held = None
    if held is not None and not entry.generated and run.data.train_samples is not None and run.data.train_samples > pool - held:
        out.append(([("data", "train_samples"), ("data",)], f"{run.data.name} has {pool - held} training samples after holding out {held} for validation; found train_samples {run.data.train_samples}"))
    if not entry.generated and run.data.test_samples is not None and run.data.test_samples > test:
        out.append(([("data", "test_samples"), ("data",)], f"{run.data.name} has {test} test samples; found test_samples {run.data.test_samples}"))
    if run.model.widths is not None and run.model.name != "mlp":
        out.append(([("model", "widths"), ("model",)], f"'widths' applies to model 'mlp' only; found model {run.model.name!r}"))
    if models[run.model.name].plugin is None and models[run.model.name].needs_images and len(shape) != 3:
        out.append(([("model", "name"), ("data", "name")], f"model {run.model.name!r} needs image data (C, H, W); dataset {run.data.name!r} gives shape {tuple(shape)}"))
    return out


def run_notes(run: ResolvedRun, datasets: Any, raw_validation: Any) -> list[tuple[list[Loc], str]]:
    """What a valid run does that may not be what its spec meant: warnings, not errors."""
    from redundancy.data import validation_count

    notes: list[tuple[list[Loc], str]] = []
    train = run.train
    if isinstance(raw_validation, float) and raw_validation >= 1 and raw_validation == train.validation:
        notes.append(([("train", "validation")], f"validation {raw_validation!r} is read as a count: {int(raw_validation)} sample(s) held out for validation, "
                                                  "not a fraction; write a value below 1 for a fraction, or a whole number for a count"))
    if isinstance(train.checkpoints, list):
        past = sorted(i for i in train.checkpoints if i > train.iterations)
        if past:
            notes.append(([("train", "checkpoints"), ("train", "iterations")], f"checkpoint iteration(s) {past[:5]} are past the last iteration {train.iterations:,} and are not kept"))
    if train.from_checkpoints:
        return notes  # no training: batch sizes do not apply
    entry = datasets[run.data.name]
    try:
        pool, _ = entry.sizes(run.data)
        samples = pool - validation_count(pool, train.validation)
    except Exception:  # reported as an error by the checks
        return notes
    if run.data.train_samples is not None and not entry.generated:
        samples = min(samples, run.data.train_samples)
    if train.batch_size > samples:
        notes.append(([("train", "batch_size")], f"batch size {train.batch_size:,} is larger than the {samples:,} training samples; every step uses all of them (full-batch training)"))
    return notes
