"""The environment: what the lock installs, what every stage records of where it was computed, and
how a store whose stages were computed under different environments is flagged everywhere.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from support.tiny import tiny_text, write_spec

from redundancy.engine.stages import current_environment
from redundancy.store import layout as L
from redundancy.store.environment import differences, mixes
from redundancy.store.files import content_checksum

ROOT = Path(__file__).resolve().parents[1]
STUDY = "studies:\n  - kind: dynamics\n    layers: [fc1]\n"


def _locked(path: Path) -> dict[str, str]:
    """``name -> version`` of every package a pip-compile lock pins (names normalized as PEP 503 says)."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", path.read_text(), flags=re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def _installed() -> dict[str, str]:
    out = {}
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name and name not in ("pip", "redundancy"):  # the installer (requirements/pip.lock) and the project itself
            out[name] = dist.version
    return out


@pytest.mark.skipif(
    not os.environ.get("REDUNDANCY_LOCK"),
    reason="the suite runs outside make test's locked .venv (make test sets REDUNDANCY_LOCK): your own versions are allowed there",
)
def test_the_virtual_environment_holds_exactly_the_lock() -> None:
    lock = _locked(ROOT / os.environ["REDUNDANCY_LOCK"])
    installed = _installed()
    assert installed == lock, {
        "missing": sorted(set(lock) - set(installed)),
        "not locked": sorted(set(installed) - set(lock)),
        "other version": sorted(f"{n} {installed[n]} != {lock[n]}" for n in set(lock) & set(installed) if installed[n] != lock[n]),
    }


def test_the_dev_lock_extends_the_runtime_lock_with_the_same_versions() -> None:
    runtime, dev = _locked(ROOT / "requirements" / "runtime.lock"), _locked(ROOT / "requirements" / "dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert {"pytest", "ray", "submitit"} <= set(dev) - set(runtime)
    assert runtime["torch"] == "2.14.1" and runtime["torchvision"] == "0.29.1"
    text = (ROOT / "requirements" / "runtime.lock").read_text()
    assert "--hash=sha256:" in text and "/opt" not in text and "file://" not in text  # hashes, no machine's paths


def test_every_declared_dependency_is_locked() -> None:
    """A dependency added to pyproject.toml without `make lock` would install unpinned: the lock must name it."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _locked(ROOT / "requirements" / "runtime.lock"), _locked(ROOT / "requirements" / "dev.lock")

    def name(requirement: str) -> str:
        return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)).lower()

    assert not [r for r in project["dependencies"] if name(r) not in runtime]
    assert not [r for r in project["optional-dependencies"]["dev"] if name(r) not in dev]


def _run(spec: Path, store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "redundancy", "run", str(spec), "--store", str(store), "--quiet", "--device", "cpu", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _as_if_computed_under(path: Path, **attrs: str) -> None:
    """Rewrite a stage file's provenance as another environment would have written it (checksum included)."""
    with h5py.File(path, "r+") as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs[L.A_CHECKSUM] = content_checksum(f)


@pytest.fixture()
def mixed_store(tmp_path: Path) -> tuple[Path, Path]:
    spec = write_spec(tmp_path, tiny_text("mixed", tail=STUDY))
    store = tmp_path / "store"
    done = _run(spec, store)
    assert done.returncode == 0, done.stderr
    (study,) = (store / "stages").glob("dynamics-*.h5")
    _as_if_computed_under(study, torch_version="2.11.0", numpy_version="2.3.1")
    return spec, store


def test_every_stage_records_the_whole_fingerprint(mixed_store: tuple[Path, Path]) -> None:
    _, store = mixed_store
    (train,) = (store / "stages").glob("train-*.h5")
    with h5py.File(train, "r") as f:
        attrs = dict(f.attrs)
    for key in L.BIT_IDENTITY:
        assert str(attrs[key]), key
    import numpy

    assert attrs[L.A_NUMPY_VERSION] == numpy.__version__ and attrs[L.A_H5PY_VERSION] == h5py.__version__
    assert attrs[L.A_NUMPY_BLAS_CORETYPE] and attrs[L.A_NUMPY_BLAS].split()[0] in ("openblas", "mkl", "blis", "accelerate", "unknown")
    assert differences({k: str(attrs[k]) for k in L.ENVIRONMENT}, current_environment()) == {}


def test_run_names_stages_cached_under_another_environment_and_refresh_env_recomputes_them(mixed_store: tuple[Path, Path]) -> None:
    spec, store = mixed_store
    again = _run(spec, store)
    assert again.returncode == 0, again.stderr
    line = "1 stage cached under torch 2.11.0 + NumPy 2.3.1; `--refresh-env` recomputes them"
    assert line in again.stderr, again.stderr
    assert "0 trained, 0 studies run, 2 cached" in again.stderr
    refreshed = _run(spec, store, "--refresh-env")
    assert refreshed.returncode == 0, refreshed.stderr
    assert "recomputing 1 stage cached under torch 2.11.0 + NumPy 2.3.1 (--refresh-env)" in refreshed.stderr
    assert "0 trained, 1 studies run, 1 cached" in refreshed.stderr
    shown = subprocess.run([sys.executable, "-m", "redundancy", "show", str(store)], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "different environments" not in shown.stderr


def test_show_ls_tui_and_report_flag_a_mixed_store(mixed_store: tuple[Path, Path], tmp_path: Path) -> None:
    _, store = mixed_store
    here = current_environment()
    torch_line = f"torch: 2.11.0 (1 stage), {here[L.A_TORCH_VERSION]} (1 stage)"
    numpy_line = f"NumPy: 2.3.1 (1 stage), {here[L.A_NUMPY_VERSION]} (1 stage)"
    env = {**os.environ, "COLUMNS": "300"}
    for cmd in (["show", str(store)], ["ls", str(store)]):
        done = subprocess.run([sys.executable, "-m", "redundancy", *cmd], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert "warning:" in done.stderr and "stages computed under different environments" in done.stderr, (cmd, done.stderr)
        assert torch_line in done.stderr and numpy_line in done.stderr, done.stderr
    shown = subprocess.run([sys.executable, "-m", "redundancy", "show", str(store), "--json"], capture_output=True, text=True, timeout=120)
    import json

    assert json.loads(shown.stdout)["mixed_environments"] == [torch_line, numpy_line]

    from redundancy.tui import details, source

    detail = details.store_detail(source.list_store(store))
    assert torch_line in detail.message and numpy_line in detail.message

    from redundancy.report import build_report

    build_report([store], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Mixed environments: stages computed under different environments" in text and torch_line in text


def test_missing_fields_are_unknown_not_different() -> None:
    """A stage written before a field was recorded does not mark its store as mixed for that field."""
    old = {L.A_TORCH_VERSION: "2.14.1"}
    new = {L.A_TORCH_VERSION: "2.14.1", L.A_NUMPY_VERSION: "2.4.6"}
    assert mixes([old, new]) == []
    assert [m.line() for m in mixes([old, {**new, L.A_TORCH_VERSION: "2.15.0"}])] == ["torch: 2.14.1 (1 stage), 2.15.0 (1 stage)"]
