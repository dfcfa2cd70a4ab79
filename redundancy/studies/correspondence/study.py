"""Study ``correspondence``: is redundancy the same unit learned twice?

The seed reads over-parameterization as redundancy of units. This study asks it
across networks rather than inside one, against a *partner*:

- ``partner: seed`` — the next run of a seed grid (the same config with the next
  seed of ``seeds``): "convergent learning" (Li et al. 2015) and linear mode
  connectivity after alignment (Entezari et al. 2022; Ainsworth et al. 2023).
  The stage depends on both training stages; its id hashes both.
- ``partner: spawn`` — ``spawn.copies`` copies trained from the run's weights at
  each rewind iteration k of ``spawn.iterations`` for the remaining iterations,
  each with its own batch order (Frankle et al. 2020, "Linear mode connectivity
  and the lottery ticket hypothesis"); dense, or the ticket of round
  ``spawn.ticket_round`` of iterative magnitude pruning (masks found once,
  rewinding to the initialization as in Frankle & Carbin 2019). Every pair of
  copies of one k is compared. Both copies of a ticket share its mask, so the
  unaligned path stays inside the mask; an aligned one permutes B's mask and
  leaves it (Frankle et al. measure the unaligned path).
- ``partner: teacher`` — for ``data: teacher-student``, the teacher's hidden units
  (Goldt et al. 2019): student units of the first hidden layer matched many to one,
  by |cos| of incoming weights and |ρ| of activations (the teacher's g = erf is odd,
  so a ReLU student unit may learn it with either sign); how many student units
  specialize to each teacher unit and what share of the students' outgoing weight
  they carry, against a null teacher of random Gaussian units.

For two networks (A = the run, B = the partner; :mod:`.matching` has the notation):

- matching by weights (π_ℓ exact per layer, ``refine`` sweeps of coordinate descent)
  and by activations (correlation on ``probe_samples`` training inputs), every
  hidden layer permuted consistently; per reported layer the matched similarity
  (cosine of incoming weights for ``weights``, ρ for ``activations``) against a null
  of ``null_draws`` random permutations, and the fraction above each threshold;
- the linear path θ(α) between A and B, before alignment (``none``) and after each
  matching, at ``path_points`` α on the **test** set (neither network trained on it),
  evaluated as one batch of interpolated networks; the loss and error barriers;
- magnitude pruning across networks: Spearman's ρ of matched units' incoming-weight
  norms, and the overlap of the units kept after removing each ``removed`` fraction
  against the chance overlap k / n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from redundancy.studies.base import StudyContext, StudyKind, StudyResult
from redundancy.studies.common.checks import check_checkpoints, check_layers
from redundancy.studies.common.imp import param_masks, rewound_train, ticket_after_round
from redundancy.studies.common.refs import CheckpointRef
from redundancy.studies.common.seeds import derived_seed
from redundancy.studies.common.structural import FULLY_CONNECTED
from redundancy.studies.correspondence import matching as M
from redundancy.studies.correspondence.config import CorrespondenceConfig, SpawnConfig
from redundancy.studies.correspondence.encode import encode
from redundancy.studies.correspondence.paths import evaluate_path, hidden_activations
from redundancy.studies.correspondence.records import LayerMatch, PairResult, TeacherMatch

# Streams of the seeded draws (common.seeds.derived_seed).
_NULL, _SPAWN, _TEACHER_NULL, _PROBE = 31, 32, 33, 34


def check(config: CorrespondenceConfig, info: Any) -> list[tuple[Sequence[str | int], str]]:
    problems: list[tuple[Sequence[str | int], str]] = []
    run = info.run
    if run.model.name not in FULLY_CONNECTED:
        problems.append((("kind",), f"correspondence matches the units of fully connected models ({', '.join(FULLY_CONNECTED)}); this spec's model is {run.model.name!r}"))
        return problems
    problems += check_layers(config.layers, "layers", info, hidden=True)
    problems += check_checkpoints(config.checkpoint, "checkpoint", info)
    if config.partner == "teacher" and run.data.name != "teacher-student":
        problems.append((("partner",), f"partner: teacher needs data: teacher-student (this spec's data is {run.data.name!r})"))
    if config.partner == "teacher" and config.layers is not None and config.layers != [next(iter(info.layers))]:
        problems.append((("layers",), f"partner: teacher matches the first hidden layer, {next(iter(info.layers))}, the one that reads the teacher's inputs"))
    if config.partner == "spawn" and config.spawn is not None:
        late = [k for k in config.spawn.iterations if k >= run.train.iterations]
        if late:
            problems.append((("spawn", "iterations"), f"rewind iterations {late} are not before the end of training ({run.train.iterations} iterations)"))
    return problems


def _state(net_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu() for k, v in net_state.items()}


def compare(
    config: CorrespondenceConfig, ctx: StudyContext, label: str, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor],
    probe: torch.Tensor, rng: np.random.Generator,
) -> PairResult:
    """Match B's hidden units to A's by each method, measure the matches, and walk the linear paths."""
    template = ctx.build_model()
    names = template.names
    layers = M.fc_layers(a, names)
    hidden = [l.name for l in layers[:-1]]
    reported = config.layers or hidden
    out = PairResult(label)
    acts_a = acts_b = None
    if "activations" in config.matching:
        net_a, net_b = ctx.build_model(a), ctx.build_model(b)
        acts_a = hidden_activations(net_a, hidden, probe)  # once per network: activations are permutation-equivariant
        acts_b = hidden_activations(net_b, hidden, probe)
    aligned: dict[str, dict[str, torch.Tensor]] = {}
    for method in config.matching:
        if method == "weights":
            perms = M.weight_matching(a, b, layers, refine=config.refine)
        else:
            assert acts_a is not None and acts_b is not None
            perms = {n: M.assignment(M.correlation(acts_a[n], acts_b[n])) for n in hidden}
        aligned[method] = M.permute_state(b, layers, perms)
        for i, layer in enumerate(layers[:-1]):
            if layer.name not in reported:
                continue
            if method == "weights":
                prev = perms[layers[i - 1].name] if i else None
                sim = M.weight_cosine(a, b, layer, prev)
            else:
                assert acts_a is not None and acts_b is not None
                sim = M.correlation(acts_a[layer.name], acts_b[layer.name])
            perm = perms[layer.name]
            got = M.matched(sim, perm)
            null = M.random_pairs(sim, config.null_draws, rng)
            norms_a = M.unit_norms(a, layer)
            norms_b = M.unit_norms(aligned[method], layer)  # B's units in A's order
            out.layers.append(LayerMatch(
                layer.name, method, perm, sim, got, null,
                {t: float((got >= t).mean()) for t in config.thresholds},
                {t: float((null >= t).mean()) for t in config.thresholds},
                M.rank_correlation(norms_a, norms_b),
                [M.kept_overlap(norms_a, norms_b, r) for r in config.removed],
            ))
    if config.path_points >= 2:
        x, y = ctx.data.test_x, ctx.data.test_y
        out.paths["none"] = evaluate_path(template, a, b, config.path_points, x, y)
        for method in config.matching:
            out.paths[method] = evaluate_path(template, a, aligned[method], config.path_points, x, y)
    return out


# --- teacher ---------------------------------------------------------------------------------------


def teacher_matches(config: CorrespondenceConfig, ctx: StudyContext, student: dict[str, torch.Tensor], probe: torch.Tensor) -> tuple[str, list[TeacherMatch]]:
    from redundancy.data.synthetic import TEACHER_INPUT_DIM, make_teacher

    data_cfg = ctx.run.config.data
    dim = data_cfg.input_dim or TEACHER_INPUT_DIM
    teacher = make_teacher(dim, data_cfg.teacher_width, data_cfg.data_seed)
    names = ctx.build_model().names
    layers = M.fc_layers(student, names)
    first, nxt = layers[0], layers[1]
    w_s = student[first.weight].double().numpy()  # (n, N)
    w_t = teacher.w.numpy()  # (M, N)
    rng = np.random.default_rng(derived_seed(ctx.run.config.seed, 0, _TEACHER_NULL))
    w_null = rng.standard_normal(w_t.shape)
    outn = M.out_norms(student, nxt)
    out: list[TeacherMatch] = []
    for method in config.matching:
        if method == "weights":
            sim = np.abs(M.cosine(w_s, w_t))
            null = np.abs(M.cosine(w_s, w_null))
        else:
            net = ctx.build_model(student)
            acts = hidden_activations(net, [first.name], probe)[first.name]
            xs = probe.double().cpu()
            h_t = torch.erf(xs @ teacher.w.T / math.sqrt(dim) / math.sqrt(2.0)).numpy()
            h_null = torch.erf(xs @ torch.from_numpy(w_null).T / math.sqrt(dim) / math.sqrt(2.0)).numpy()
            sim, null = np.abs(M.correlation(acts, h_t)), np.abs(M.correlation(acts, h_null))
        spec = M.specialization(sim, config.teacher_threshold, outn)
        null_spec = M.specialization(null, config.teacher_threshold, outn)
        out.append(TeacherMatch(method, sim, spec, null_spec.specialized / max(1, len(w_s))))
    return first.name, out


# --- spawned copies --------------------------------------------------------------------------------


def _ticket_masks(ctx: StudyContext, spawn: SpawnConfig) -> dict[str, torch.Tensor] | None:
    """Parameter masks of the round-``ticket_round`` ticket (rounds retrained from the initialization), or None."""
    if spawn.ticket_round is None:
        return None
    names = ctx.build_model().names
    return param_masks(ticket_after_round(ctx, names, spawn.ticket_round, spawn.ticket_rate, "ticket"))


def spawn_copies(ctx: StudyContext, spawn: SpawnConfig) -> dict[int, list[dict[str, torch.Tensor]]]:
    """Rewind iteration k -> the final weights of ``copies`` networks trained from θ_k, each with its own batch order."""
    from redundancy.train import Member, TrainingDiverged, train_members

    run_cfg = ctx.run.config
    train = run_cfg.train.model_copy(update={"checkpoints": None})
    masks = _ticket_masks(ctx, spawn)
    missing = [k for k in spawn.iterations if k not in ctx.run.checkpoints]
    starts = {k: ctx.run.checkpoints[k] for k in spawn.iterations if k in ctx.run.checkpoints}
    if missing:  # the run kept no checkpoint there: train it again as it trained (same seed), keeping them
        ctx.progress(0.0, f"retraining the run to keep iterations {missing}")
        again = ctx.train(train, keep=missing)
        starts.update({k: again.checkpoints[k] for k in missing})
    out: dict[int, list[dict[str, torch.Tensor]]] = {}
    for i, k in enumerate(spawn.iterations):
        ctx.progress(i / len(spawn.iterations), f"training {spawn.copies} copies from iteration {k}")
        members = [Member(derived_seed(run_cfg.seed, c, _SPAWN, k), starts[k], masks) for c in range(spawn.copies)]
        results = train_members(run_cfg.model, rewound_train(train, k), ctx.data, members, device=ctx.device)
        copies = []
        for res in results:
            if isinstance(res, TrainingDiverged):
                raise res
            copies.append(_state(res.checkpoints[res.final_iteration]))
        out[k] = copies
    return out


# --- the study -------------------------------------------------------------------------------------


def _probe(ctx: StudyContext, config: CorrespondenceConfig) -> torch.Tensor:
    x = ctx.data.train_x
    n = min(config.probe_samples, x.shape[0])
    return x[:n].to(ctx.device)


def run(config: CorrespondenceConfig, ctx: StudyContext) -> StudyResult:
    rng = np.random.default_rng(derived_seed(ctx.run.config.seed, 0, _NULL))
    probe = _probe(ctx, config)
    a = _state(ctx.state(config.checkpoint))
    pairs: list[PairResult] = []
    teacher: tuple[str, list[TeacherMatch]] | None = None
    stability: dict[int, list[PairResult]] = {}
    attrs: dict[str, Any] = {"partner": config.partner}
    if config.partner == "seed":
        partner = ctx.run.partner
        if partner is None:
            raise ValueError("partner: seed needs the next run of the seed grid; this stage was run without it")
        b = _state(partner.checkpoints[_iteration(partner, config.checkpoint)])
        label = f"seed{ctx.run.config.seed}~seed{partner.config.seed}"
        ctx.progress(0.1, f"matching {label}")
        pairs.append(compare(config, ctx, label, a, b, probe, rng))
        attrs.update(partner_run=partner.run_id, partner_seed=int(partner.config.seed))
    elif config.partner == "teacher":
        ctx.progress(0.1, "matching the student's units to the teacher's")
        teacher = teacher_matches(config, ctx, a, probe)
    else:
        assert config.spawn is not None
        copies = spawn_copies(ctx, config.spawn)
        for k, nets in copies.items():
            ctx.progress(0.9, f"matching the copies from iteration {k}")
            for i in range(len(nets)):
                for j in range(i + 1, len(nets)):
                    stability.setdefault(k, []).append(compare(config, ctx, f"rewind{k}_{i}~{j}", nets[i], nets[j], probe, rng))
            pairs += stability[k]
        attrs.update(ticket_round=config.spawn.ticket_round, copies=config.spawn.copies)
    result = encode(config, pairs, teacher, stability)
    result.attrs.update(attrs)
    ctx.progress(1.0, "done")
    return result


def _iteration(art: Any, ref: CheckpointRef) -> int:
    if ref == "final":
        return int(art.final_iteration)
    if ref == "best":
        return int(art.best_iteration)
    return int(ref)


KIND = StudyKind(
    name="correspondence",
    config=CorrespondenceConfig,
    run=run,
    check=check,
    description="match units across networks (another seed, spawned copies, the teacher); mode connectivity before and after alignment",
)

__all__ = ["KIND", "CorrespondenceConfig", "LayerMatch", "PairResult", "SpawnConfig", "TeacherMatch", "compare", "run"]
