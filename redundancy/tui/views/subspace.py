"""View of a ``subspace`` study: what is left of a layer's accuracy with k directions.

Its typed curves (``docs/results.md``) are keyed by layer, checkpoint, target
and basis: ``x = k`` for the top, bottom and random bases, and ``x = index``
for the singular values (``basis`` null). Top, bottom and random bases share an
axis so the gap between the learned directions and the controls reads at a
glance.
"""

from __future__ import annotations

from typing import Any

from redundancy.store.results import Results
from redundancy.tui.model import Panel, PlotPanel, Table
from redundancy.tui.views.base import StudyView, curve_panel, line, screen_table, varying


def table(summary: dict[str, Any]) -> Table:
    return screen_table(summary, "layer")


def panels(results: Results) -> list[Panel]:
    """Accuracy, energy kept and residual norm vs k per basis, then the singular values."""
    out: list[Panel] = []
    bases = [c for c in results.curves if c.key.get("basis") is not None]
    for ykey, title, ylabel in (
        ("accuracy", "test accuracy vs k directions kept, per basis", "accuracy"),
        ("energy_kept", "fraction of ‖W − Z‖²_F kept", "energy kept"),
        ("residual_spectral_norm", "spectral norm of the removed residual", "‖residual‖₂"),
        ("loss", "test loss vs k", "loss"),
        # opt-in alignment (issue: the removed part of W − Z is poorly aligned with the data, ρ ≈ 1 is isotropic)
        ("rho_residual", "alignment ρ of the removed residual with the layer's inputs (1 = isotropic)", "ρ(residual)"),
        ("rho_kept", "alignment ρ of the kept part with the layer's inputs (1 = isotropic)", "ρ(kept)"),
        ("residual_share", "residual's share of the change in pre-activations, ‖R Xᵀ‖ / ‖ΔW Xᵀ‖", "share"),
    ):
        panel = curve_panel(bases, title, ykey, "k", ylabel)
        if panel is not None:
            # The learned update's signal sits in the first few directions (16 of 1024 in
            # Nagarajan & Kolter): a log axis gives them room when k runs into the hundreds.
            panel.logx = max(max(s.x) for s in panel.series) >= 64
            panel.logy_ok = ykey == "loss"
            out.append(panel)
    spectra = [c for c in results.curves if c.key.get("basis") is None and "singular_value" in c.series]
    fields = varying(spectra)
    lines = [s for c in spectra if (s := line(c.label(*fields) or "σ", c, "singular_value")) is not None]
    if lines:
        out.append(PlotPanel("singular values", "index", "σ", lines))
    return out


VIEW = StudyView("subspace", table, panels, "accuracy vs k per basis (top, bottom, random), singular values")
