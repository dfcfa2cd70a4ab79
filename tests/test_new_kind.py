"""A new built-in study kind is one package plus one registry line.

The test copies the ``redundancy`` package, adds a throwaway kind's package
under ``studies/`` and one line to the registry in ``studies/__init__.py``,
touches no other file, and runs the copy as a user would: ``run`` a spec with
the kind in a seed grid, then ``show``, ``show --json``, ``open_store``, the grid
summary, the TUI (headless) and the report. Every reader shows the kind: its
summary, the plots its schema declares (titled and labeled as declared, in the
TUI and in the report alike) and its headline numbers in the grid table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_LINE = '    "norms": "redundancy.studies.norms",\n'

INIT = '''"""The norms study kind: how long a layer's units grow over training."""

from redundancy.studies.entry import in_package

ENTRY = in_package(__name__, "norms", headline=("mean_norm_final",))
'''

STUDY = '''"""Compute: the mean and largest L2 norm of a layer's unit rows at every stored checkpoint."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from redundancy.spec.schema import StudyConfig
from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_layers
from redundancy.studies.common.weights import unit_matrix


class NormsConfig(StudyConfig):
    kind: Literal["norms"] = "norms"
    layer: str = Field("fc1", description="the layer whose unit norms are measured")


def run(config: NormsConfig, ctx: StudyContext) -> StudyResult:
    its = sorted(ctx.run.checkpoints)
    norms = np.array([unit_matrix(ctx.run.checkpoints[it], config.layer).norm(dim=1).numpy() for it in its])
    ctx.progress(1.0, "done")
    return StudyResult(
        tensors={"norms": norms},
        summary={"mean_norm_final": float(norms[-1].mean()), "max_norm_final": float(norms[-1].max())},
        curves={"iteration": its, "mean_norm": norms.mean(axis=1).tolist(), "max_norm": norms.max(axis=1).tolist()},
    )


KIND = StudyKind("norms", NormsConfig, run, lambda config, info: check_layers(config.layer, "layer", info),
                 "mean and largest unit norm of a layer at every checkpoint")
'''

RESULTS = '''"""Typed results of the norms kind: one row and one curve keyed by the layer; the plots readers draw."""

from __future__ import annotations

from redundancy.store.results import Curve, KindSchema, Metric, Plot, Results, Row

NORM = "L2 norm of a unit's incoming weights"


def decode(summary, curves, config) -> Results:
    key = {"layer": config.get("layer")}
    return Results("norms", [Row(key, dict(summary))], [Curve(key, "iteration", {k: v for k, v in curves.items() if isinstance(v, list)})])


SCHEMA = KindSchema(
    "norms", ("layer",), decode,
    metrics=(Metric("mean_norm_final", "mean unit norm at the last checkpoint", NORM),),
    plots=(Plot("mean unit norm vs iteration", "mean_norm", "iteration", "mean norm [" + NORM + "]", ("layer",)),
           Plot("largest unit norm vs iteration", "max_norm", "iteration", "max norm [" + NORM + "]", ("layer",))),
)
'''

SPEC = """\
name: normgrid
seed: 0
data: {name: xord, input_dim: 3, train_samples: 300, test_samples: 100}
model: {name: mlp, widths: [8]}
train: {iterations: 30, batch_size: 32, lr: 0.05, eval_interval: 10, checkpoints: [10, 20]}
grid: {seed: [0, 1]}
studies:
  - {kind: norms, layer: fc1}
"""

# The TUI headless: select each study of the kind and record the panels its detail shows.
TUI = """\
import asyncio, json, sys
from redundancy.tui import RedundancyApp, details
from redundancy.tui.source import list_store

root = sys.argv[1]

async def settle(pilot, app):
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()

