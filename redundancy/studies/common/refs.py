"""How a study's config names layers and checkpoints.

A checkpoint is ``final`` (the last iteration), ``best`` (minimum validation
loss) or a stored iteration; a layer is the model's name for it (``fc1``,
``conv2``). Fields that take one value or a list (``layer: fc1`` or
``layer: [fc1, fc2]``) are read with :func:`listed`, and a problem with one of
their items is located with :func:`loc`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

CheckpointRef = Literal["final", "best"] | Annotated[int, Field(ge=0)]
LayerRef = str


def listed(value: Any) -> list[Any]:
    """A field that takes one value or a list, as a list without repeats (order kept); None is no item."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(items))


def loc(value: Any, field: str, index: int) -> tuple[str | int, ...]:
    """Where item ``index`` of a one-or-list field is: ``(field, index)`` for a list, ``(field,)`` for one value."""
    return (field, index) if isinstance(value, list) else (field,)
