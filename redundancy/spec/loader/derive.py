"""What the loader derives into a run: plugin identities, absolute checkpoint and split files, their SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redundancy.spec.loader.located import Loc


def derive(values: dict[str, Any], spec_dir: Path, datasets: Any, models: Any) -> list[tuple[list[Loc], str]]:
    """Fill what the loader derives into a run's raw ``values``: plugin identities, the checkpoint
    files' absolute paths (relative ones are relative to the spec's folder) and their SHA-256."""
    from redundancy.checkpoints import file_digests

    problems: list[tuple[list[Loc], str]] = []
    for section, registry in (("data", datasets), ("model", models)):
        sec = values.get(section)
        if isinstance(sec, dict):
            sec["plugin"] = None
            name = sec.get("name")
            if isinstance(name, str) and registry.problem(name) is None and registry[name].plugin is not None:
                sec["plugin"] = registry[name].plugin.identity
    problems += _derive_split(values.get("data"), spec_dir)
    train = values.get("train")
    files = train.get("from_checkpoints") if isinstance(train, dict) else None
    if isinstance(train, dict):
        train["checkpoint_sha256"] = None
    if isinstance(files, dict) and files:
        resolved: dict[Any, str] = {}
        for it, path in files.items():
            if not isinstance(path, str):
                continue  # the schema reports it
            p = Path(path).expanduser()
            p = p if p.is_absolute() else (spec_dir / p)
            if not p.is_file():
                problems.append(([("train", "from_checkpoints", it), ("train", "from_checkpoints")], f"no checkpoint file {path!r} (looked for {p})"))
            resolved[it] = str(p.resolve()) if p.exists() else str(p)
        train["from_checkpoints"] = resolved
        if not problems:
            try:
                train["checkpoint_sha256"] = file_digests({int(it): p for it, p in resolved.items()})
            except (OSError, ValueError) as exc:
                problems.append(([("train", "from_checkpoints")], f"cannot read the checkpoint files: {exc}"))
    return problems


def _derive_split(data: Any, spec_dir: Path) -> list[tuple[list[Loc], str]]:
    """``data.split``'s files made absolute (relative ones are relative to the spec's folder) with their SHA-256."""
    from redundancy.data import file_sha256

    split = data.get("split") if isinstance(data, dict) else None
    if not isinstance(split, dict):
        return []
    split["sha256"] = None
    problems: list[tuple[list[Loc], str]] = []
    found: dict[str, Path] = {}
    for name in ("train", "test"):
        path = split.get(name)
        if not isinstance(path, str):
            continue  # the schema reports it
        p = Path(path).expanduser()
        p = p if p.is_absolute() else spec_dir / p
        if not p.is_file():
            problems.append(([("data", "split", name), ("data", "split")], f"no split file {path!r} (looked for {p})"))
            continue
        split[name] = str(p.resolve())
        found[name] = p
    if not problems and found:
        try:
            split["sha256"] = {name: file_sha256(p) for name, p in found.items()}
        except OSError as exc:
            return [([("data", "split")], f"cannot read the split files: {exc}")]
    return problems
