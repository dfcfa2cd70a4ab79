"""Plugins resolve like checkpoints: a module beside the spec file imports without PYTHONPATH, in workers too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from redundancy import plugins
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.store.reader import read_document
from redundancy.studies import plugins as study_plugins

ROOT = Path(__file__).resolve().parents[1]

MODULE = """
import os
import yaml  # PyYAML, not the yaml.py beside this file
from torch import nn

assert hasattr(yaml, "safe_load"), "yaml.py beside the spec shadowed PyYAML"

def build(request):
    with open(os.path.join(os.path.dirname(__file__), "pids.txt"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    return nn.Sequential(nn.Flatten(), nn.Linear(request.input_shape[0], 8), nn.ReLU(), nn.Linear(8, request.num_classes))
"""

SPEC = """\
name: beside
seeds: [0, 1]
data: {name: xord, input_dim: 3, train_samples: 200, test_samples: 100}
model: {name: "mymlp:build"}
train: {iterations: 10, batch_size: 32, lr: 0.05, eval_interval: 5}
"""


@pytest.fixture
def spec_folder(tmp_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "mymlp.py").write_text(MODULE)
    (folder / "yaml.py").write_text("raise RuntimeError('this yaml.py must never be imported')\n")
    (folder / "spec.yaml").write_text(SPEC)
    study_plugins.forget()
    yield folder
    study_plugins.forget()


def test_a_module_beside_the_spec_runs_in_worker_processes_without_pythonpath(spec_folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"  # not the spec's folder: `python -m` puts the working folder on sys.path
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDUNDANCY_WORKER_START": "exec", "COLUMNS": "200"}
    command = [sys.executable, "-m", "redundancy", "run", str(spec_folder / "spec.yaml"), "--store", "out", "--device", "cpu", "--quiet", "--workers", "2"]
    proc = subprocess.Popen(command, cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    runs = read_document(elsewhere / "out")["runs"]
    assert len(runs) == 2 and all(r["status"] == "done" for r in runs)
    pids = {int(p) for p in (spec_folder / "pids.txt").read_text().split()}
    assert pids - {proc.pid}, "no worker process built the model"  # workers (fresh Pythons) loaded mymlp.py too


def test_the_module_beside_the_spec_is_identified_by_its_source(spec_folder: Path) -> None:
    run = load_spec(spec_folder / "spec.yaml").points[0].run
    assert run.model.plugin is not None and run.model.plugin.startswith("mymlp sha256:")
    assert "mymlp" not in sys.modules and str(spec_folder) not in sys.path
    import yaml

    assert hasattr(yaml, "safe_load")


def test_a_module_nowhere_names_where_it_was_looked_for(spec_folder: Path) -> None:
    (spec_folder / "spec.yaml").write_text(SPEC.replace("mymlp:build", "othermlp:build"))
    with pytest.raises(SpecError) as info:
        load_spec(spec_folder / "spec.yaml")
    (problem,) = info.value.problems
    assert f"cannot import module 'othermlp' (looked for othermlp.py or othermlp/ beside the spec (in {spec_folder.resolve()}), then on sys.path)" in problem.message


def test_a_package_beside_the_spec_imports_its_submodules(tmp_path: Path) -> None:
    pkg = tmp_path / "mynets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .width import HIDDEN\n")
    (pkg / "width.py").write_text("HIDDEN = 8\n")
    (pkg / "nets.py").write_text(MODULE.replace("nn.Linear(request.input_shape[0], 8), nn.ReLU(), nn.Linear(8,", "nn.Linear(request.input_shape[0], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN,").replace("from torch import nn", "from torch import nn\nfrom . import HIDDEN"))
    (tmp_path / "spec.yaml").write_text(SPEC.replace("mymlp:build", "mynets.nets:build"))
    plugins.forget()
    try:
        layers = load_spec(tmp_path / "spec.yaml").points[0].layers
        assert [info.units for info in layers.values()] == [8, 2]
    finally:
        plugins.forget()