async def main():
    app = RedundancyApp([root], poll=0)
    shown = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, app)
        for entry in list_store(root).entries():
            if entry.study_kind != "norms":
                continue
            key = details.stage_key(root, entry.id)
            app._reveal(key)
            await settle(pilot, app)
            app.query_one("StoreTree").move_cursor(app.nodes[key])
            await settle(pilot, app)
            shown[key] = [[p.title, p.xlabel, p.ylabel, [s.label for s in p.series]] for p in app.detail.panels]
    print(json.dumps(shown))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package with the throwaway kind: one new package and one registry line, nothing else."""
    root = tmp_path_factory.mktemp("newkind")
    src = root / "src"
    shutil.copytree(ROOT / "redundancy", src / "redundancy", ignore=shutil.ignore_patterns("__pycache__"))
    kind = src / "redundancy" / "studies" / "norms"
    kind.mkdir()
    (kind / "__init__.py").write_text(INIT, encoding="utf-8")
    (kind / "study.py").write_text(STUDY, encoding="utf-8")
    (kind / "results.py").write_text(RESULTS, encoding="utf-8")
    registry = src / "redundancy" / "studies" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    anchor = '    "correspondence": "redundancy.studies.correspondence",\n'
    assert anchor in text, "the registry's last line moved; update the anchor"
    registry.write_text(text.replace(anchor, anchor + REGISTRY_LINE), encoding="utf-8")
    changed = [p for p in (src / "redundancy").rglob("*.py")
               if not (ROOT / p.relative_to(src)).is_file() or (ROOT / p.relative_to(src)).read_bytes() != p.read_bytes()]
    assert sorted(p.relative_to(src).as_posix() for p in changed) == [
        "redundancy/studies/__init__.py", "redundancy/studies/norms/__init__.py",
        "redundancy/studies/norms/results.py", "redundancy/studies/norms/study.py"]
    (root / "spec.yaml").write_text(SPEC, encoding="utf-8")
    (root / "tui.py").write_text(TUI, encoding="utf-8")
    done = _run(root, "-m", "redundancy", "run", "spec.yaml", "--device", "cpu", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_copy_runs_its_own_package(copy: Path) -> None:
    done = _run(copy, "-c", "import redundancy.studies as s; print(s.__file__); print(list(s.BUILTIN))")
    assert done.returncode == 0, done.stderr
    where, kinds = done.stdout.splitlines()
    assert where.startswith(str(copy / "src")) and "'norms'" in kinds


def test_show_and_show_json_show_the_new_kind(copy: Path) -> None:
    done = _run(copy, "-m", "redundancy", "show", "store/normgrid")
    assert done.returncode == 0, done.stderr
    assert "norms" in done.stdout and "mean_norm_final" in done.stdout
    done = _run(copy, "-m", "redundancy", "show", "store/normgrid", "--json")
    doc = json.loads(done.stdout)
    norms = [s for s in doc["studies"] if s["kind"] == "norms"]
    assert len(norms) == 2 and all(s["status"] == "done" and "mean_norm_final" in s["summary"] for s in norms)
    assert any(t.get("kind") == "norms" and "mean_norm_final" in t["metrics"] for t in doc["grid"]["tables"])


def test_open_store_reads_the_new_kind_typed(copy: Path) -> None:
    code = (
        "import redundancy\n"
        "s = redundancy.open_store('store/normgrid')\n"
        "c = s.curves('norms')\n"
        "print(sorted(set(c['series'])), sorted(set(c['layer'])), len(s.studies))\n"
    )
    done = _run(copy, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("]")[0] + "]" == "['max_norm', 'mean_norm']"
    assert "['fc1']" in done.stdout


def test_the_grid_summary_has_the_kinds_headline(copy: Path) -> None:
    done = _run(copy, "-m", "redundancy", "show", "store/normgrid")
    assert done.returncode == 0, done.stderr
    grid = done.stdout[done.stdout.index("grid: norms"):]
    table = grid[:grid.index("runs of grid")]
    assert "over 2 seeds" in table and "2/2" in table, done.stdout
    assert "mean_norm_final" in table and "max_norm_final" not in table  # the entry's headline, not every number


def test_the_tui_draws_the_declared_plots(copy: Path) -> None:
    done = _run(copy, "tui.py", str(copy / "store" / "normgrid"))
    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(shown) == 2
    for panels in shown.values():
        assert [p[0] for p in panels] == ["mean unit norm vs iteration", "largest unit norm vs iteration"]
        assert panels[0][1] == "iteration" and panels[0][2].startswith("mean norm [L2 norm")
        assert panels[0][3] == ["fc1"]


def test_the_report_draws_the_declared_plots(copy: Path) -> None:
    done = _run(copy, "-m", "redundancy", "report", "store/normgrid", "--out", "report")
    assert done.returncode == 0, done.stdout + done.stderr
    md = (copy / "report" / "report.md").read_text(encoding="utf-8").replace("\\", "")
    assert "norms: mean unit norm vs iteration, largest unit norm vs iteration" in md
    assert "norms summary" in md
    assert any("-norms-" in p.name for p in (copy / "report" / "figures").glob("*.png"))
