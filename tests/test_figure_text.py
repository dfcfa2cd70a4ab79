"""Figure text is plain: the report's style turns mathtext off (store text is data), so every tick
label a figure shows must come from a plain formatter, never matplotlib's mathtext defaults
(which would print ``$\\mathdefault{10^{2}}$`` literally)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from redundancy.report.figures.subspace import _draw_alignment  # noqa: E402
from redundancy.report.style import new_figure, report_style  # noqa: E402
from redundancy.store.results import Curve  # noqa: E402


def _labels(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for ax in fig.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()] if t.get_text()]


def test_the_alignment_panel_on_a_log_axis_labels_its_ticks_plainly() -> None:
    """A data-span baseline above 10 puts ρ on a log axis (full MNIST's fc1: ρ_span ≈ 96)."""
    curve = Curve(key={"basis": "top"}, x="k", series={"k": [0, 1, 10, 100], "rho_residual": [12.7, 11.0, 8.4, 0.6], "rho_kept": [0.0, 20.0, 15.0, 12.7]})
    with report_style():
        fig, (ax,) = new_figure(legends="each")
        _draw_alignment(ax, [curve], "update", {"data_span": 95.6, "data_span_min": 78.4, "data_span_max": 102.9, "rho_init": 0.97})
        labels = _labels(fig)
    assert ax.get_yscale() == "log"
    assert labels and not [t for t in labels if "$" in t or "mathdefault" in t], labels
    assert {"1", "10", "100"} <= set(labels)
