"""Registry of report figures: stage kind -> figure function (a plain dict).

The key is ``train`` for a training run and the study kind (``pruning``,
``subspace``, ...) for a study. A new study kind adds its figures with one
module here that decorates one function with :func:`register`; a kind with no
entry (a plugin's) gets :func:`~redundancy.report.figures.generic.generic_figures`:
its typed summary as a table, its curves as line plots.
"""

from __future__ import annotations

# Each module registers its function on import.
from redundancy.report.figures import correspondence, dynamics, lottery, pruning, subspace, training, unit_ticket
from redundancy.report.figures.generic import generic_figures
from redundancy.report.figures.registry import FIGURES, GROUP, figure_for, register

__all__ = ["FIGURES", "GROUP", "correspondence", "dynamics", "figure_for", "generic_figures", "lottery", "pruning", "register", "subspace", "training", "unit_ticket"]
