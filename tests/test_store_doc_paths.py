"""docs/store.md documents every dataset every built-in study kind writes.

One tiny store runs every built-in kind with every option that adds tensors (controls, fine-tuning,
costs, alignment, stored weights, several layers and checkpoints); each dataset under ``/results`` of
each study stage must match a path of that kind's tables in docs/store.md. A table's first cell names
paths in backticks: ``<name>`` stands for one path segment, ``{a,b}`` for either, ``...`` for anything
below, and a bare name after a path (``loss`` in "`<lc>/<c>/<d>/accuracy`, `loss`") replaces that
path's last segment.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import pytest

from support.tiny import run_spec, tiny_text

DOC = Path(__file__).resolve().parents[1] / "docs" / "store.md"

STUDIES = """\
studies:
  - kind: pruning
    layer: [fc1, fc2]
    checkpoint: [best, final]
    criteria: [magnitude:smallest, frame_potential:largest, activation, random]
    seeds: 2
    finetune: {iterations: 5, levels: [0.25]}
    store_weights: true
  - kind: subspace
    layer: [fc1, fc2]
    target: [update, weights]
    basis: [top, bottom, random]
    seeds: 2
    ks: [0, 2]
    alignment: true
  - kind: lottery
    rounds: 2
    store_weights: true
  - kind: dynamics
    probe: 20
    restarts: 2
  - kind: unit_ticket
    keep_fractions: [0.5]
    seeds: 1
    ticket_round: 1
    store_weights: true
  - kind: correspondence
    partner: spawn
    spawn: {iterations: [0, 20], copies: 2}
    matching: [weights, activations]
    path_points: 3
    null_draws: 5
    probe_samples: 50
"""
KINDS = ["pruning", "subspace", "lottery", "dynamics", "unit_ticket", "correspondence"]


def _segment_regex(span: str) -> str:
    out = re.escape(span)
    out = out.replace(re.escape("..."), ".*")
    out = re.sub(r"\\\{([^}]*)\\\}", lambda m: "(" + "|".join(re.escape(a.strip()) for a in m.group(1).replace("\\", "").split(",")) + ")", out)
    out = re.sub(r"<[^>]*>", "[^/]+", out.replace("\\<", "<").replace("\\>", ">"))
    return out


def documented(kind: str) -> list[re.Pattern[str]]:
    """The path patterns of the tables in ``### `<kind>``` of docs/store.md."""
    text = DOC.read_text()
    section = text.split(f"### `{kind}`", 1)[1]
    section = re.split(r"\n##+ ", section, maxsplit=1)[0]
    patterns: list[str] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split(" | ")[0]
        last = ""
        for i, span in enumerate(re.findall(r"`([^`]+)`", first)):
            if "/" in span or i == 0:
                last = span
                patterns.append(span)
            elif last:
                patterns.append(last.rsplit("/", 1)[0] + "/" + span)
    return [re.compile(_segment_regex(p) + "$") for p in patterns]


def test_patterns_read_the_doc_as_meant() -> None:
    pruning = documented("pruning")
    assert any(p.match("fc1@best/magnitude/smallest/loss") for p in pruning)
    assert not any(p.match("fc1@best/magnitude/smallest/nonsense") for p in pruning)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("every-kind")
    text = tiny_text("every", model={"widths": [16, 8]}, iterations=40, checkpoints=[20], tail=STUDIES)
    _, target, report = run_spec(folder, text, "every.yaml")
    assert not report.failed, report.failed
    return target.root


def test_every_built_in_kind_is_checked() -> None:
    from redundancy.studies import BUILTIN

    assert sorted(KINDS) == sorted(BUILTIN)


@pytest.mark.parametrize("kind", KINDS)
def test_every_dataset_of_every_kind_is_documented(store: Path, kind: str) -> None:
    patterns = documented(kind)
    paths: list[str] = []
    for stage in sorted((store / "stages").glob(f"{kind}-*.h5")):
        with h5py.File(stage, "r") as f:
            f["results"].visititems(lambda name, obj: paths.append(name) if isinstance(obj, h5py.Dataset) else None)
    assert paths, f"no {kind} stage wrote datasets"
    missing = sorted(p for p in paths if not any(pat.match(p) for pat in patterns))
    assert not missing, f"docs/store.md ### `{kind}` does not document: {missing[:20]}"
