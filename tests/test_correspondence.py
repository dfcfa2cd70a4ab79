"""The correspondence study's math against brute force, and the study end to end at tiny scale."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from redundancy.models import build_model
from redundancy.spec.schema import ModelConfig
from redundancy.studies.correspondence.matching import (
    assignment,
    barrier,
    correlation,
    fc_layers,
    kept_overlap,
    matched,
    permute_state,
    random_pairs,
    rank_correlation,
    specialization,
    weight_matching,
)
from redundancy.studies.correspondence.paths import evaluate_path, hidden_activations


def _brute(s: np.ndarray) -> float:
    n = s.shape[0]
    return max(sum(s[i, p[i]] for i in range(n)) for p in itertools.permutations(range(n)))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_assignment_equals_exhaustive_search(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        s = rng.standard_normal((n, n))
        perm = assignment(s)
        assert sorted(perm) == list(range(n))
        assert matched(s, perm).sum() == pytest.approx(_brute(s), abs=1e-12)


def test_weight_matching_layer_equals_exhaustive_search_given_the_previous_layer() -> None:
    # each layer's permutation maximizes its incoming objective given the previous layer's, over all 6! permutations
    net_a, net_b = _mlp([6, 5], seed=1), _mlp([6, 5], seed=2)
    a, b = net_a.state_dict(), net_b.state_dict()
    layers = fc_layers(a, net_a.names)
    perms = weight_matching(a, b, layers)
    prev = np.arange(a[layers[0].weight].shape[1])
    for layer in layers[:-1]:
        wa, wb = a[layer.weight].double().numpy(), b[layer.weight].double().numpy()[:, prev]
        s = wa @ wb.T + np.outer(a[layer.bias].double().numpy(), b[layer.bias].double().numpy())
        assert matched(s, perms[layer.name]).sum() == pytest.approx(_brute(s), abs=1e-9)
        prev = perms[layer.name]


def test_refinement_never_lowers_the_total_inner_product() -> None:
    net_a, net_b = _mlp([12, 9], seed=3), _mlp([12, 9], seed=4)
    a, b = net_a.state_dict(), net_b.state_dict()
    layers = fc_layers(a, net_a.names)

    def total(perms: dict[str, np.ndarray]) -> float:
        bb = permute_state(b, layers, perms)
        return sum(float((a[l.weight].double() * bb[l.weight].double()).sum()) for l in layers)

    once, refined = weight_matching(a, b, layers), weight_matching(a, b, layers, refine=3)
    assert total(refined) >= total(once) - 1e-9


def _mlp(widths: list[int], seed: int, inputs: int = 7, classes: int = 4) -> torch.nn.Module:
    return build_model(ModelConfig(name="mlp", widths=widths), (inputs,), classes, seed)


def _scramble(net: torch.nn.Module, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """The net's state with every hidden layer's units permuted at random, and the permutations applied."""
    rng = np.random.default_rng(seed)
    state = net.state_dict()
    layers = fc_layers(state, net.names)
    perms = {l.name: rng.permutation(state[l.weight].shape[0]) for l in layers[:-1]}
    return permute_state(state, layers, perms), perms


def test_a_permuted_network_is_matched_back_exactly_with_the_same_function_and_no_barrier() -> None:
    net = _mlp([20, 12], seed=5)
    a = net.state_dict()
    layers = fc_layers(a, net.names)
    b, perms = _scramble(net, seed=6)
    x = torch.randn(256, 7, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 4, (256,), generator=torch.Generator().manual_seed(1))
    other = _mlp([20, 12], seed=0)
    other.load_state_dict(b)
    with torch.no_grad():
        assert torch.allclose(net(x), other(x), atol=1e-5)  # a permutation does not change the function
    for found in (weight_matching(a, b, layers), weight_matching(a, b, layers, refine=2)):
        aligned = permute_state(b, layers, found)
        for k in a:
            assert torch.equal(aligned[k], a[k]), k  # weights exactly permuted back
    # activation matching on probe inputs finds the same permutations
    acts_a = hidden_activations(net, ["fc1", "fc2"], x)
    acts_b = hidden_activations(other, ["fc1", "fc2"], x)
    by_acts = {n: assignment(correlation(acts_a[n], acts_b[n])) for n in ("fc1", "fc2")}
    aligned = permute_state(b, layers, by_acts)
    assert all(torch.equal(aligned[k], a[k]) for k in a)
    other.load_state_dict(aligned)
    with torch.no_grad():
        assert torch.allclose(net(x), other(x), atol=1e-5)
    path = evaluate_path(net, a, aligned, 5, x, y)
    assert path.loss_barrier == pytest.approx(0.0, abs=1e-6) and path.error_barrier == pytest.approx(0.0, abs=1e-9)
    assert max(path.loss) - min(path.loss) < 1e-5


def test_the_barrier_of_a_network_with_itself_is_zero_and_of_two_networks_is_not_negative() -> None:
    net, other = _mlp([16], seed=7), _mlp([16], seed=8)
    x = torch.randn(200, 7, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 4, (200,), generator=torch.Generator().manual_seed(3))
    path = evaluate_path(net, net.state_dict(), net.state_dict(), 7, x, y)
    assert path.loss_barrier == pytest.approx(0.0, abs=1e-7) and path.error_barrier == 0.0
    two = evaluate_path(net, net.state_dict(), other.state_dict(), 7, x, y)
    assert two.loss_barrier >= abs(two.loss[0] - two.loss[-1]) / 2 - 1e-12
    assert two.alpha[0] == 0.0 and two.alpha[-1] == 1.0 and len(two.loss) == 7


def test_the_stacked_path_equals_networks_evaluated_one_by_one() -> None:
    net, other = _mlp([10, 6], seed=9), _mlp([10, 6], seed=10)
    x = torch.randn(100, 7, generator=torch.Generator().manual_seed(4))
    y = torch.randint(0, 4, (100,), generator=torch.Generator().manual_seed(5))
    path = evaluate_path(net, net.state_dict(), other.state_dict(), 4, x, y)
    from redundancy.studies.correspondence.matching import interpolate

    probe = _mlp([10, 6], seed=0)
    for alpha, loss, error in zip(path.alpha, path.loss, path.error):
        probe.load_state_dict(interpolate(net.state_dict(), other.state_dict(), alpha))
        with torch.no_grad():
            logits = probe(x)
        assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), abs=1e-5)
        assert error == pytest.approx(1.0 - float((logits.argmax(1) == y).double().mean()), abs=1e-12)


def test_barrier_is_the_rise_above_the_endpoints_average() -> None:
    assert barrier([1.0, 3.0, 2.0]) == pytest.approx(3.0 - 1.5)
    assert barrier([2.0, 2.0, 2.0]) == 0.0
    assert barrier([1.0, 1.5, 2.0]) == pytest.approx(0.5)  # a monotone path: |L(0) − L(1)| / 2


def test_correlation_matches_numpy_and_dead_units_correlate_zero() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((50, 3))
    x[:, 2] = 0.0
    rho = correlation(x, y)
    full = np.corrcoef(x[:, [0, 1, 3]].T, y.T)[:3, 3:]
    assert np.allclose(rho[[0, 1, 3]], full) and np.all(rho[2] == 0)


def test_the_teacher_matcher_finds_every_planted_teacher_unit_among_noise_units() -> None:
    rng = np.random.default_rng(1)
    teachers, dim = 6, 200
    w = rng.standard_normal((teachers, dim))
    # a student of 30 units: each teacher unit planted 1-3 times (scaled, some sign-flipped), the rest noise
    rows, truth = [], []
    for m in range(teachers):
        for _ in range(1 + m % 3):
            rows.append(w[m] * rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0]) + 0.05 * rng.standard_normal(dim))
            truth.append(m)
    while len(rows) < 30:
        rows.append(rng.standard_normal(dim))
        truth.append(-1)
    order = rng.permutation(30)
    student, truth_arr = np.array(rows)[order], np.array(truth)[order]
    cos = np.abs(student @ w.T) / np.outer(np.linalg.norm(student, axis=1), np.linalg.norm(w, axis=1))
    out = rng.uniform(0.1, 1.0, 30)
    spec = specialization(cos, 0.5, out)
    assert np.array_equal(spec.assigned, truth_arr)
    assert spec.covered == teachers and list(spec.count) == [1 + m % 3 for m in range(teachers)]
    for m in range(teachers):
        assert spec.share[m] == pytest.approx(out[truth_arr == m].sum() / out.sum())


def test_kept_overlap_and_rank_correlation() -> None:
    norms = np.arange(10, dtype=float)
    same = kept_overlap(norms, norms, 0.5)
    assert (same.kept, same.overlap, same.chance) == (5, 1.0, 0.5)
    opposite = kept_overlap(norms, norms[::-1].copy(), 0.5)
    assert opposite.overlap == 0.0
    ninety = kept_overlap(norms, norms, 0.9)
    assert (ninety.kept, ninety.chance) == (1, 0.1)
    assert rank_correlation(norms, norms ** 2) == pytest.approx(1.0)
    assert np.isnan(rank_correlation(norms, np.ones(10)))


def test_random_pairs_are_a_null_of_unmatched_pairs() -> None:
    s = np.eye(5)
    null = random_pairs(s, 400, np.random.default_rng(0))
    assert null.shape == (2000,) and null.mean() == pytest.approx(0.2, abs=0.05)  # a random pair is the matched one 1 in 5


# --- the study end to end --------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from redundancy.errors import SpecError  # noqa: E402
from redundancy.spec.loader import load_spec  # noqa: E402
from redundancy.store.reader import read_document  # noqa: E402
from redundancy.store.results import decode  # noqa: E402
from support.tiny import run_spec, tiny_text, write_spec  # noqa: E402

SEEDS = tiny_text("pair", seeds=[0, 1, 2], model={"widths": [12, 8]}, iterations=60, tail="""\
studies:
  - kind: correspondence
    partner: seed
    path_points: 5
    null_draws: 20
    probe_samples: 200
