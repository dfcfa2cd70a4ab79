"""Study kinds across the layers: registries agree, and readers import results, not compute.

One real store holds every built-in kind and the example plugin kind
(``examples/plugin``). ``show``, ``show --json`` and ``report`` run as
subprocesses and the TUI headless in one, each recording ``sys.modules`` at
exit: none may import torch, and none may import the plugin's code, which the
store names. Every kind is shown: built-ins by their own view and figures,
the plugin kind by the generic ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from redundancy.report.figures import FIGURES, figure_for
from redundancy.report.figures.generic import generic_figures
from redundancy.store.results import kind_schema
from redundancy.studies import BUILTIN, STUDIES
from redundancy.tui.views import GENERIC, VIEWS, view_for
from support.headless_tui import TUI

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin"

SPEC = """\
name: allkinds
seed: 0
data: {name: xord, input_dim: 3, train_samples: 400, test_samples: 200}
model: {name: mlp, widths: [16, 8]}
train: {iterations: 40, batch_size: 32, lr: 0.05, eval_interval: 20, checkpoints: [20]}
studies:
  - {kind: pruning, layer: fc1, seeds: 2}
  - {kind: subspace, layer: fc1, seeds: 2}
  - {kind: dynamics}
  - {kind: lottery, rounds: 2, draws: 199}
  - {kind: unit_ticket, keep_fractions: [0.5], seeds: 2, selectors: [random, magnitude_init]}
  - {kind: "redundancy_example.coherence:KIND", layer: fc2}
  - {kind: correspondence, partner: spawn, spawn: {iterations: [20], copies: 2}, path_points: 3, null_draws: 5, probe_samples: 100}
"""

# Runs a command of the CLI (or a script) and writes the names of the imported modules when it exits.
WRAPPER = """\
import atexit, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
if sys.argv[2].endswith(".py"):
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    sys.argv = ["redundancy", *sys.argv[2:]]
    runpy.run_module("redundancy", run_name="__main__", alter_sys=True)
"""

#: The built-in kinds that draw themselves (their own TUI view and report figure); a new kind needs
#: neither: it is drawn from the plots its schema declares (tests/test_new_kind.py).
KINDS = ["correspondence", "dynamics", "lottery", "pruning", "subspace", "unit_ticket"]


def test_every_built_in_kind_has_compute_schema_view_and_figures() -> None:
    assert set(KINDS) <= set(BUILTIN)
    for kind in BUILTIN:
        assert STUDIES[kind].name == kind and kind_schema(kind) is not None and kind_schema(kind).kind == kind
    assert sorted(VIEWS) == KINDS
    assert sorted(set(FIGURES) - {"train"}) == KINDS
    for kind in KINDS:
        study = STUDIES[kind]
        assert study.name == kind and study.config.model_fields["kind"].default == kind
        assert kind_schema(kind) is not None and kind_schema(kind).kind == kind
        assert view_for(kind) is VIEWS[kind] and view_for(kind).kind == kind
        assert figure_for(kind) is FIGURES[kind]
    # any other kind (a plugin's) falls back to the generic presentation
    assert view_for("coherence") is GENERIC and figure_for("coherence") is generic_figures
    assert kind_schema("coherence") is None


def _env(*extra: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT, *extra)), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    (root / "spec.yaml").write_text(SPEC, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "redundancy", "run", "spec.yaml", "--device", "cpu", "--quiet"],
                          cwd=root, env=_env(EXAMPLE), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (root / "wrap.py").write_text(WRAPPER, encoding="utf-8")
    (root / "tui.py").write_text(TUI, encoding="utf-8")
    return root


def _read(root: Path, *args: str) -> tuple[str, list[str]]:
    """Run ``args`` through the wrapper with the plugin importable; (stdout, imported modules)."""
    modules = root / "modules.txt"
    done = subprocess.run([sys.executable, "wrap.py", str(modules), *args], cwd=root, env=_env(EXAMPLE), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, modules.read_text(encoding="utf-8").split()


def _no_compute(modules: list[str]) -> None:
    assert "torch" not in modules
    assert not [m for m in modules if m.startswith("redundancy_example")]  # named by the store, never imported
    assert not [m for m in modules if m.startswith("redundancy.studies.") and m.endswith(".study")]


def test_show_and_show_json_import_no_torch_and_show_every_kind(store: Path) -> None:
    out, modules = _read(store, "show", "store/allkinds")
    _no_compute(modules)
    for kind in [*KINDS, "coherence"]:
        assert f"{kind} run/{kind}" in out, out
    assert "coherence_max_final" in out
    out, modules = _read(store, "show", "store/allkinds", "--json")
    _no_compute(modules)
    doc = json.loads(out)
    assert sorted(s["kind"] for s in doc["studies"] if s["status"] == "done") == sorted([*KINDS, "coherence"])


def test_report_imports_no_torch_and_draws_every_kind(store: Path) -> None:
    _, modules = _read(store, "report", "store/allkinds", "--out", "report")
    _no_compute(modules)
    figures = {p.name for p in (store / "report" / "figures").glob("*.png")}
    for kind in [*KINDS, "coherence"]:
        assert any(f"-{kind}-" in name for name in figures), (kind, sorted(figures))
    md = (store / "report" / "report.md").read_text(encoding="utf-8").replace("\\", "")  # Markdown escapes, undone
    assert "coherence: coherence_max, coherence_mean against iteration" in md  # the generic figure
    assert "coherence summary: run/coherence" in md  # and its typed summary as a table
    assert "No figure is registered" not in md


def test_the_tui_imports_no_torch_and_shows_every_kind(store: Path) -> None:
    out, modules = _read(store, "tui.py", str(store / "store" / "allkinds"))
    _no_compute(modules)
    seen: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert sorted(seen) == sorted([*KINDS, "coherence"])
    for kind, shown in seen.items():
        assert shown["panels"], (kind, shown)
    assert seen["unit_ticket"]["panels"][0][1] == ["random:original", "random:reinit", "magnitude_init:original", "magnitude_init:reinit"]
    titles = [p[0] for p in seen["coherence"]["panels"]]
    assert titles == ["coherence_max vs iteration", "coherence_mean vs iteration"]  # the generic view of the plugin's curves
