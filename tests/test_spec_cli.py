"""Specs that used to pass ``validate`` and then fail in ``run``, bounded reading, and the command line's habits.

Every case runs the real command (``python -m redundancy`` in a subprocess where a hang or an
import matters, typer's ``CliRunner`` otherwise) on a real spec file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.engine import make_plan
from redundancy.errors import SpecError
from redundancy.spec.loader import MAX_GRID_POINTS, load_spec
from support.tiny import tiny_text, write_spec

GOOD = tiny_text()
HANG_GUARD = 120  # seconds: a hang guard for the subprocess, not a timing assertion


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "redundancy", *args], capture_output=True, text=True, timeout=HANG_GUARD, cwd=cwd, env=env
    )


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_readme_broken_example_reports_both_problems(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "name: broken\ndata:\n  name: mnits\ntrain:\n  iteration: 100\n")
    code, output = invoke("validate", str(spec))
    assert code == 2, output
    assert f"{spec}:3:9: data.name: unknown dataset 'mnits'; did you mean 'mnist'?" in output
    assert f"{spec}:5:3: train.iteration: unknown field 'iteration'; did you mean 'iterations'?" in output
    assert output.index("data.name") < output.index("train.iteration"), "problems are sorted by line"
    assert "Traceback" not in output


# (label, spec text, "line:column: field path" expected, words in the message)
RUN_FAILURES = [
    ("name of 300 characters", GOOD.replace("name: tiny", "name: " + "a" * 300), "1:7: name", ["at most 100 characters"]),
    ("seed of 10^23", GOOD.replace("seed: 0", "seed: 100000000000000000000000"), "2:7: seed", ["less than or equal to 9223372036854775807"]),
    ("seed of 2^63", GOOD.replace("seed: 0", f"seed: {2**63}"), "2:7: seed", ["less than or equal to"]),
    ("negative seed in seeds", tiny_text(seeds=[0, -1]), "2:12: seeds[1]", ["greater than or equal to 0"]),
    ("study kind is a list", GOOD + "studies: [{kind: [a, b]}]\n", "16:18: studies[0].kind", ["unknown study kind ['a', 'b']"]),
    ("validation larger than the pool", GOOD.replace("name: xord", "name: mnist-5k").replace("  input_dim: 3\n", "").replace("  train_samples: 400\n  test_samples: 200\n", "") + "  validation: 5000\n", "13:15: train.validation", ["holds out 5000 samples", "only 4000"]),
    ("infinite learning rate", GOOD.replace("lr: 0.05", "lr: .inf"), "14:7: train.lr", ["finite number"]),
    ("nan noise", GOOD.replace("name: xord", "name: xord\n  noise: .nan"), "5:10: data.noise", ["finite number"]),
    ("unknown dataset in a grid", GOOD + "grid:\n  data.name: [xord, mnits]\n", "17:21: grid.data.name[1]", ["unknown dataset 'mnits'"]),
    ("unsafe study name", GOOD + "studies:\n  - kind: pruning\n    layer: fc1\n    name: ../up\n", "19:11: studies[0].name", ["pattern"]),
    ("train_samples beyond the pool", GOOD.replace("name: xord", "name: mnist-5k").replace("  input_dim: 3\n", "").replace("train_samples: 400", "train_samples: 3900").replace("  test_samples: 200\n", ""), "5:18: data.train_samples", ["3600 training samples"]),
]


@pytest.mark.parametrize("label,text,at,words", RUN_FAILURES, ids=[c[0] for c in RUN_FAILURES])
def test_validate_reports_what_run_used_to_crash_on(tmp_path: Path, label: str, text: str, at: str, words: list[str]) -> None:
    spec = write_spec(tmp_path, text)
    code, output = invoke("validate", str(spec))
    assert code == 2, f"{label}: {output}"
    lines = [line for line in output.splitlines() if line.startswith(f"error: {spec}:{at}:")]
    assert lines, f"{label}: no problem at {at}: {output}"
    for word in words:
        assert word in lines[0], f"{label}: {word!r} not in {lines[0]!r}"
    assert "Traceback" not in output


def test_bad_grid_key_is_one_problem(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GOOD + "grid:\n  model.widht: [1, 2]\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert len(info.value.problems) == 1, info.value.problems
    assert "did you mean 'width'" in str(info.value.problems[0]) and info.value.problems[0].line == 17


def test_checkpoints_zero_means_none(tmp_path: Path) -> None:
    plain = make_plan(load_spec(write_spec(tmp_path, GOOD, "a.yaml")))
    zero = make_plan(load_spec(write_spec(tmp_path, GOOD + "  checkpoints: 0\n", "b.yaml")))
    assert [s.id for s in plain.stages] == [s.id for s in zero.stages]
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, GOOD + "  checkpoints: 3\n", "c.yaml"))
    (problem,) = info.value.problems
    assert "or 0 for no extra checkpoints" in problem.message


def test_duplicate_grid_points_are_merged_with_a_warning(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, tiny_text(seeds=[0, 0]) + "grid:\n  model.width: [0.25, 0.250, 1]\n")
    resolved = load_spec(spec)
    assert len(resolved.points) == 2
    assert len({s.id for s in make_plan(resolved).runs}) == 2
    first, second = resolved.warnings
    assert first.line == 17 and "grid points 1, 2, 3, 4 (width0.25_seed0) are the same run" in first.message
    assert "grid points 5, 6 (width1_seed0)" in second.message
    code, output = invoke("validate", str(spec))
    assert code == 0 and "warning:" in output and "2 run(s)" in output, output


def test_grid_over_the_bound_is_refused_with_its_count(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GOOD + "grid:\n  seed: " + str(list(range(1000))) + "\n  model.width: " + str([1 + i for i in range(101)]) + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert f"the grid has 101,000 points; at most {MAX_GRID_POINTS:,}" in str(info.value)


def _billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return "name: laughs\n" + "\n".join(lines) + "\n"


BOUNDED = [
    ("billion laughs", _billion_laughs(), ["expands to more than"], True),
    ("5,000-deep nesting", "name: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n", ["nests deeper than"], True),
    ("5,000-deep mappings", "name: deep\nx: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", ["nests deeper than"], True),
    ("log:1000000000", GOOD + "  checkpoints: log:1000000000\n", ["'log:N' with 1 <= N <= 10000"], False),
    ("2 MiB spec", GOOD + "# " + "x" * (2 * 2**20) + "\n", ["MiB; at most 1024 KiB"], True),
]


@pytest.mark.parametrize("label,text,words,before_torch", BOUNDED, ids=[c[0] for c in BOUNDED])
def test_bounded_input_exits_2(tmp_path: Path, label: str, text: str, words: list[str], before_torch: bool) -> None:
    spec = write_spec(tmp_path, text)
    proc = cli("validate", str(spec))
    assert proc.returncode == 2, f"{label}: {proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, f"{label}: {word!r} not in {proc.stderr!r}"
    line = proc.stderr.splitlines()[0]
    assert line.startswith(f"error: {spec}"), line
    if before_torch:  # refused while reading: torch was never imported
        probe = (
            "import sys\nfrom redundancy.errors import SpecError\nfrom redundancy.spec.loader import load_spec\n"
            f"try:\n    load_spec({str(spec)!r})\nexcept SpecError:\n    pass\nprint('torch' in sys.modules)\n"
        )
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=HANG_GUARD, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_bounds_name_the_line(tmp_path: Path) -> None:
    text = "name: deep\nsettings:\n  x: " + "[" * 200 + "]" * 200 + "\n"
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    (problem,) = info.value.problems
    assert problem.line == 3 and "nests deeper" in problem.message


def test_set_overrides_are_file_edits(tmp_path: Path) -> None:
    base = GOOD + "grid:\n  model.width: [0.5, 1]\n"
    edited = base.replace("iterations: 60", "iterations: 100").replace("seed: 0", "seed: 7").replace("[0.5, 1]", "[0.25, 2]")
    by_file = make_plan(load_spec(write_spec(tmp_path, edited, "edited.yaml")))
    by_set = make_plan(load_spec(write_spec(tmp_path, base, "base.yaml"), ["train.iterations=100", "seed=7", "grid.model.width=[0.25, 2]"]))
    assert [(s.id, getattr(s, "label", "")) for s in by_set.stages] == [(s.id, getattr(s, "label", "")) for s in by_file.stages]
    assert "# --set train.iterations=100" in by_set.spec_text


def test_set_problem_points_at_the_override(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, GOOD)
    code, output = invoke("validate", str(spec), "--set", "train.iterations=-5", "--set", "train.lrr=1")
    assert code == 2, output
    assert "error: --set train.iterations=-5: train.iterations: input should be greater than or equal to 1" in output
    assert "error: --set train.lrr=1: train.lrr: unknown field 'lrr'; did you mean 'lr'?" in output
    code, output = invoke("validate", str(spec), "--set", "train.iterations")
    assert code == 2 and "expected PATH=VALUE" in output, output


def test_width_too_large_warns_in_validate_and_stops_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, GOOD.replace("widths: [16]", "widths: [16]\n  width: 1.0e6"))
    code, output = invoke("validate", str(spec))
    assert code == 0, output
    assert f"warning: {spec}:11:10: model.width: one run of model 'mlp' (width 1e+06)" in output and "GiB" in output
    code, output = invoke("run", str(spec), "--device", "cpu")
    assert code == 2, output
    assert "needs about" in output and not (tmp_path / "store").exists()


def test_missing_data_warns_in_validate_and_stops_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    text = "name: nodata\ndata:\n  name: mnist\n  root: empty\n  download: false\ntrain:\n  iterations: 10\n"
    spec = write_spec(tmp_path, text)
    code, output = invoke("validate", str(spec))
    assert code == 0, output
    assert f"warning: {spec}:3:9: data.name: MNIST is not available" in output and "mnist-5k" in output
    code, output = invoke("run", str(spec), "--device", "cpu")
    assert code == 2, output
    assert "MNIST is not available" in output and not (tmp_path / "store").exists()


def test_device_typo_is_one_line(tmp_path: Path) -> None:
    proc = cli("run", "--device", "gpu", str(write_spec(tmp_path, GOOD)), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: --device 'gpu' is not a device (expected auto, cpu, cuda or cuda:N)"
    assert not (tmp_path / "store").exists()


def test_version_and_short_help() -> None:
    from redundancy import __version__

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"redundancy {__version__}"
    proc = cli("-h")
    assert proc.returncode == 0 and "validate" in proc.stdout and "--install-completion" in proc.stdout
    code, output = invoke("run", "-h")
    assert code == 0
    assert "--set PATH=VALUE" in output and "SPEC..." in output
    assert "<bool>" not in output and "--force " in output  # flags print as flags


def test_unexpected_error_is_one_line_unless_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import redundancy.spec.loader as loader

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero somewhere deep")

    monkeypatch.setattr(loader, "load_spec", broken)
    spec = str(write_spec(tmp_path, GOOD))
    result = CliRunner().invoke(app, ["validate", spec])
    assert result.exit_code == 1
    assert result.output.strip() == "error: ZeroDivisionError: division by zero somewhere deep (run with --debug for the traceback)"
    result = CliRunner().invoke(app, ["--debug", "validate", spec])
    assert isinstance(result.exception, ZeroDivisionError)


def test_several_specs_run_into_one_parent_folder(tmp_path: Path) -> None:
    a = write_spec(tmp_path, tiny_text("first", iterations=10, eval_interval=5), "a.yaml")
    b = write_spec(tmp_path, tiny_text("second", iterations=10, eval_interval=5), "b.yaml")
    code, output = invoke("run", str(a), str(b), "--store", str(tmp_path / "stores"), "--device", "cpu", "--quiet")
    assert code == 0, output
    assert (tmp_path / "stores" / "first" / "index.h5").is_file() and (tmp_path / "stores" / "second" / "index.h5").is_file()
    bad = write_spec(tmp_path, tiny_text("third").replace("iterations: 60", "iterations: 0"), "c.yaml")
    code, output = invoke("run", str(a), str(bad), "--store", str(tmp_path / "more"), "--device", "cpu", "--quiet")
    assert code == 2 and f"{bad}:" in output, output
    assert not (tmp_path / "more").exists(), "a bad spec among several: nothing runs"


def test_shell_completion_offers_set_field_names() -> None:
    def complete(words: str) -> list[str]:
        env = {"_REDUNDANCY_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        result = CliRunner().invoke(app, [], prog_name="redundancy", env=env)
        assert result.exit_code == 0, result.output
        return result.output.split()

    assert complete("redundancy run spec.yaml --set train.it") == ["train.iterations="]
    offered = complete("redundancy validate spec.yaml --set data.")
    assert "data.preprocess.scale=" in offered and "data.split.train=" in offered
    assert not any("plugin" in o or "sha256" in o for o in offered)  # fields only the loader sets are not offered
