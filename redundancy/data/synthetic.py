"""Synthetic datasets: the teacher-student setup and the XORD problem.

Both are generated from ``data.data_seed`` with numpy's PCG64 (one independent stream per
purpose), so the same config gives bit-identical data on every platform. For these
datasets ``train_samples``/``test_samples`` say how many samples to *generate*; the
validation set is then held out of the generated training pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from redundancy.spec.schema import DataConfig

from .base import DataOptions, RawData, seed_words

NUM_CLASSES = 10
TEACHER_INPUT_DIM = 500
TEACHER_TRAIN, TEACHER_TEST = 10_000, 2_000
CALIBRATION_SAMPLES = 10_000
BALANCE_STEPS = 300
XORD_PAIRS = 4
XORD_TRAIN, XORD_TEST = 4_000, 1_000
_CHUNK = 4096

# Streams of numpy generators seeded with (data_seed, stream).
_TEACHER, _CALIBRATION, _TRAIN_X, _TEST_X, _NOISE = range(5)


@dataclass(frozen=True)
class Teacher:
    """A fixed two-layer teacher (Goldt et al. 2019) with a 10-way readout.

    ``logits(x)_c = sum_m v[c, m] g(w_m . x / sqrt(N)) / sqrt(M) + b[c]`` with
    ``g(z) = erf(z / sqrt(2))``, ``w ~ N(0, I)`` of shape ``(M, N)``, ``v ~ N(0, 1)`` of shape
    ``(10, M)``. Computed in float64.
    """

    w: torch.Tensor
    v: torch.Tensor
    b: torch.Tensor

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher logits for inputs ``x`` of shape ``(n, N)``, in row chunks to bound memory."""
        width, dim = self.w.shape
        parts = []
        for rows in x.split(_CHUNK):
            h = torch.erf(rows.to(torch.float64) @ self.w.T / math.sqrt(dim) / math.sqrt(2.0))
            parts.append(h @ self.v.T / math.sqrt(width) + self.b)
        return torch.cat(parts) if parts else torch.zeros(0, self.v.shape[0], dtype=torch.float64)


def gaussian_inputs(n: int, dim: int, seed: int, stream: int) -> torch.Tensor:
    """``n`` i.i.d. ``N(0, I_dim)`` inputs as float32 (drawn in float64, row by row from one stream)."""
    rng = np.random.default_rng(seed_words(seed, stream))
    return torch.from_numpy(rng.standard_normal((n, dim)).astype(np.float32))


def balance_biases(logits: torch.Tensor, steps: int = BALANCE_STEPS) -> torch.Tensor:
    """Readout biases that make the classes of ``argmax(logits + b)`` about equally frequent.

    Subgradient ascent on the dual of the semi-discrete assignment problem: a class that
    wins too rarely gets its bias raised. Deterministic.
    """
    n, k = logits.shape
    b = torch.zeros(k, dtype=torch.float64)
    scale = float(logits.std())
    for t in range(steps):
        freq = torch.bincount((logits + b).argmax(1), minlength=k).to(torch.float64) / n
        b += (1.0 / k - freq) * scale / math.sqrt(1.0 + t / 50.0)
    return b


def make_teacher(input_dim: int, width: int, seed: int) -> Teacher:
    """The teacher of ``data_seed``: Gaussian weights, biases balanced on a calibration sample."""
    rng = np.random.default_rng(seed_words(seed, _TEACHER))
    w = torch.from_numpy(rng.standard_normal((width, input_dim)))
    v = torch.from_numpy(rng.standard_normal((NUM_CLASSES, width)))
    teacher = Teacher(w, v, torch.zeros(NUM_CLASSES, dtype=torch.float64))
    calibration = gaussian_inputs(CALIBRATION_SAMPLES, input_dim, seed, _CALIBRATION)
    return Teacher(w, v, balance_biases(teacher.logits(calibration)))


def teacher_labels(teacher: Teacher, x: torch.Tensor, noise: float, rng: np.random.Generator | None) -> torch.Tensor:
    """``argmax_c (logits_c + noise * xi_c)``, ``xi ~ N(0, 1)``; noiseless when ``rng`` is None."""
    logits = teacher.logits(x)
    if rng is not None and noise > 0:
        logits = logits + noise * torch.from_numpy(rng.standard_normal(tuple(logits.shape)))
    return logits.argmax(1).to(torch.int64)


