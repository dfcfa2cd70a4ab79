"""Study kinds as plugins: the example package, entry points, import paths, identity, failures, readers.

The example in ``examples/plugin/`` is put on ``PYTHONPATH`` (import paths) or
given a ``.dist-info`` folder with ``entry_points.txt`` on ``sys.path`` (entry
points), as installing it would; the real CLI runs in subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from redundancy.engine import make_plan
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from redundancy.studies import plugins
from support.headless_tui import TUI
from support.tiny import tiny_text, write_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin"


def _env(*path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in [ROOT, *path]), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def cli(*args: str, cwd: Path, path: list[Path] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redundancy", *args], cwd=cwd, env=_env(*path), capture_output=True, text=True, timeout=300)


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch):
    """Put folders on ``sys.path`` for this test, with resolved plugins forgotten before and after."""

    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))

    plugins.forget()
    yield add
    plugins.forget()
    for name in [m for m in sys.modules if m.split(".")[0] in ("redundancy_example", "myplugin")]:
        del sys.modules[name]


def coherence_spec(kind: str, tail: str = "") -> str:
    return tiny_text("plug", iterations=20, checkpoints=[10], tail=f"studies:\n  - kind: {kind}\n    layer: fc1\n{tail}")


def test_the_example_runs_and_show_lists_both_studies(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE / "spec.yaml", tmp_path / "spec.yaml")
    done = cli("run", "spec.yaml", "--device", "cpu", "--quiet", cwd=tmp_path, path=[EXAMPLE])
    assert done.returncode == 0, done.stdout + done.stderr
    stages = sorted(p.name.split("-")[0] for p in (tmp_path / "store" / "plugin-example" / "stages").iterdir())
    assert stages == ["coherence", "pruning", "train"]
    shown = cli("show", "store/plugin-example", cwd=tmp_path)  # no PYTHONPATH to the plugin
    assert shown.returncode == 0, shown.stderr
    assert "coherence_max_final" in shown.stdout and "magnitude:smallest" in shown.stdout
    doc = json.loads(cli("show", "store/plugin-example", "--json", cwd=tmp_path).stdout)
    kinds = {s["kind"]: s for s in doc["studies"]}
    assert set(kinds) == {"coherence", "pruning"} and all(s["status"] == "done" for s in kinds.values())
    config = kinds["coherence"]["config"]
    assert config["plugin"] == "redundancy_example.coherence:KIND"
    assert config["plugin_identity"].startswith("redundancy_example.coherence sha256:")
    assert "plugin" not in kinds["pruning"]["config"]  # built-ins store no plugin fields
    assert 0 <= kinds["coherence"]["summary"]["coherence_mean_final"] <= kinds["coherence"]["summary"]["coherence_max_final"] <= 1
    assert doc["runs"][0]["model"] == "redundancy_example.nets:build"  # the plugin model
    report = cli("report", "store/plugin-example", "--out", "report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    figures = sorted(p.name for p in (tmp_path / "report" / "figures").glob("*.png"))
    assert any("-coherence-" in f for f in figures) and any("-pruning-" in f for f in figures), figures
    (tmp_path / "tui.py").write_text(TUI, encoding="utf-8")
    tui = subprocess.run([sys.executable, "tui.py", str(tmp_path / "store" / "plugin-example")], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert tui.returncode == 0, tui.stderr
    seen = json.loads(tui.stdout.strip().splitlines()[-1])
    assert set(seen) == {"coherence", "pruning"} and all(v["panels"] for v in seen.values())


def test_the_example_imports_a_network_trained_elsewhere(tmp_path: Path) -> None:
    for name in ("spec_import.yaml", "train_elsewhere.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    trained = subprocess.run([sys.executable, "train_elsewhere.py"], cwd=tmp_path, env=_env(EXAMPLE), capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    accuracy = float(trained.stdout.split("test accuracy ")[1].split(";")[0])
    done = cli("run", "spec_import.yaml", "--device", "cpu", "--quiet", cwd=tmp_path, path=[EXAMPLE])
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(cli("show", "store/plugin-import", "--json", cwd=tmp_path).stdout)
    assert doc["runs"][0]["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)  # the script prints 4 digits
    studies = {s["kind"]: s for s in doc["studies"]}
    assert set(studies) == {"coherence", "pruning"} and all(s["status"] == "done" for s in studies.values())
    assert studies["pruning"]["summary"]["accuracy_unpruned"] == doc["runs"][0]["test_accuracy"]


def test_a_plugin_s_typed_results_are_read_without_its_code(tmp_path: Path, on_path) -> None:
    from redundancy.store.reader import read_store, study_results
    from support.tiny import run_spec_file

    on_path(EXAMPLE)
    _, store, report = run_spec_file(write_spec(tmp_path, coherence_spec("redundancy_example.coherence:KIND")))
    assert not report.failed
    for name in [m for m in sys.modules if m.startswith("redundancy_example")]:
        del sys.modules[name]
    rec = next(s for s in read_store(store.root).studies() if s.study_kind == "coherence")
    results = study_results(rec)
    assert [c.key for c in results.curves] == [{"layer": "fc1"}] and results.curves[0].x == "iteration"
    assert results.curves[0].xs == [0, 10, 20]
    assert not any(m.startswith("redundancy_example") for m in sys.modules)


def test_an_installed_entry_point_is_a_kind_by_its_name_with_its_version_in_the_identity(tmp_path: Path, on_path) -> None:
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "redundancy_example", site / "redundancy_example")
    info = site / "redundancy_example_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: redundancy-example-plugin\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[redundancy.studies]\ncoherence = redundancy_example.coherence:KIND\n", encoding="utf-8")
    (info / "top_level.txt").write_text("redundancy_example\n", encoding="utf-8")
    on_path(site)
    assert "coherence" in plugins.entry_point_names()
    resolved = load_spec(write_spec(tmp_path, coherence_spec("coherence")))
    study = resolved.spec.studies[0]
    assert (study.kind, study.plugin, study.plugin_identity) == ("coherence", "coherence", "redundancy-example-plugin 0.1.0")
    plan = make_plan(resolved)
    assert plan.studies[0].id.startswith("coherence-")
    assert plan.studies[0].identity["plugin_identity"] == "redundancy-example-plugin 0.1.0"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: redundancy-example-plugin\nVersion: 0.2.0\n", encoding="utf-8")
    plugins.forget()
    again = make_plan(load_spec(write_spec(tmp_path, coherence_spec("coherence"))))
    assert again.studies[0].id != plan.studies[0].id  # an upgraded plugin is a new stage
    assert again.runs[0].id == plan.runs[0].id


PLUGIN = '''
from typing import Literal
from pydantic import Field
from redundancy.spec.schema import StudyConfig
from redundancy.studies.base import StudyResult


class Config(StudyConfig):
    kind: Literal["mine"] = "mine"
    scale: float = Field(1.0, gt=0)
    explode: bool = False


def run(config, ctx):
    if config.explode:
        raise ZeroDivisionError("the measure divided by zero")
    return StudyResult(summary={"scale": config.scale})


class entry:  # StudyKind-like: any object with these attributes
    name = "mine"
    config = Config
    run = staticmethod(run)
'''


def write_plugin(folder: Path, source: str = PLUGIN) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "myplugin.py").write_text(source, encoding="utf-8")
    return folder


def test_a_plugin_s_config_errors_have_file_and_line(tmp_path: Path, on_path) -> None:
    on_path(write_plugin(tmp_path / "plug"))
    spec = write_spec(tmp_path, tiny_text("plug", iterations=20, tail="studies:\n  - kind: myplugin:entry\n    scale: -1\n    colour: red\n"))
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    lines = spec.read_text().splitlines()
    found = {(p.path, p.line): p.message for p in info.value.problems}
    assert ("studies[0].scale", lines.index("    scale: -1") + 1) in found, found
    colour = found[("studies[0].colour", lines.index("    colour: red") + 1)]
    assert colour == "unknown field 'colour' (expected one of: kind, name, scale, explode)"


@pytest.mark.parametrize(
    "kind,words",
    [
        ("myplugin:nothing", ["has no attribute 'nothing'"]),
        ("nomodule_here:entry", ["cannot import module 'nomodule_here'"]),
        ("myplugin:Config", ["its 'config' must be a subclass"]),
        ("notinstalled", ["unknown study kind 'notinstalled'", "import path"]),
    ],
)
def test_a_plugin_that_cannot_load_is_one_line_at_its_kind(tmp_path: Path, kind: str, words: list[str]) -> None:
    write_plugin(tmp_path)
    spec = write_spec(tmp_path, tiny_text("plug", iterations=20, tail=f"studies:\n  - kind: {kind}\n"))
    done = cli("validate", str(spec), cwd=tmp_path, path=[tmp_path])
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[0]
    at = spec.read_text().splitlines().index(f"  - kind: {kind}") + 1
    assert line.startswith(f"error: {spec}:{at}:11: studies[0].kind"), line
    for word in words:
        assert word in done.stderr, done.stderr


def test_an_error_inside_a_plugin_fails_its_stage_naming_the_plugin(tmp_path: Path) -> None:
    write_plugin(tmp_path)
    text = tiny_text("plug", iterations=20, tail="studies:\n  - kind: myplugin:entry\n    explode: true\n  - kind: pruning\n    seeds: 1\n")
    write_spec(tmp_path, text)
    done = cli("run", "spec.yaml", "--device", "cpu", cwd=tmp_path, path=[tmp_path])
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "study plugin 'myplugin:entry' (myplugin sha256:" in out
    assert "ZeroDivisionError: the measure divided by zero (at myplugin.py:" in out
    doc = json.loads(cli("show", "store/plug", "--json", cwd=tmp_path).stdout)
    assert [s["kind"] for s in doc["studies"] if s["status"] == "done"] == ["pruning"]  # the rest is intact


def test_editing_an_import_path_plugin_makes_a_new_stage(tmp_path: Path, on_path) -> None:
    on_path(write_plugin(tmp_path / "plug"))
    spec = write_spec(tmp_path, tiny_text("plug", iterations=20, tail="studies:\n  - kind: myplugin:entry\n"))
    first = make_plan(load_spec(spec)).studies[0]
    assert first.id.startswith("mine-") and first.config.plugin_identity.startswith("myplugin sha256:")
    write_plugin(tmp_path / "plug", PLUGIN + "\n# edited\n")
    del sys.modules["myplugin"]
    plugins.forget()
    second = make_plan(load_spec(spec)).studies[0]
    assert second.id != first.id


MARKER_PLUGIN = PLUGIN.replace("from typing import Literal", "import os\nopen(os.environ['MARKER'], 'a').write('imported\\n')\nfrom typing import Literal")


def test_readers_never_import_the_code_a_store_names(tmp_path: Path) -> None:
    write_plugin(tmp_path, MARKER_PLUGIN)
    write_spec(tmp_path, tiny_text("plug", iterations=20, tail="studies:\n  - kind: myplugin:entry\n"))
    marker = tmp_path / "imported.txt"
    os.environ["MARKER"] = str(marker)
    try:
        assert cli("run", "spec.yaml", "--device", "cpu", "--quiet", cwd=tmp_path, path=[tmp_path]).returncode == 0
        assert marker.exists()  # the run imported it
        marker.unlink()
        for args in (["show", "store/plug"], ["show", "store/plug", "--json"], ["ls"], ["report", "store/plug", "--out", "rep"]):
            done = cli(*args, cwd=tmp_path, path=[tmp_path])  # importable, and still not imported
            assert done.returncode == 0, (args, done.stderr)
        assert not marker.exists()
    finally:
        del os.environ["MARKER"]


def test_a_plugin_may_not_take_a_built_in_name(tmp_path: Path, on_path) -> None:
    on_path(write_plugin(tmp_path / "plug", PLUGIN.replace('name = "mine"', 'name = "pruning"')))
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, tiny_text("plug", iterations=20, tail="studies:\n  - kind: myplugin:entry\n")))
    assert "is a built-in kind's" in str(info.value)
