"""Stage ids are a promise: the specs shipped as of the store's first format keep their ids forever.

``tests/frozen/specs/`` holds copies of every shipped spec as it was when the ids were frozen, and
``tests/frozen/stage_ids.json`` the ids and identity payloads their plans had. A refactor that
changes one of them would make every existing store recompute that stage, so it fails here.
Editing a shipped spec under ``specs/`` later is fine: the copies are what is frozen.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.frozen_ids import stage_identities

FROZEN = Path(__file__).parent / "frozen"
TABLE = json.loads((FROZEN / "stage_ids.json").read_text())


def test_every_frozen_spec_has_a_copy_and_stages():
    copies = sorted(p.name for p in (FROZEN / "specs").glob("*.yaml"))
    assert copies == sorted(TABLE)
    assert sum(len(rows) for rows in TABLE.values()) >= 200


@pytest.mark.parametrize("name", sorted(TABLE))
def test_stage_ids_and_identities_unchanged(name: str):
    now = stage_identities(FROZEN / "specs" / name)
    frozen = TABLE[name]
    assert [r["label"] for r in now] == [r["label"] for r in frozen]
    for got, want in zip(now, frozen):
        assert got["identity"] == want["identity"], f"{name}: identity of {want['label']} changed"
        assert got["id"] == want["id"], f"{name}: id of {want['label']} changed"
