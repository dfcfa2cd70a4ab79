"""View of a ``subspace`` study: what is left of a layer's accuracy with k directions.

Curves (issue 4): ``{"top" | "bottom" | "random": {"k", "accuracy",
"residual_spectral_norm", "energy_kept"[, "std"]}, "singular_values": ...}``,
possibly nested per layer, target or checkpoint. Top, bottom and random bases
share an axis so the gap between the learned directions and the controls reads
at a glance.
"""

from __future__ import annotations

from typing import Any

from redundancy.tui.model import Panel, PlotPanel, Series, Table
from redundancy.tui.views.base import StudyView, curve_panel, numbers, summary_table

X = "k"


def table(summary: dict[str, Any]) -> Table:
    return summary_table(summary, "layer")


def _spectra(obj: Any, path: tuple[str, ...] = ()) -> list[Series]:
    """Every list of numbers under a ``singular_values`` key, as value vs index."""
    out: list[Series] = []
    values = numbers(obj)
    if values is not None:
        return [Series("/".join(path) or "σ", [float(i + 1) for i in range(len(values))], values)]
    if isinstance(obj, dict):
        for key, inner in obj.items():
            out += _spectra(inner, (*path, str(key)))
    return out


def _singular_values(obj: Any, path: tuple[str, ...] = ()) -> list[Series]:
    out: list[Series] = []
    if isinstance(obj, dict):
        for key, inner in obj.items():
            if key == "singular_values":
                out += _spectra(inner, path)
            else:
                out += _singular_values(inner, (*path, str(key)))
    return out


def panels(curves: dict[str, Any]) -> list[Panel]:
    """Accuracy, energy kept and residual norm vs k per basis, then the singular values."""
    out: list[Panel] = []
    for ykey, title, ylabel in (
        ("accuracy", "test accuracy vs k directions kept, per basis", "accuracy"),
        ("energy_kept", "fraction of ‖W − Z‖²_F kept", "energy kept"),
        ("residual_spectral_norm", "spectral norm of the removed residual", "‖residual‖₂"),
        ("loss", "test loss vs k", "loss"),
    ):
        panel = curve_panel(curves, title, X, ykey, "k", ylabel)
        if panel is not None:
            # The learned update's signal sits in the first few directions (16 of 1024 in
            # Nagarajan & Kolter): a log axis gives them room when k runs into the hundreds.
            panel.logx = max(max(s.x) for s in panel.series) >= 64
            out.append(panel)
    spectra = _singular_values(curves)
    if spectra:
        out.append(PlotPanel("singular values", "index", "σ", spectra))
    return out


VIEW = StudyView("subspace", table, panels, "accuracy vs k per basis (top, bottom, random), singular values")
