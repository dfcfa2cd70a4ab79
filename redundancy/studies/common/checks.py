"""The checks every study makes of its layers and checkpoints, with one message each.

Each takes the config's field value (one item or a list), the field's name and
the :class:`~redundancy.spec.schema.SpecInfo` of the run, and returns
``[(field path, message)]`` as a kind's ``check`` does.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from redundancy.studies.common.refs import loc

Problems = list[tuple[Sequence[str | int], str]]


def unknown_layer(name: str, known: Sequence[str]) -> str:
    """The one message for a layer the model does not have."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown layer {name!r}{hint} (this model has: {', '.join(known)})"


def check_layers(value: Any, field: str, info: Any, *, hidden: bool = False) -> Problems:
    """Every named layer exists (and, with ``hidden``, is not the output layer); none is named twice."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    problems: Problems = []
    for i, name in enumerate(items):
        if name not in info.layers:
            problems.append((loc(value, field, i), unknown_layer(name, list(info.layers))))
        elif hidden and info.layers[name].is_output:
            inner = [n for n, layer in info.layers.items() if not layer.is_output]
            problems.append((loc(value, field, i), f"{name} is the output layer: its units are the classes (hidden layers: {', '.join(inner)})"))
    if len(set(items)) != len(items):
        problems.append(((field,), "a layer is listed twice"))
    return problems


def missing_checkpoint(iteration: int, info: Any) -> str:
    """The one message for an iteration the run does not keep."""
    return f"the run keeps no checkpoint at iteration {iteration} (it keeps {info.checkpoints}, plus best); add it to train.checkpoints or use final/best"


def check_checkpoints(value: Any, field: str, info: Any) -> Problems:
    """Every iteration named (``final`` and ``best`` always exist) is one the run keeps."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [(loc(value, field, i), missing_checkpoint(ref, info)) for i, ref in enumerate(items) if isinstance(ref, int) and ref not in info.checkpoints]