""")


def test_seed_pairs_depend_on_two_training_stages_and_are_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, SEEDS, "pair.yaml")
    assert not report.failed, report.failed
    # seeds 0, 1, 2 pair as (0, 1) and (1, 2): the last seed has no stage of its own
    assert [(s.run.point["seed"], s.partner.point["seed"]) for s in plan.studies] == [(0, 1), (1, 2)]
    ids = {s.id for s in plan.studies}
    assert len(ids) == 2
    doc = read_document(store.root)
    studies = [s for s in doc["studies"] if s["kind"] == "correspondence"]
    assert len(studies) == 2 and all(s["status"] == "done" for s in studies)
    first = next(s for s in plan.studies if s.run.point["seed"] == 0)
    tensors = store.read_tensors(first.id, "results")
    perm = tensors["seed0~seed1/fc1/weights/permutation"]
    assert sorted(perm.tolist()) == list(range(12))
    sim = tensors["seed0~seed1/fc1/weights/similarity"]
    assert np.allclose(np.diag(sim), tensors["seed0~seed1/fc1/weights/matched"], atol=1e-6)  # stored in matched order
    for alignment in ("none", "weights", "activations"):
        assert tensors[f"seed0~seed1/path/{alignment}/loss"].shape == (5,)
    from redundancy.store import layout as L

    attrs = store.stage(first.id).attrs
    assert attrs[L.result_attr("partner_run")] == first.partner.id and int(attrs[L.result_attr("partner_seed")]) == 1
    entry = next(s for s in studies if s["run"] == first.run.label)
    typed = decode("correspondence", entry["summary"], entry["curves"], entry.get("config"))
    paths = typed.select(section="path", pair="seed0~seed1")
    assert {c.key["alignment"] for c in paths} == {"none", "weights", "activations"}
    row = typed.rows(section="path", alignment="weights")[0]
    # the barrier is read from the stored path curve
    curve = next(c for c in paths if c.key["alignment"] == "weights")
    assert row.values["loss_barrier"] == pytest.approx(barrier(curve.series["loss"]))
    sim_rows = typed.rows(section="similarity", layer="fc1", matching="activations")
    assert sim_rows and 0.0 <= sim_rows[0].values["above_0.5"] <= 1.0
    # a second run finds everything stored: nothing is computed again
    _, _, again = run_spec(tmp_path, SEEDS, "pair.yaml")
    assert not again.trained and not again.studied


def test_partner_seed_needs_a_seed_grid(tmp_path: Path) -> None:
    text = tiny_text("lone", tail="studies:\n  - kind: correspondence\n")
    with pytest.raises(SpecError, match="list two or more seeds"):
        load_spec(write_spec(tmp_path, text))
    text = tiny_text("bad", tail="studies:\n  - kind: correspondence\n    partner: teacher\n")
    with pytest.raises(SpecError, match="teacher-student"):
        load_spec(write_spec(tmp_path, text))
    text = tiny_text("bad", tail="studies:\n  - kind: correspondence\n    partner: spawn\n")
    with pytest.raises(SpecError, match="spawn"):
        load_spec(write_spec(tmp_path, text))


SPAWN = tiny_text("spawn", model={"widths": [12]}, iterations=60, checkpoints=[20], tail="""\
studies:
  - kind: correspondence
    partner: spawn
    spawn: {iterations: [0, 20, 30], copies: 2}
    matching: [weights]
    path_points: 3
    null_draws: 5