def load_teacher_student(cfg: DataConfig, opts: DataOptions) -> RawData:
    """Teacher-student classification after Goldt et al. (2019).

    Goldt, Advani, Saxe, Krzakala & Zdeborová, "Dynamics of stochastic gradient descent
    for two-layer neural networks in the teacher-student setup" (NeurIPS 2019): inputs
    ``x ~ N(0, I_N)`` are labelled by a fixed random two-layer *teacher*
    ``phi(x) = sum_m v_m g(w_m . x / sqrt(N))`` with ``g(z) = erf(z / sqrt(2))`` and
    ``M = teacher_width`` hidden units; noisy labels are ``phi(x) + sigma * zeta``.

    Here the readout has 10 outputs (so every dataset is a 10-way classification) and the
    label is the argmax of the teacher's logits; readout biases are set once so the ten
    classes are about equally likely (exactly balanced classes are not possible for
    ``teacher_width=1`` in every draw). ``noise`` is the std of Gaussian noise added to the
    logits of the training pool (and so of the validation set); test labels are the
    noiseless teacher's, as the paper measures generalization against the clean teacher.
    Defaults: ``input_dim`` 500, 10,000 train and 2,000 test samples.
    """
    dim = cfg.input_dim or TEACHER_INPUT_DIM
    n_train, n_test = cfg.train_samples or TEACHER_TRAIN, cfg.test_samples or TEACHER_TEST
    teacher = make_teacher(dim, cfg.teacher_width, cfg.data_seed)
    train_x = gaussian_inputs(n_train, dim, cfg.data_seed, _TRAIN_X)
    test_x = gaussian_inputs(n_test, dim, cfg.data_seed, _TEST_X)
    noise_rng = np.random.default_rng(seed_words(cfg.data_seed, _NOISE))
    return RawData(
        train_x=train_x,
        train_y=teacher_labels(teacher, train_x, cfg.noise, noise_rng),
        test_x=test_x,
        test_y=teacher_labels(teacher, test_x, 0.0, None),
        num_classes=NUM_CLASSES,
        input_shape=(dim,),
        source=(
            f"teacher-student (Goldt et al. 2019): N={dim}, M={cfg.teacher_width} erf teacher, 10-way argmax,"
            f" noise={cfg.noise}, data_seed={cfg.data_seed}"
        ),
        generated=True,
    )


def xord_labels(x: torch.Tensor) -> torch.Tensor:
    """1 when some pair ``(x[2i], x[2i+1])`` has equal entries (a positive pattern), else 0."""
    pairs = x.view(x.shape[0], -1, 2)
    return (pairs[..., 0] == pairs[..., 1]).any(dim=1).to(torch.int64)


def xord_inputs(n: int, pairs: int, seed: int, stream: int) -> torch.Tensor:
    """``n`` points drawn uniformly from ``{-1, 1}^(2 * pairs)``, float32."""
    rng = np.random.default_rng(seed_words(seed, stream))
    bits = rng.integers(0, 2, size=(n, 2 * pairs), dtype=np.int8)
    return torch.from_numpy(bits.astype(np.float32) * 2.0 - 1.0)


def load_xord(cfg: DataConfig, opts: DataOptions) -> RawData:
    """The XORD problem of Brutzkus & Globerson (2019).

    Brutzkus & Globerson, "Why do Larger Models Generalize Better? A Theoretical
    Perspective via the XOR Problem" (ICML 2019): an input ``x in {-1, 1}^(2d)`` is read as
    ``d`` consecutive pairs; the patterns ``(1, 1)`` and ``(-1, -1)`` are positive,
    ``(1, -1)`` and ``(-1, 1)`` negative, and ``x`` is labelled 1 when it contains at least
    one positive pattern, else 0. Points are drawn uniformly, so a point is negative with
    probability ``2**-d`` (1/16 for the default ``d = input_dim = 4``). Defaults: 4,000
    train / 1,000 test samples.
    """
    pairs = cfg.input_dim or XORD_PAIRS
    n_train, n_test = cfg.train_samples or XORD_TRAIN, cfg.test_samples or XORD_TEST
    train_x = xord_inputs(n_train, pairs, cfg.data_seed, 0)
    test_x = xord_inputs(n_test, pairs, cfg.data_seed, 1)
    return RawData(
        train_x=train_x,
        train_y=xord_labels(train_x),
        test_x=test_x,
        test_y=xord_labels(test_x),
        num_classes=2,
        input_shape=(2 * pairs,),
        source=(
            f"XORD (Brutzkus & Globerson 2019): d={pairs} pairs, uniform over {{-1,1}}^{2 * pairs},"
            f" data_seed={cfg.data_seed}"
        ),
        generated=True,
    )


