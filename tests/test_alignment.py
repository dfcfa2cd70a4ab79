"""Alignment of a matrix with a layer's inputs (ρ) against brute force and closed forms, and the
subspace study's opt-in ``alignment`` end to end (Linear and Conv inputs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from redundancy.cli import app
from redundancy.engine.plan import canonical_study
from redundancy.models import build_model
from redundancy.spec.schema import ModelConfig
from redundancy.studies.subspace.alignment import (
    alignment,
    alignment_along,
    centred_moment,
    data_span_alignment,
    expected_data_span_alignment,
    input_rows,
    second_moment,
    span_position,
)
from redundancy.studies.subspace.study import SubspaceConfig, layer_input_moment
from redundancy.studies.subspace.linalg import left_singular, ordered_basis, projected_weight
from redundancy.store.reader import read_document
from support.tiny import run_spec, tiny_text


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _brute_rho(r: torch.Tensor, x: torch.Tensor) -> float:
    """m ‖R Xᵀ‖²_F / (‖R‖²_F ‖X‖²_F), formed literally."""
    m = r.shape[1]
    return m * float((r @ x.T).norm() ** 2) / (float(r.norm() ** 2) * float(x.norm() ** 2))


def test_rho_equals_brute_force_and_is_scale_free() -> None:
    gen = _gen(0)
    r = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    x = torch.randn(30, 8, generator=gen, dtype=torch.float64) * torch.linspace(0.1, 3, 8, dtype=torch.float64)
    assert alignment(r, x) == pytest.approx(_brute_rho(r, x), rel=1e-12)
    assert alignment(3.0 * r, 0.5 * x) == pytest.approx(alignment(r, x), rel=1e-12)


def test_rank_one_closed_form() -> None:
    """R = u vᵀ: ρ = m ‖X v‖² / (‖v‖² ‖X‖²_F), whatever u."""
    gen = _gen(1)
    u = torch.randn(6, generator=gen, dtype=torch.float64)
    v = torch.randn(9, generator=gen, dtype=torch.float64)
    x = torch.randn(40, 9, generator=gen, dtype=torch.float64) @ torch.randn(9, 9, generator=gen, dtype=torch.float64)
    expected = 9 * float((x @ v).norm() ** 2) / (float(v.norm() ** 2) * float(x.norm() ** 2))
    assert alignment(torch.outer(u, v), x) == pytest.approx(expected, rel=1e-12)
    # a row along X's top right-singular vector is as aligned as a row can be: ρ = m σ₁² / ‖X‖²_F
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    top = alignment(torch.outer(u, vh[0]), x)
    assert top == pytest.approx(9 * float(s[0] ** 2) / float(x.norm() ** 2), rel=1e-10)
    assert top > 1 > alignment(torch.outer(u, vh[-1]), x)


def test_isotropic_random_matrix_has_rho_one_in_expectation() -> None:
    """Rows drawn isotropically: ρ averages to 1 for any fixed X (its mean over draws is within noise of 1)."""
    gen = _gen(2)
    x = torch.randn(50, 12, generator=gen, dtype=torch.float64) * torch.linspace(0.05, 4, 12, dtype=torch.float64)
    rhos = [alignment(torch.randn(20, 12, generator=gen, dtype=torch.float64), x) for _ in range(400)]
    assert np.mean(rhos) == pytest.approx(1.0, abs=0.03)
    # and exactly 1 when X itself is isotropic (XᵀX ∝ I), for any R
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))
    assert alignment(torch.randn(4, 12, generator=gen, dtype=torch.float64), 2.0 * q) == pytest.approx(1.0, rel=1e-12)


def test_centred_moment_is_the_moment_of_centred_rows() -> None:
    gen = _gen(3)
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64) + 3.0
    xc = x - x.mean(0)
    assert torch.allclose(centred_moment(second_moment(x), x.sum(0), 40), xc.T @ xc, rtol=1e-10, atol=1e-9)


def test_data_span_baseline_against_random_combinations_of_the_inputs() -> None:
    """Brute force: R = A X with A standard normal (rows random combinations of the data rows) has the
    same ρ distribution as the G C^{1/2} the study draws; with many rows both approach m tr(C²)/(tr C)²."""
    gen = _gen(4)
    # rank-deficient, uncentred inputs with a dominant mean, as images are
    basis = torch.randn(5, 10, generator=gen, dtype=torch.float64)
    x = torch.randn(80, 5, generator=gen, dtype=torch.float64) @ basis + 2.0 * basis[0]
    c = second_moment(x)
    expected = expected_data_span_alignment(c)
    assert expected == pytest.approx(10 * float(torch.trace(c @ c)) / float(torch.trace(c)) ** 2)
    brute = [alignment(torch.randn(3000, 80, generator=gen, dtype=torch.float64) @ x, x) for _ in range(5)]
    drawn = data_span_alignment(c, 3000, 5, seed=1)
    assert np.mean(brute) == pytest.approx(expected, rel=0.02) and float(drawn.mean()) == pytest.approx(expected, rel=0.02)
    assert expected > 2.0  # far above the isotropic 1: the span itself is aligned with the data
    # every drawn row lies in the span of the inputs: nothing along C's null space
    few = data_span_alignment(c, 4, 3, seed=2)
    assert few.shape == (3,) and torch.equal(few, data_span_alignment(c, 4, 3, seed=2))
    evals, evecs = torch.linalg.eigh(c)
    null = evecs[:, evals < 1e-8 * float(evals.max())]
    root = (evecs * evals.clamp(min=0).sqrt()) @ evecs.T
    r = torch.randn(4, 10, generator=gen, dtype=torch.float64) @ root
    assert null.shape[1] == 5 and float((r @ null).norm()) < 1e-6 * float(r.norm())
    # isotropic inputs: the span is everything and the baseline is 1
    assert expected_data_span_alignment(torch.eye(7, dtype=torch.float64)) == pytest.approx(1.0)


def test_span_position() -> None:
    assert span_position(1.0, 90.0) == 0.0 and span_position(90.0, 90.0) == pytest.approx(1.0)
    assert span_position(9.0, 81.0) == pytest.approx(0.5) and span_position(0.5, 81.0) < 0
    assert math.isnan(span_position(2.0, 1.0))


@pytest.mark.parametrize("basis", ["top", "bottom", "random"])
@pytest.mark.parametrize("shape", [(7, 12), (12, 7), (9, 9)])
def test_alignment_along_a_basis_equals_brute_force(basis: str, shape: tuple[int, int]) -> None:
    n, m = shape
    gen = _gen(n * 31 + m)
    delta = torch.randn(n, m, generator=gen, dtype=torch.float64)
    x = torch.randn(25, m, generator=gen, dtype=torch.float64) * torch.linspace(0.2, 2, m, dtype=torch.float64)
    u, _ = left_singular(delta)
    b = ordered_basis(u, basis, seed=4)  # type: ignore[arg-type]
    c = b.shape[1]
    ks = list(range(c + 1))
    along = alignment_along(b, delta, second_moment(x), ks)
    zero = torch.zeros_like(delta)
    for i, k in enumerate(ks):
        kept = projected_weight(zero, delta, b, k)
        residual = delta - kept
        if k == 0:
            assert np.isnan(float(along.rho_kept[i]))
        else:
            assert float(along.rho_kept[i]) == pytest.approx(_brute_rho(kept, x), rel=1e-9)
        if k == c:
            assert np.isnan(float(along.rho_residual[i])) and float(along.residual_share[i]) == pytest.approx(0.0, abs=1e-7)
        else:
            assert float(along.rho_residual[i]) == pytest.approx(_brute_rho(residual, x), rel=1e-9)
            share = float((residual @ x.T).norm() / (delta @ x.T).norm())
            assert float(along.residual_share[i]) == pytest.approx(share, rel=1e-9)


def test_conv_input_rows_are_the_patches_the_filters_see() -> None:
    """A Conv's output equals (unit matrix) × (unfolded patch rows): the rows are the right X."""
    net = build_model(ModelConfig(name="conv2", width=0.125), (3, 8, 8), 4, seed=0)
    layer = net.block("conv2").layer
    h = torch.randn(5, layer.in_channels, 8, 8, generator=_gen(3))
    rows = input_rows(h, layer)  # (N·L, m)
    out = torch.nn.functional.conv2d(h, layer.weight, None, layer.stride, layer.padding)
    flat = out.permute(0, 2, 3, 1).reshape(-1, layer.out_channels)
    torch.testing.assert_close(rows @ layer.weight.reshape(layer.out_channels, -1).T, flat, rtol=1e-4, atol=1e-5)
    x = torch.randn(6, 3, 8, 8, generator=_gen(4))
    every = layer_input_moment(net, "conv2", x, samples=10**9, batch=4)
    want = second_moment(input_rows(net.features(x, "conv2"), layer))
    torch.testing.assert_close(every, want, rtol=1e-9, atol=1e-6)
    some = layer_input_moment(net, "conv2", x, samples=50, batch=4)
    assert float(torch.trace(some)) < float(torch.trace(every))