""")


def test_spawned_copies_give_a_barrier_per_rewind_iteration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, SPAWN, "spawn.yaml")
    assert not report.failed, report.failed
    entry = next(s for s in read_document(store.root)["studies"] if s["kind"] == "correspondence")
    typed = decode("correspondence", entry["summary"], entry["curves"], entry.get("config"))
    (none,) = typed.select(section="stability", alignment="none")
    assert none.series["rewind_iteration"] == [0, 20, 30] and len(none.seeds["loss_barrier"]) == 3
    assert all(b >= 0 for b in none.series["loss_barrier"])
    assert {r.key["rewind"] for r in typed.rows(section="stability")} == {0, 20, 30}
    tensors = store.read_tensors(plan.studies[0].id, "results")
    assert "rewind30_0~1/path/weights/loss" in tensors  # iteration 30 was not kept: the run was trained again to keep it


TEACHER = tiny_text(
    "ts", data={"name": "teacher-student", "input_dim": 20, "train_samples": 600, "test_samples": 200},
    model={"widths": [8]}, iterations=60, tail="""\
studies:
  - kind: correspondence
    partner: teacher
    probe_samples: 300
""").replace("  input_dim: 20\n", "  input_dim: 20\n  teacher_width: 2\n")


def test_teacher_partner_counts_students_per_teacher_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, TEACHER, "ts.yaml")
    assert not report.failed, report.failed
    entry = next(s for s in read_document(store.root)["studies"] if s["kind"] == "correspondence")
    typed = decode("correspondence", entry["summary"], entry["curves"], entry.get("config"))
    for matching in ("weights", "activations"):
        (row,) = typed.rows(section="teacher", matching=matching)
        assert row.key["layer"] == "fc1" and row.values["teacher_units"] == 2 and row.values["student_units"] == 8
        (curve,) = typed.select(section="teacher", matching=matching)
        assert sum(curve.series["students"]) == round(row.values["specialized_fraction"] * 8)
        assert row.values["students_per_teacher_unit"] == pytest.approx(sum(curve.series["students"]) / 2)
    tensors = store.read_tensors(plan.studies[0].id, "results")
    assert tensors["teacher/weights/similarity"].shape == (8, 2)


def test_a_pair_stage_id_hashes_both_runs_and_leaves_every_other_id_alone(tmp_path: Path) -> None:
    from redundancy.engine import make_plan

    def plan_of(seeds: list[int], extra: str = "") -> object:
        text = tiny_text("ids", seeds=seeds, tail=f"studies:\n  - kind: pruning\n    layer: fc1\n  - kind: correspondence\n{extra}")
        return make_plan(load_spec(write_spec(tmp_path, text, f"ids{len(seeds)}{seeds[-1]}.yaml")))

    a, b = plan_of([0, 1]), plan_of([0, 2])
    pair_a = [s for s in a.studies if s.config.kind == "correspondence"]
    pair_b = [s for s in b.studies if s.config.kind == "correspondence"]
    assert len(pair_a) == len(pair_b) == 1
    assert pair_a[0].run.id == pair_b[0].run.id and pair_a[0].partner.id != pair_b[0].partner.id
    assert pair_a[0].id != pair_b[0].id  # the same run, another partner: another stage
    # the pruning study of seed 0 is the same stage in both plans, as it was before pairs existed
    prune = lambda p: [s.id for s in p.studies if s.config.kind == "pruning"]  # noqa: E731
    assert prune(a)[0] == prune(b)[0]


@pytest.mark.parametrize("chain", [False, True])
def test_a_failed_partner_fails_the_pair_and_a_chaining_executor_runs_pairs_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain: bool
) -> None:
    import redundancy.engine.jobs as jobs
    from redundancy.engine.driver import drive
    from redundancy.engine.executors import LocalExecutor
    from redundancy.engine import make_plan
    from redundancy.store import Store

    real = jobs.execute_train

    def flaky(run: object, *args: object, **kwargs: object) -> object:
        if run.seed == 2:  # type: ignore[attr-defined]
            raise ZeroDivisionError("boom")
        return real(run, *args, **kwargs)

    class Chaining(LocalExecutor):
        chain_studies = chain

    monkeypatch.setattr(jobs, "execute_train", flaky)
    text = tiny_text("fail", seeds=[0, 1, 2], iterations=20, tail="studies:\n  - {kind: correspondence, path_points: 3, null_draws: 2}\n  - {kind: dynamics}\n")
    plan = make_plan(load_spec(write_spec(tmp_path, text)))
    report = drive(plan, Store(tmp_path / "store"), Chaining(), device="cpu")
    failed = {f.label: f.error for f in report.failed}
    assert set(failed) == {"train seed2", "dynamics seed2/dynamics", "correspondence seed1/correspondence"}
    assert "its run seed2 failed" in failed["correspondence seed1/correspondence"]
    studied = {s.id for s in plan.studies if s.config.kind == "correspondence" and s.run.point["seed"] == 0}
    assert studied <= set(report.studied) and len(report.studied) == 3  # the (0, 1) pair and two dynamics studies
