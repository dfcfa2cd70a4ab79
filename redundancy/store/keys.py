"""How a study names what it stores: ``<layer>@<checkpoint>`` and the paths of its tensors.

The one place such a name is built or read back. A study addresses its tensors
by typed parts (a layer, a checkpoint as the spec names it, then the names of
the groups below), and readers get the parts back, never a string to split:

>>> layer_at("fc1", "best")
'fc1@best'
>>> split_layer_at("fc1@best")
('fc1', 'best')
>>> tensor_path(LayerAt("fc1", "best"), "magnitude", "smallest", "accuracy")
'fc1@best/magnitude/smallest/accuracy'

Plain Python: no torch, no numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Between a layer and the checkpoint it was read at.
AT = "@"
#: Between the groups of a tensor's path inside a stage file's ``results/``.
SEP = "/"


@dataclass(frozen=True)
class LayerAt:
    """A layer read at a checkpoint (``"best"``, ``"final"`` or an iteration)."""

    layer: str
    checkpoint: Any

    def __str__(self) -> str:
        return layer_at(self.layer, self.checkpoint)


def checkpoint_ref(text: Any) -> Any:
    """``"best"``, ``"final"`` or an iteration: a checkpoint as the spec names it (digits become an int)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    s = str(text).strip()
    s = s.split(" ", 1)[0]  # "best (iteration 500)" -> "best"
    return int(s) if s.isdigit() else s


def layer_at(layer: str, checkpoint: Any) -> str:
    """``"fc1@best"``: a layer at a checkpoint, as summaries, labels and tensor groups name it."""
    return f"{layer}{AT}{checkpoint}"


def split_layer_at(text: str) -> tuple[str, Any]:
    """``("fc1", "best")`` from ``"fc1@best"`` (split at the last ``@``); no ``@``: (text, None)."""
    layer, at, ref = str(text).rpartition(AT)
    if not at:
        return str(text), None
    return layer, checkpoint_ref(ref)


def is_layer_at(text: str) -> bool:
    """True for ``"fc1@final"`` (a layer at a checkpoint); False for ``"acc@75%"`` (an accuracy at a level)."""
    return AT in text and not text.endswith("%")


def split_label(text: str) -> tuple[str, str]:
    """``("fc1", "final")`` from a summary label ``"fc1@final"``, both as text (split at the first ``@``)."""
    layer, _, at = str(text).partition(AT)
    return layer, at


def tensor_path(*parts: Any) -> str:
    """A tensor's path below ``results/``: its parts joined (a :class:`LayerAt` as ``fc1@best``)."""
    return SEP.join(str(p) for p in parts)


def split_tensor_path(path: str) -> tuple[str, ...]:
    """The parts of a tensor's path, in order."""
    return tuple(path.split(SEP))


def criterion_key(name: str, direction: str | None) -> str:
    """``"magnitude:smallest"``, or ``"random"`` for a criterion without a direction."""
    return name if direction is None else f"{name}:{direction}"


def split_criterion(text: str) -> tuple[str, str | None]:
    """``("magnitude", "smallest")`` from ``"magnitude:smallest"``; ``("random", None)`` from ``"random"``."""
    name, colon, direction = text.partition(":")
    return name, (direction if colon else None)


def at_checkpoint(name: str, checkpoint: Any) -> str:
    """``"magnitude_final@best"``: anything else read at a checkpoint (a selector, a measure), named like a layer."""
    return layer_at(name, checkpoint)


def split_at_checkpoint(text: str) -> tuple[str, Any]:
    """``("magnitude_final", "best")`` from ``"magnitude_final@best"``; no ``@``: (text, None)."""
    return split_layer_at(text)


def panel_row(at: Any, name: str) -> str:
    """``"fc1@best magnitude:smallest"``: a summary row of one panel (a layer at a checkpoint) among several."""
    return f"{at} {name}"


def split_panel_row(text: str) -> tuple[str, str]:
    """``("fc1@best", "magnitude:smallest")`` from a panel's summary row (split at the first space)."""
    at, _, name = str(text).partition(" ")
    return at, name


def target_row(at: Any, target: str) -> str:
    """``"fc1@final:update"``: a layer at a checkpoint with what of it a row measures (subspace's rows)."""
    return f"{at}:{target}"


def split_target_row(text: str) -> tuple[str, Any, str | None]:
    """``("fc1", "final", "update")`` from ``"fc1@final:update"`` (no ``:``: the target is None)."""
    at, colon, target = str(text).rpartition(":")
    if not colon:
        at, target = str(text), None
    layer, ref = split_layer_at(at)
    return layer, ref, target


def row_part(row: str, part: str) -> str:
    """``"fc1@final:update/top"``: one part of a row (a basis), as summaries name it."""
    return f"{row}{SEP}{part}"


def split_row_part(text: str) -> tuple[str, str | None]:
    """``("fc1@final:update", "top")`` from ``"fc1@final:update/top"`` (split at the last ``/``; none: None)."""
    row, slash, part = str(text).rpartition(SEP)
    return (row, part) if slash else (str(text), None)
