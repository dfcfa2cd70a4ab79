"""Hostile or careless inputs that used to get past ``validate``: each case as a user meets it.

Every case runs the real command in a subprocess with a timeout and an address-space limit
(``RLIMIT_AS``), so a regression that runs away (a billion random seeds, 10**23 iterations, a
grid that never finishes) fails the test instead of taking the machine with it. Sizes are the
tiny xord run's; the one timing test allows 60 s for what takes a few seconds on a quiet machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from support.tiny import tiny_text, write_spec

ROOT = Path(__file__).resolve().parents[1]
#: Address space of each command: torch maps about 3 GiB of libraries; a run away input asks for far more.
MEMORY = 6 * 2**30
HANG_GUARD = 120  # seconds: a hang guard, not a timing assertion
STUDIES = "studies:\n  - kind: pruning\n    layer: fc1\n    seeds: 1\n  - kind: dynamics\n"
SPEC = tiny_text(tail=STUDIES)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def cli(*args: str, cwd: Path, timeout: float = HANG_GUARD, extra_path: Path | None = None, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """``python -m redundancy ARGS`` in ``cwd`` under the memory limit; ``extra_path`` holds plugin modules."""
    paths = [str(ROOT), str(extra_path) if extra_path else "", os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "redundancy", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, preexec_fn=_limit_memory, stdin=stdin,
    )


def one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The one ``error:`` line of a command that exited with ``code`` and printed no traceback."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == code, output
    assert "Traceback" not in output and "frame #" not in output, output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


# --- 4: imported weights that are not finite or not floating point ------------------------------------


def _checkpoints(folder: Path) -> dict[str, Path]:
    """State dicts of the tiny model: good ones, one with a NaN, one with an inf, one in int8."""
    from redundancy.models import build_model
    from redundancy.spec.schema import ModelConfig

    state = {k: v.detach().clone() for k, v in build_model(ModelConfig(name="mlp", widths=[16]), (6,), 2, 0).state_dict().items()}
    files = {}
    for label in ("good", "nan", "inf", "int8"):
        changed = {k: v.clone() for k, v in state.items()}
        weight = changed["blocks.fc2.layer.weight"]
        if label == "nan":
            weight[1, 3] = float("nan")
        elif label == "inf":
            weight[0, 0] = float("inf")
        elif label == "int8":
            changed["blocks.fc2.layer.weight"] = (weight * 100).to(torch.int8)
        files[label] = folder / f"{label}.pt"
        torch.save(changed, files[label])
    return files


IMPORTED = tiny_text(tail=STUDIES.replace("seeds: 1", "seeds: 1\n    checkpoint: final"))


@pytest.mark.parametrize("label,words", [("nan", ["non-finite", "NaN or inf"]), ("inf", ["non-finite"]), ("int8", ["int8, not floating point"])])
def test_imported_weights_that_are_not_finite_floats_are_refused_naming_the_layer(tmp_path: Path, label: str, words: list[str]) -> None:
    files = _checkpoints(tmp_path)
    spec = write_spec(tmp_path, IMPORTED)
    sets = ["--set", f"train.from_checkpoints.0={files['good']}", "--set", f"train.from_checkpoints.60={files[label]}"]
    commands = [["validate"], ["run", "--device", "cpu", "--quiet"]] if label == "nan" else [["validate"]]
    for command in commands:
        line = one_error(cli(*command, str(spec), *sets, cwd=tmp_path), 2)
        assert line.startswith(f"error: --set train.from_checkpoints.60={files[label]}: train.from_checkpoints[60]:"), line
        assert "layer fc2 weight" in line and all(w in line for w in words), line
    assert not (tmp_path / "store").exists()  # nothing trained, nothing studied, nothing "done"


def test_a_file_that_is_no_checkpoint_says_so_without_internal_errors(tmp_path: Path) -> None:
    files = _checkpoints(tmp_path)
    junk = tmp_path / "passwd"
    junk.write_text("root:x:0:0:root:/root:/bin/bash\n")
    spec = write_spec(tmp_path, IMPORTED)
    line = one_error(cli("validate", str(spec), "--set", f"train.from_checkpoints.0={junk}", "--set", f"train.from_checkpoints.60={files['good']}", cwd=tmp_path), 2)
    assert f"cannot read checkpoint {junk}: not a state-dict file" in line, line
    assert "IndexError" not in line and "list index" not in line, line


STUDY_ON_NAN = """
import torch
from redundancy.engine import make_plan
from redundancy.engine.jobs import error_text
from redundancy.engine.stages import DataCache, execute_study, execute_train
from redundancy.spec.loader import load_spec
from redundancy.engine.codec import artifacts_from

