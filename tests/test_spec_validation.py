"""Malformed specs: each gets one clear message naming the field, the line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.errors import SpecError
from redundancy.spec.loader import load_spec
from support.tiny import write_spec

GOOD = """\
name: tiny
seed: 0
data:
  name: xord
model:
  name: mlp
  widths: [8]
train:
  iterations: 10
  batch_size: 16
"""

# (label, spec text, expected field path in the message, expected line, expected words)
CASES = [
    ("unknown top-level key", GOOD + "studys: []\n", "studys", 11, ["unknown field", "did you mean 'studies'"]),
    ("misspelled train key", GOOD.replace("iterations: 10", "iteration: 10"), "train.iteration", 9, ["did you mean 'iterations'"]),
    ("misspelled model key", GOOD.replace("widths: [8]", "widht: 1"), "model.widht", 7, ["did you mean 'width'"]),
    ("negative iterations", GOOD.replace("iterations: 10", "iterations: -5"), "train.iterations", 9, ["greater than or equal to 1", "-5"]),
    ("iterations not a number", GOOD.replace("iterations: 10", "iterations: many"), "train.iterations", 9, ["integer", "'many'"]),
    ("zero batch size", GOOD.replace("batch_size: 16", "batch_size: 0"), "train.batch_size", 10, ["greater than or equal to 1"]),
    ("unknown optimizer", GOOD + "  optimizer: rmsprop\n", "train.optimizer", 11, ["'sgd'", "'adam'", "rmsprop"]),
    ("negative lr", GOOD + "  lr: -0.1\n", "train.lr", 11, ["greater than 0"]),
    ("momentum of one", GOOD + "  momentum: 1.0\n", "train.momentum", 11, ["less than 1"]),
    ("bad checkpoint spec", GOOD + "  checkpoints: every:5\n", "train.checkpoints", 11, ["log:N"]),
    ("negative checkpoint", GOOD + "  checkpoints: [0, -3]\n", "train.checkpoints", 11, [">= 0"]),
    ("bad graph mode", GOOD + "  graph: maybe\n", "train.graph", 11, ["'auto'", "maybe"]),
    ("zero validation", GOOD + "  validation: 0\n", "train.validation", 11, ["greater than 0"]),
    ("unknown dataset", GOOD.replace("name: xord", "name: mnits"), "data.name", 4, ["unknown dataset", "mnist"]),
    ("unknown model", GOOD.replace("name: mlp", "name: lenet"), "model.name", 6, ["unknown model", "lenet_300_100"]),
    ("zero width", GOOD.replace("widths: [8]", "width: 0"), "model.width", 7, ["greater than 0"]),
    ("widths on a non-mlp", GOOD.replace("name: mlp", "name: lenet_300_100"), "model.widths", 7, ["'mlp' only"]),
    ("bad init", GOOD.replace("widths: [8]", "widths: [8]\n  init: xavier"), "model.init", 8, ["'glorot_normal'", "xavier"]),
    ("missing name", GOOD.replace("name: tiny\n", ""), "name", None, ["required field 'name'"]),
    ("bad store name", GOOD.replace("name: tiny", "name: 'a b/c'"), "name", 1, ["pattern"]),
    ("seed not an int", GOOD.replace("seed: 0", "seed: zero"), "seed", 2, ["integer", "'zero'"]),
    ("data not a mapping", GOOD.replace("data:\n  name: xord\n", "data: xord\n"), "data", 3, ["dictionary", "xord"]),
    ("studies not a list", GOOD + "studies: pruning\n", "studies", 11, ["list of studies"]),
    ("study without kind", GOOD + "studies:\n  - layer: fc1\n", "studies[0]", 12, ["'kind' is missing"]),
    ("unknown study kind", GOOD + "studies:\n  - kind: pruneing\n", "studies[0].kind", 12, ["unknown study kind"]),
    ("grid on unknown section", GOOD + "grid:\n  modl.width: [1, 2]\n", "grid.modl.width", 12, ["grid axis", "did you mean 'model'"]),
    ("grid value invalid", GOOD + "grid:\n  model.width: [1, -2]\n", "grid.model.width[1]", 12, ["greater than 0", "-2"]),
    ("grid not a list", GOOD + "grid:\n  seed: 3\n", "grid.seed", 12, ["list"]),
    ("duplicate key", GOOD + "seed: 1\n", "seed", 11, ["appears twice"]),
    ("yaml syntax error", GOOD + "train: [unclosed\n", "", None, ["invalid YAML"]),
    ("top level is a list", "- name: tiny\n", "", 1, ["mapping"]),
    ("teacher width zero", GOOD.replace("name: xord", "name: xord\n  teacher_width: 0"), "data.teacher_width", 5, ["greater than or equal to 1"]),
]


def test_good_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, GOOD)).spec
    assert spec.name == "tiny" and spec.model.widths == [8]


REAL_CASES = CASES


@pytest.mark.parametrize("label,text,path,line,words", REAL_CASES, ids=[c[0] for c in REAL_CASES])
def test_malformed_spec_message(tmp_path: Path, label: str, text: str, path: str, line: int | None, words: list[str]) -> None:
    spec_file = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    messages = [str(p) for p in info.value.problems]
    matching = [m for m in messages if (f": {path}: " in m if path else True)]
    assert matching, f"{label}: no problem names {path!r}: {messages}"
    message = matching[0]
    assert message.startswith(str(spec_file)), message
    if line is not None:
        assert message.startswith(f"{spec_file}:{line}:"), message
    for word in words:
        assert word in message, f"{label}: {word!r} not in {message!r}"


def test_at_least_25_distinct_malformed_specs() -> None:
    assert len({c[1] for c in REAL_CASES}) >= 25


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec("/nonexistent/spec.yaml")


def test_several_problems_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("iterations: 10", "iterations: -1").replace("batch_size: 16", "batch_sise: 16")
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    paths = {p.path for p in info.value.problems}
    assert {"train.iterations", "train.batch_sise"} <= paths


def test_safe_loader_only(tmp_path: Path) -> None:
    text = GOOD + "evil: !!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    assert "invalid YAML" in str(info.value)


def test_cli_validate_bad_spec_exits_2_without_traceback(tmp_path: Path) -> None:
    spec_file = write_spec(tmp_path, GOOD.replace("iterations: 10", "iterashuns: 10"))
    result = CliRunner().invoke(app, ["validate", str(spec_file)])
    assert result.exit_code == 2
    text = result.output
    assert "train.iterashuns" in text and "did you mean 'iterations'" in text
    assert "Traceback" not in text


def test_cli_run_bad_spec_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec_file = write_spec(tmp_path, GOOD.replace("name: xord", "name: nope"))
    result = CliRunner().invoke(app, ["run", str(spec_file)])
    assert result.exit_code == 2
    assert not (tmp_path / "store").exists()


def test_cli_validate_good_spec(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(write_spec(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
