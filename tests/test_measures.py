"""Frame potential and friends against their definitions, computed by brute force."""

from __future__ import annotations

import torch

from redundancy.studies.common.measures import fp_contributions, fp_lower_bound, frame_potential, normalize_rows


def brute_fp(w: torch.Tensor) -> float:
    rows = [r / r.norm() for r in w.double()]
    return float(sum((a @ b) ** 2 for a in rows for b in rows))


def test_frame_potential_matches_double_sum() -> None:
    g = torch.Generator().manual_seed(0)
    for n, m in [(3, 5), (10, 4), (7, 7)]:
        w = torch.randn(n, m, generator=g)
        assert abs(frame_potential(w) - brute_fp(w)) < 1e-9 * max(1.0, brute_fp(w))
        assert torch.allclose(fp_contributions(w).sum(), torch.tensor(brute_fp(w), dtype=torch.float64))


def test_orthonormal_set_has_fp_n_and_copies_have_n_squared() -> None:
    q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    assert abs(frame_potential(q[:5]) - 5.0) < 1e-9
    v = torch.randn(1, 6).repeat(4, 1) * torch.tensor([[1.0], [2.0], [-3.0], [0.5]])
    assert abs(frame_potential(v) - 16.0) < 1e-6


def test_lower_bound_is_reached_by_a_tight_frame() -> None:
    # three unit vectors at 120 degrees in the plane form a tight frame: FP = n²/d = 4.5
    angles = torch.tensor([0.0, 2.0944, 4.18879], dtype=torch.float64)
    w = torch.stack([angles.cos(), angles.sin()], dim=1)
    assert abs(frame_potential(w) - fp_lower_bound(3, 2)) < 1e-4
    assert fp_lower_bound(3, 10) == 3


def test_conv_filters_are_rows() -> None:
    w = torch.randn(4, 3, 3, 3)
    assert normalize_rows(w).shape == (4, 27)
    assert abs(frame_potential(w) - brute_fp(w.reshape(4, -1))) < 1e-6