def test_alignment_is_opt_in_and_leaves_identities_alone() -> None:
    assert "alignment" not in canonical_study(SubspaceConfig())
    assert canonical_study(SubspaceConfig(alignment=True))["alignment"] is True


SPEC = tiny_text("align", iterations=150, eval_interval=50, tail="""\
studies:
  - kind: subspace
    layer: [fc1, fc2]
    basis: [top, random]
    seeds: 2
    target: [update, weights]
    alignment: true
""")


def test_subspace_alignment_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan, store, report = run_spec(tmp_path, SPEC, "align.yaml")
    assert not report.failed, report.failed
    study = plan.studies[0]
    tensors = store.read_tensors(study.id, "results")
    entry = next(s for s in read_document(store.root)["studies"] if s["kind"] == "subspace")
    curves, summary = entry["curves"], entry["summary"]
    run_tensors = store.read_tensors(plan.runs[0].id)
    final = int(store.stage(plan.runs[0].id).attrs["iterations"])
    for layer in ("fc1", "fc2"):
        w = torch.from_numpy(run_tensors[f"checkpoints/{final:08d}/blocks.{layer}.layer.weight"]).double()
        z = torch.from_numpy(run_tensors[f"checkpoints/00000000/blocks.{layer}.layer.weight"]).double()
        if layer == "fc1":  # the first layer's X is the test data itself
            from redundancy.data import load_data
            from redundancy.spec.loader import load_spec

            spec = load_spec(tmp_path / "align.yaml").spec
            data_x = load_data(spec.data, validation=spec.train.validation).test_x.double().flatten(1)
            assert tensors[f"{layer}@final/alignment/rho_update"] == pytest.approx(_brute_rho(w - z, data_x), rel=1e-9)
            assert tensors[f"{layer}@final/alignment/rho_init"] == pytest.approx(_brute_rho(z, data_x), rel=1e-9)
        c = curves[f"{layer}@final:update"]
        assert c["rho_target"] == pytest.approx(float(tensors[f"{layer}@final/alignment/rho_update"]))
        top = c["top"]
        assert top["rho_kept"][0] is None and top["rho_residual"][-1] is None
        assert top["residual_share"][0] == pytest.approx(1.0) and top["residual_share"][-1] == pytest.approx(0.0, abs=1e-6)
        assert top["rho_residual"][0] == pytest.approx(c["rho_target"])
        rnd = tensors[f"{layer}@final/update/random/rho_residual"]
        assert rnd.shape == (2, len(top["k"]))
        assert c["random"]["rho_residual"][1] == pytest.approx(float(rnd[:, 1].mean()))
        assert "rho_init" not in curves[f"{layer}@final:weights"]
        assert curves[f"{layer}@final:weights"]["rho_target"] == pytest.approx(float(tensors[f"{layer}@final/alignment/rho_weights"]))
    assert set(summary["fc1@final:update/top"]) >= {"rho_residual_k16", "share_residual_k16"}
    for layer in ("fc1", "fc2"):  # the nulls beside each ρ
        nulls = summary[f"{layer}@final:alignment"]
        span = tensors[f"{layer}@final/alignment/rho_data_span"]
        assert nulls["inputs"] == "uncentred" and nulls["isotropic"] == 1.0 and span.shape == (20,)
        assert nulls["data_span"] == pytest.approx(float(span.mean())) and nulls["data_span_min"] <= nulls["data_span"]
        assert nulls["rho_update"] == pytest.approx(float(tensors[f"{layer}@final/alignment/rho_update"]))
        assert nulls["position_update"] == pytest.approx(math.log(nulls["rho_update"]) / math.log(nulls["data_span"]))
        assert curves[f"{layer}@final:update"]["rho_data_span"] == pytest.approx(nulls["data_span"])
    shown = CliRunner().invoke(app, ["show", "store/align"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "share_residual_k16" in shown.output
    as_json = json.loads(CliRunner().invoke(app, ["show", "store/align", "--json"]).stdout)
    assert "rho_residual" in as_json["studies"][0]["curves"]["fc2@final:update"]["top"]


def test_layer_input_moment_centred_or_not() -> None:
    """``alignment_inputs: centred`` subtracts the inputs' mean: for the first layer, the data's own."""
    from redundancy.models import build_model
    from redundancy.spec.schema import ModelConfig
    from redundancy.studies.subspace.study import SubspaceConfig, layer_input_moment

    net = build_model(ModelConfig(name="mlp", widths=[5]), (6,), 3, seed=0)
    x = torch.randn(37, 6, generator=_gen(5)) + 1.5
    x64 = x.double()
    plain = layer_input_moment(net, "fc1", x, 10, batch=8)
    centred = layer_input_moment(net, "fc1", x, 10, batch=8, centred=True)
    xc = x64 - x64.mean(0)
    assert torch.allclose(plain, x64.T @ x64, rtol=1e-10) and torch.allclose(centred, xc.T @ xc, rtol=1e-9, atol=1e-9)
    assert SubspaceConfig().alignment_inputs == "uncentred"
    assert "alignment_inputs" not in canonical_study(SubspaceConfig())  # the default keeps ids