plan = make_plan(load_spec("spec.yaml"))
run = plan.runs[0]
device = torch.device("cpu")
data = DataCache(device).get(run.config)
result = execute_train(run.config, data, device)
result.checkpoints[result.best_iteration]["blocks.fc1.layer.weight"][2, 1] = float("inf")
result.checkpoints[result.final_iteration]["blocks.fc1.layer.weight"][2, 1] = float("inf")
artifacts = artifacts_from(run.id, run.config, result)
for study in plan.studies:
    try:
        execute_study(study.config, artifacts, data, device)
        print(study.name, "done")
    except Exception as exc:
        print(study.name, "failed:", error_text(exc))
"""


def test_a_study_on_non_finite_weights_fails_with_one_line_naming_the_layer(tmp_path: Path) -> None:
    tail = STUDIES + "  - kind: subspace\n    layer: fc1\n    ks: [0, 1]\n    seeds: 1\n"
    write_spec(tmp_path, tiny_text(checkpoints="[30]", tail=tail))
    proc = subprocess.run(
        [sys.executable, "-c", STUDY_ON_NAN], capture_output=True, text=True, timeout=HANG_GUARD, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}, preexec_fn=_limit_memory,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["pruning", "dynamics", "subspace"], lines
    for line in lines:
        assert "failed: layer fc1 weight holds 1 non-finite value(s)" in line, line
        assert not any(word in line for word in ("IndexError", "LinAlgError", "Eigenvalues", "converge")), line


def test_a_diverging_learning_rate_is_recorded_as_diverged_and_the_grid_keeps_its_other_runs(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "grid:\n  train.lr: [0.05, 1.0e+12]\n")
    proc = cli("run", str(spec), "--device", "cpu", "--quiet", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # a stage failed: not a clean run
    assert "Traceback" not in proc.stderr
    doc = json.loads(cli("show", "--json", "store/tiny", cwd=tmp_path).stdout)
    runs = {r["name"]: r for r in doc["runs"]}
    assert runs["lr0.05"]["status"] == "done", runs
    diverged = runs["lr1000000000000.0"]
    assert diverged["status"] == "failed" and diverged["error"].startswith("diverged: training loss is"), diverged
    studies = {(s["run"], s["name"]): s["status"] for s in doc["studies"]}
    assert studies[("lr0.05", "pruning")] == studies[("lr0.05", "dynamics")] == "done", studies
    assert studies[("lr1000000000000.0", "pruning")] == "failed", studies


# --- 5: plugins that end the process -------------------------------------------------------------------


PLUGINS = {
    "exits_zero.py": "import sys\nsys.exit(0)\n\ndef build(config, input_shape, num_classes):\n    raise AssertionError\n",
    "exits_three.py": "import sys\nsys.exit(3)\n",
    "exits_in_run.py": (
        "import sys\nfrom typing import Literal\nfrom redundancy.spec.schema import StudyConfig\nfrom redundancy.studies.base import StudyKind\n\n"
        "class Config(StudyConfig):\n    kind: Literal['quitter'] = 'quitter'\n\n"
        "def run(config, ctx):\n    sys.exit(0)\n\nkind = StudyKind('quitter', Config, run)\n"
    ),
}


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name, text in PLUGINS.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("field,value,status", [
    ("model.name", "exits_zero:build", 0), ("model.name", "exits_three:build", 3), ("studies.1.kind", "exits_zero:kind", 0),
])
def test_a_plugin_that_exits_on_import_is_that_plugins_failure(tmp_path: Path, plugins: Path, field: str, value: str, status: int) -> None:
    spec = write_spec(tmp_path, SPEC)
    commands = [["validate"], ["run", "--device", "cpu", "--quiet"]] if status == 0 else [["validate"]]
    for command in commands:
        line = one_error(cli(*command, str(spec), "--set", f"{field}={value}", cwd=tmp_path, extra_path=plugins), 2)
        module = value.split(":")[0]
        assert f"cannot import module {module!r}" in line and f"it called sys.exit({status})" in line and f"(at {module}.py:2)" in line, line
    assert not (tmp_path / "store").exists()


def test_a_plugin_that_exits_while_it_runs_fails_its_stage_only(tmp_path: Path, plugins: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    proc = cli("run", str(spec), "--device", "cpu", "--quiet", "--set", "studies.1.kind=exits_in_run:kind", cwd=tmp_path, extra_path=plugins)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(cli("show", "--json", "store/tiny", cwd=tmp_path).stdout)
    studies = {s["name"]: s for s in doc["studies"]}
    assert studies["pruning"]["status"] == "done" and doc["runs"][0]["status"] == "done"
    assert studies["quitter"]["status"] == "failed" and "failed in run: it called sys.exit(0)" in studies["quitter"]["error"], studies


# --- 6: a name that is another study's default label --------------------------------------------------------


def test_a_study_named_like_another_studys_default_label_is_refused_naming_both(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    line = one_error(cli("validate", str(spec), "--set", "studies.1.name=pruning", cwd=tmp_path), 2)
    assert "--set studies.1.name=pruning: studies[1].name: name 'pruning' is also the default label of studies[0] (kind pruning" in line, line


# --- 8: runaway inputs ------------------------------------------------------------------------------------


RUNAWAY = [
    ("train.iterations=100000000000000000000000", ["train.iterations", "less than or equal to 1000000000"]),
    ("studies.0.seeds=1000000000", ["studies[0].seeds", "less than or equal to 1000"]),
    ("studies.1.restarts=100000000", ["studies[1].restarts", "less than or equal to 1000"]),
    ("train.checkpoints=[100000000000000]", ["train.checkpoints", "<= 1,000,000,000"]),
    ("model.widths=[100000000000]", ["model.widths[0]", "less than or equal to 10000000"]),
]


def test_integer_fields_have_upper_bounds_checked_in_validate(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    sets = [arg for setting, _ in RUNAWAY for arg in ("--set", setting)]
    proc = cli("validate", str(spec), *sets, cwd=tmp_path)  # each would run for ever or exhaust memory
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(RUNAWAY), errors
    for setting, words in RUNAWAY:  # each refused, naming its --set
        (line,) = [line for line in errors if line.startswith(f"error: --set {setting}:")]
        assert all(w in line for w in words), line


def test_validate_and_dry_run_of_a_100000_point_grid_finish(tmp_path: Path) -> None:
    lrs = [round(0.0001 * (i + 1), 4) for i in range(1000)]
    text = tiny_text(seed=None, seeds=list(range(100)), tail=STUDIES + f"grid:\n  train.lr: {lrs}\n")
    spec = write_spec(tmp_path, text)
    done = {}
    for command in (["validate"], ["run", "--dry-run"]):
        start = time.monotonic()
        done[command[0]] = proc = cli(*command, str(spec), cwd=tmp_path, timeout=120)
        seconds = time.monotonic() - start
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert seconds < 60, f"{command[0]}: {seconds:.1f} s"  # under 10 s on a quiet machine; this suite shares its cores
    assert "100000 run(s), 200000 study stage(s)" in done["validate"].stdout
    lines = done["run"].stdout.splitlines()
    assert len(lines) == 2 + 300_000 and lines[1].split() == ["stage", "kind", "name", "status"], lines[:3]


def test_tui_without_a_terminal_exits_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    proc = cli("tui", "store", cwd=tmp_path, timeout=60)  # stdin /dev/null, stdout a pipe: it used to draw for ever
    line = one_error(proc, 1)
    assert "tui needs a terminal" in line, line
    assert "\x1b" not in proc.stdout + proc.stderr


# --- 9: messages -------------------------------------------------------------------------------------------


def test_a_control_character_is_reported_at_its_line_or_its_set(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("name: xord", 'name: "xo\x01rd"'))
    line = one_error(cli("validate", str(spec), cwd=tmp_path), 2)
    assert line.startswith(f"error: {spec}:4:") and "control character U+0001" in line, line
    spec = write_spec(tmp_path, SPEC)
    line = one_error(cli("validate", str(spec), "--set", "data.name=x\x02y", cwd=tmp_path), 2)
    assert line.startswith("error: --set data.name=x\\x02y: data.name: control character U+0002"), line


def test_a_huge_width_is_one_line_without_a_backtrace(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    line = one_error(cli("validate", str(spec), "--set", "model.width=1e300", cwd=tmp_path), 2)
    assert line.startswith("error: --set model.width=1e300: model.width: input should be less than or equal to 1000000"), line


def test_a_misspelled_section_in_a_set_names_the_set(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    line = one_error(cli("validate", str(spec), "--set", "trian.lr=1", cwd=tmp_path), 2)
    assert line.startswith("error: --set trian.lr=1: trian: unknown field 'trian'; did you mean 'train'?"), line


def test_gc_on_a_locked_store_names_no_option_gc_lacks(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, tiny_text(iterations=20, eval_interval=10))
    assert cli("run", str(spec), "--device", "cpu", "--quiet", cwd=tmp_path).returncode == 0
    from redundancy.store.layout import LOCK

    with open(tmp_path / "store" / "tiny" / LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        gc = cli("gc", "store/tiny", cwd=tmp_path)
        run = cli("run", str(spec), "--device", "cpu", "--quiet", "--no-wait", cwd=tmp_path)
    line = one_error(gc, 3)
    assert "is being written by" in line and "--no-wait" not in line, line
    assert "leave out --no-wait" in one_error(run, 3)


WARNS = "import torch\nimport torch.nn.functional as F\nF.softmax(torch.ones(2, 2))  # no dim: torch warns\n\ndef build(request):\n    return torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))\n"


def test_library_warnings_are_one_log_line_each(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "warns.py").write_text(WARNS)
    spec = write_spec(tmp_path, SPEC.replace("  widths: [16]\n", ""))
    proc = cli("validate", str(spec), "--set", "model.name=warns:build", cwd=tmp_path, extra_path=tmp_path / "plugins")
    warned = [line for line in proc.stderr.splitlines() if "softmax" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: warns: Implicit dimension choice for softmax"), proc.stderr
    assert "UserWarning" not in proc.stderr and "F.softmax(" not in proc.stderr, proc.stderr


def test_piped_lines_never_wrap(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, tiny_text(iterations=20, eval_interval=10))
    store = tmp_path / ("a-folder-with-a-long-name-" * 4) / "tiny"
    proc = cli("run", str(spec), "--device", "cpu", "--quiet", "--store", str(store), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = [line for line in proc.stderr.splitlines() if " trained, " in line]
    assert len(summary) == 1 and summary[0].endswith(f"-> {store}") and len(summary[0]) > 120, proc.stderr


# --- surprising acceptances: validate warns --------------------------------------------------------------------


def test_validate_warns_of_what_a_spec_may_not_mean(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, tiny_text(batch_size=5000, checkpoints="[10, 500]") + "  validation: 1.0\n")
    proc = cli("validate", str(spec), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert any(f"{spec}:" in w and "train.validation: validation 1.0 is read as a count: 1 sample(s)" in w for w in warnings), warnings
    assert any("train.batch_size: batch size 5,000 is larger than the 399 training samples" in w for w in warnings), warnings
    assert any("train.checkpoints: checkpoint iteration(s) [500] are past the last iteration 60" in w for w in warnings), warnings
    quiet = cli("validate", str(write_spec(tmp_path, tiny_text() + "  validation: 1\n", "count.yaml")), cwd=tmp_path)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr  # a whole count means what it says


def test_grid_stage_ids_are_the_canonical_hashes() -> None:
    """The plan hashes a grid's runs without re-encoding what their points share: the ids must be
    exactly :func:`digest` of the canonical payloads (the stored stages' names depend on it)."""
    from redundancy.engine import make_plan
    from redundancy.engine.plan import canonical_run, canonical_study, digest
    from redundancy.spec.loader import load_text

    text = tiny_text(seed=None, seeds=[0, 1, 7], tail=STUDIES + "grid:\n  train.lr: [0.05, 0.1]\n  model.width: [1.0, 2.0]\n")
    plan = make_plan(load_text(text))
    assert len(plan.runs) == 12 and len({r.id for r in plan.runs}) == 12
    for run in plan.runs:
        assert run.id == f"train-{digest(canonical_run(run.config))}"
    for study in plan.studies:
        assert study.id == f"{study.config.kind}-{digest({'run': study.run.id, 'study': canonical_study(study.config)})}"
