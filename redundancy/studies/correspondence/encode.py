"""The correspondence study's measurements as stored tensors, a summary and curves (``docs/results.md``).

Tensors (``<pair>`` is ``seed<a>~seed<b>`` or ``rewind<k>_<i>~<j>``):
``<pair>/<layer>/<matching>/permutation`` (n,) π, ``…/matched`` (n,) S[i, π(i)],
``…/similarity`` S with B's columns in matched order (so its diagonal is the
matched pairs), for at most ``max_stored`` evenly spaced units of A,
``…/null`` (at most 10,000 similarities of random pairs);
``<pair>/path/<alignment>/{alpha,loss,error}``;
``teacher/<matching>/{similarity,assigned,count,share}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redundancy.store.keys import tensor_path
from redundancy.studies.base import StudyResult
from redundancy.studies.correspondence.config import CorrespondenceConfig
from redundancy.studies.correspondence.records import PairResult, TeacherMatch

NULL_STORED = 10_000


def _pct(x: float) -> str:
    return f"{x:g}"


def _subsample(n: int, most: int) -> np.ndarray:
    return np.arange(n) if n <= most else np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _pair(config: CorrespondenceConfig, pair: PairResult, stable: bool, result: StudyResult,
          summary: dict[str, Any], curves: dict[str, Any]) -> None:
    """One pair's matched layers and paths (the path summary only when there is no stability curve)."""
    for m in pair.layers:
        base = tensor_path(pair.label, m.layer, m.matching)
        idx = _subsample(len(m.perm), config.max_stored)
        result.tensors[tensor_path(base, "permutation")] = m.perm.astype(np.int64)
        result.tensors[tensor_path(base, "matched")] = m.matched
        result.tensors[tensor_path(base, "similarity")] = m.similarity[np.ix_(idx, m.perm[idx])].astype(np.float32)
        result.tensors[tensor_path(base, "null")] = m.null[:NULL_STORED]
        cells: dict[str, Any] = {
            "units": len(m.perm), "mean": float(m.matched.mean()), "median": float(np.median(m.matched)),
            "null_mean": float(m.null.mean()),
        }
        for t in config.thresholds:
            cells[f"above_{_pct(t)}"] = m.above[t]
            cells[f"null_above_{_pct(t)}"] = m.null_above[t]
        summary.setdefault("similarity", {}).setdefault(pair.label, {}).setdefault(m.layer, {})[m.matching] = cells
        kept: dict[str, Any] = {"rank_correlation": _num(m.rank_correlation)}
        for k in m.kept:
            kept[f"kept_overlap_{_pct(k.removed)}"] = k.overlap
            kept[f"chance_{_pct(k.removed)}"] = k.chance
        summary.setdefault("pruning", {}).setdefault(pair.label, {}).setdefault(m.layer, {})[m.matching] = kept
        curves.setdefault("similarity", {}).setdefault(pair.label, {}).setdefault(m.layer, {})[m.matching] = {
            "threshold": list(config.thresholds),
            "matched_fraction": [m.above[t] for t in config.thresholds],
            "null_fraction": [m.null_above[t] for t in config.thresholds],
        }
    for alignment, path in pair.paths.items():
        for name in ("alpha", "loss", "error"):
            result.tensors[tensor_path(pair.label, "path", alignment, name)] = np.asarray(getattr(path, name), dtype=np.float64)
        if not stable:
            summary.setdefault("path", {}).setdefault(pair.label, {})[alignment] = {
                "loss_barrier": path.loss_barrier, "error_barrier": path.error_barrier,
                "loss_ends": (path.loss[0] + path.loss[-1]) / 2, "error_ends": (path.error[0] + path.error[-1]) / 2,
            }
        curves.setdefault("path", {}).setdefault(pair.label, {})[alignment] = {"alpha": path.alpha, "loss": path.loss, "error": path.error}


def _stability(stability: dict[int, list[PairResult]], summary: dict[str, Any], curves: dict[str, Any]) -> None:
    """The barriers of the copies spawned at each rewind iteration: mean and spread over their pairs."""
    iterations = sorted(stability)
    alignments = list(next(iter(stability.values()))[0].paths)
    for alignment in alignments:
        lb = [[p.paths[alignment].loss_barrier for p in stability[k]] for k in iterations]
        eb = [[p.paths[alignment].error_barrier for p in stability[k]] for k in iterations]
        curves.setdefault("stability", {})[alignment] = {
            "rewind_iteration": iterations,
            "loss_barrier": [float(np.mean(v)) for v in lb], "loss_barrier_std": [float(np.std(v)) for v in lb],
            "error_barrier": [float(np.mean(v)) for v in eb], "error_barrier_std": [float(np.std(v)) for v in eb],
            "pairs": lb,
        }
        for k, l_, e_ in zip(iterations, lb, eb):
            summary.setdefault("stability", {}).setdefault(f"rewind {k}", {})[alignment] = {
                "loss_barrier": float(np.mean(l_)), "error_barrier": float(np.mean(e_)), "pairs": len(l_),
            }


def _teacher(teacher: tuple[str, list[TeacherMatch]], result: StudyResult, summary: dict[str, Any], curves: dict[str, Any]) -> None:
    """Student units per teacher unit, by each matching."""
    layer, matches = teacher
    for t in matches:
        spec = t.spec
        teachers = len(spec.count)
        result.tensors[tensor_path("teacher", t.matching, "similarity")] = t.similarity.astype(np.float32)
        result.tensors[tensor_path("teacher", t.matching, "assigned")] = spec.assigned.astype(np.int64)
        result.tensors[tensor_path("teacher", t.matching, "count")] = spec.count.astype(np.int64)
        result.tensors[tensor_path("teacher", t.matching, "share")] = spec.share
        students = len(spec.assigned)
        summary.setdefault("teacher", {}).setdefault(layer, {})[t.matching] = {
            "student_units": students, "teacher_units": teachers,
            "students_per_teacher_unit": float(spec.count.mean()) if teachers else None,
            "teacher_units_covered": spec.covered / teachers if teachers else None,
            "specialized_fraction": spec.specialized / students if students else None,
            "null_specialized_fraction": t.null_specialized,
            "largest_share": float(spec.share.max()) if teachers else None,
            "mean_best_similarity": float(spec.best.mean()) if students else None,
        }
        curves.setdefault("teacher", {}).setdefault(layer, {})[t.matching] = {
            "teacher_unit": list(range(teachers)), "students": [int(c) for c in spec.count], "share": [float(s) for s in spec.share],
        }


def encode(config: CorrespondenceConfig, pairs: list[PairResult], teacher: tuple[str, list[TeacherMatch]] | None,
           stability: dict[int, list[PairResult]]) -> StudyResult:
    """The study's tensors, summary and curves from what it measured."""
    result = StudyResult()
    summary: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    for pair in pairs:
        _pair(config, pair, bool(stability), result, summary, curves)
    if stability:
        _stability(stability, summary, curves)
    if teacher is not None:
        _teacher(teacher, result, summary, curves)
    summary["partner"] = config.partner
    result.summary = summary
    result.curves = curves
    return result
