"""One way to write values, one palette and one set of labels for the CLI, the TUI and the report.

No Rich, Textual or matplotlib here: each medium turns these strings and
colours into its own objects, so a number, a missing value or a criterion
looks the same in ``show``, in the browser and on the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from redundancy.store.keys import is_layer_at, split_label

MISSING = "—"  # a value that was not recorded or not reached
NOT_A_NUMBER = "n/a"  # a value that was computed and is NaN
YES, NO = "yes", "no"
LONG_LIST = 6  # longer lists are summarized as "[n values]"


def fmt(value: Any) -> str:
    """A value as short text: 4 significant digits, ``—`` for None, ``yes``/``no``, ``n/a`` for NaN,
    ``[a, b]`` for a short list and ``[n values]`` for a long one, ``k: v; k: v`` for a mapping."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # numpy's bool too
        return YES if value else NO
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        v = float(value)
        return NOT_A_NUMBER if math.isnan(v) else f"{v:.4g}"
    if isinstance(value, (list, tuple)):
        if len(value) > LONG_LIST:
            return f"[{len(value)} values]"
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    return str(value)


def mean_std(mean: float | None, std: float | None, *, missing: int = 0) -> str:
    """``0.912 ± 0.004`` on one line (the mean alone for one value); ``(k n/a)`` when k values were not numbers."""
    if mean is None:
        return NOT_A_NUMBER if missing else MISSING
    text = fmt(mean)
    if std is not None:
        text += f" ± {std:.2g}"
    if missing:
        text += f" ({missing} n/a)"
    return text


# --- one palette ------------------------------------------------------------------------------
# Okabe & Ito's eight colours ("Color Universal Design", 2008): distinguishable under the common
# colour-vision deficiencies and, with line styles, in greyscale.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#6E6E6E"
LIGHT_GREY = "#AAAAAA"  # black's stand-in on a terminal, whose background may be black

PALETTE: tuple[str, ...] = (BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY_BLUE, BLACK, YELLOW)

# Colours tied to roles, not to drawing order: a criterion has one colour in every view.
ROLE_COLOURS: dict[str, str] = {
    # pruning criteria
    "magnitude": BLUE,
    "frame_potential": VERMILLION,
    "activation": GREEN,
    "random": BLACK,
    # subspace bases
    "top": BLUE,
    "bottom": VERMILLION,
    # lottery: the ticket and its two controls
    "ticket": BLUE,
    "reinit": ORANGE,
    "random_mask": PURPLE,
    # data splits
    "train": BLUE,
    "validation": ORANGE,
    "test": GREEN,
}


def colour(role: str, fallback_index: int = 0) -> str:
    """The colour of a named role, or a stable palette colour for an unnamed one."""
    if role in ROLE_COLOURS:
        return ROLE_COLOURS[role]
    return PALETTE[(fallback_index + 3) % len(PALETTE)]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """``#E69F00`` -> (230, 159, 0)."""
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def terminal_palette() -> tuple[tuple[int, int, int], ...]:
    """:data:`PALETTE` as RGB for a terminal: black becomes light grey, visible on a dark background."""
    return tuple(rgb(LIGHT_GREY if c == BLACK else c) for c in PALETTE)


# --- one label table ------------------------------------------------------------------------------
# Readable names for the keys studies store (curve groups, summary metrics), where underscores
# as spaces are not enough: a key not listed is shown that way; compound keys part by part.
LABELS: dict[str, str] = {
    "auc": "AUC",
    "test_accuracy": "test accuracy",
    "test_accuracy_at_best": "test accuracy at best",
    "val_accuracy": "validation accuracy",
    "best_val_loss": "best validation loss",
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "k_within_1pt": "first evaluated k within 1 pt",
    "p_value": "p-value",
    "distance_end": "distance from init (end)",
    "fp_ratio_end": "frame potential ratio (end)",
    "alpha_end": "alpha (end)",
    "repeated_end": "repeated pairs (end)",
    "repeated_fraction_end": "repeated pairs, fraction of all pairs (end)",
    "reinit": "re-initialized",
    "update": "update W − W₀",
}
DIRECTIONS: dict[str, str] = {"smallest": "smallest first", "largest": "largest first"}
#: Names of the built-in models and datasets as papers write them; plugin names are shown as written.
NAMES: dict[str, str] = {
    "lenet_300_100": "LeNet-300-100",
    "mlp": "MLP",
    "conv2": "Conv-2",
    "conv4": "Conv-4",
    "conv6": "Conv-6",
    "vgg19": "VGG-19",
    "mnist": "MNIST",
    "mnist-5k": "MNIST 5k",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "teacher-student": "teacher-student",
    "xord": "XORD",
}


def name_label(name: str) -> str:
    """A model's or dataset's name as a paper writes it (``lenet_300_100`` -> ``LeNet-300-100``)."""
    return NAMES.get(name, name)


def label(key: str) -> str:
    """A readable label for a stored key: ``magnitude:smallest`` -> ``magnitude, smallest first``,
    ``fc1@final:update/top/k_within_1pt`` -> ``fc1 at final · update W − W₀ · top · first evaluated k within 1 pt``."""
    if key in LABELS:
        return LABELS[key]
    if "/" in key:
        return " · ".join(label(part) for part in key.split("/") if part)
    if ":" in key:
        head, _, tail = key.partition(":")
        return f"{label(head)}, {DIRECTIONS[tail]}" if tail in DIRECTIONS else f"{label(head)} · {label(tail)}"
    if is_layer_at(key):  # "fc1@final" is a layer at a checkpoint; "acc@75%" reads as is
        layer, at = split_label(key)
        return f"{layer} at {label(at)}"
    return key.replace("_", " ")


# --- which weights a result describes ---------------------------------------------------------------
#: Study config fields that name the checkpoints a study reads (pruning and subspace: ``checkpoint``;
#: unit tickets: ``selected_at``); a kind with none (lottery, dynamics) trains or reads every checkpoint.
CHECKPOINT_FIELDS = ("checkpoint", "selected_at")


def checkpoint_label(ref: Any, run: Mapping[str, Any]) -> str:
    """``best (iteration 500)``: a checkpoint as a study names it, with the iteration it stands for in
    ``run`` (the run's stored attributes: ``iterations`` is final's, ``best_iteration`` best's)."""
    from redundancy.store import layout as L

    iteration = {"final": run.get(L.A_ITERATIONS), "best": run.get(L.A_BEST_ITERATION)}.get(str(ref))
    if isinstance(ref, int) and not isinstance(ref, bool):
        return f"iteration {ref}"
    return f"{ref} (iteration {iteration})" if isinstance(iteration, int) and not isinstance(iteration, bool) else str(ref)


def weights_label(config: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str | None:
    """The checkpoints a study's config reads, each with its iteration (``best (iteration 500)``); None when
    the kind names none."""
    for name in CHECKPOINT_FIELDS:
        refs = (config or {}).get(name)
        if refs is not None:
            return ", ".join(checkpoint_label(r, run) for r in (refs if isinstance(refs, list) else [refs]))
    return None
