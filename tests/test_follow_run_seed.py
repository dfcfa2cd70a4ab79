"""``follow_run_seed``: pruning's random orders and subspace's random bases follow the run's seed when asked,
and stay what earlier versions drew (and keep their stage ids) when not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redundancy.engine.plan import StudyStage, make_plan
from redundancy.spec.loader import load_spec
from support.tiny import run_spec, tiny_text, write_spec

STUDIES = """\
studies:
  - kind: pruning
    criteria: [random]
    seeds: 2
{extra}  - kind: subspace
    basis: random
    seeds: 2
    ks: [0, 2]
{extra}"""


def _draws(tmp_path: Path, follow: bool) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per run seed: the pruning study's random orders and the subspace study's basis seeds."""
    extra = "    follow_run_seed: true\n" if follow else ""
    tmp_path.mkdir()
    text = tiny_text("draws", seeds=[0, 1], seed=None, iterations=20, tail=STUDIES.format(extra=extra))
    plan, store, report = run_spec(tmp_path, text, "draws.yaml", workers=1)
    assert not report.failed, report.failed
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for run in plan.runs:
        pruning, subspace = [s for s in plan.studies if s.run.id == run.id]
        orders = store.read_tensors(pruning.id, "results")["fc1@best/random/order"]
        seeds = store.read_tensors(subspace.id, "results")["fc1@final/update/random/basis_seed"]
        out[run.config.seed] = (orders, seeds)
    return out


def test_draws_follow_the_run_seed_only_when_asked(tmp_path: Path) -> None:
    fixed = _draws(tmp_path / "fixed", follow=False)
    assert np.array_equal(fixed[0][0], fixed[1][0]) and fixed[0][1].tolist() == fixed[1][1].tolist() == [0, 1]
    rng = np.random.default_rng([0, 1])  # the documented derivation of order 1 without the field
    assert fixed[0][0][1].tolist() == rng.permutation(16).tolist()
    following = _draws(tmp_path / "following", follow=True)
    assert not np.array_equal(following[0][0], following[1][0])
    assert following[0][1].tolist() != following[1][1].tolist()
    assert not np.array_equal(following[0][0][0], following[0][0][1])  # still distinct orders within a run


@pytest.mark.parametrize("kind", ["pruning", "subspace"])
def test_the_default_leaves_the_identity_alone(tmp_path: Path, kind: str) -> None:
    def study(name: str, extra: str) -> StudyStage:
        return make_plan(load_spec(write_spec(tmp_path, tiny_text(tail=f"studies:\n  - kind: {kind}\n{extra}"), name))).studies[0]

    plain, off, on = study("a.yaml", ""), study("b.yaml", "    follow_run_seed: false\n"), study("c.yaml", "    follow_run_seed: true\n")
    assert plain.id == off.id and plain.identity == off.identity and on.id != plain.id
    assert on.identity == {**plain.identity, "follow_run_seed": True}
