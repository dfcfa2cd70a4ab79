"""docs/store.md and redundancy/store/layout.py name the same attributes and paths.

Both ways: every name ``layout`` defines appears in backticks in the doc, and every attribute the
doc's attribute lists name (the paragraphs that start with "Attributes" or "Every stage file has")
is one ``layout`` defines (or a study's own ``result_<name>``).
"""

from __future__ import annotations

import re
from pathlib import Path

from redundancy.store import layout

DOC = Path(__file__).resolve().parents[1] / "docs" / "store.md"


def _names() -> dict[str, str]:
    """Every string constant of the layout module, by constant name."""
    return {k: v for k, v in vars(layout).items() if k.isupper() and not k.startswith("_") and isinstance(v, str)}


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _attribute_paragraphs(text: str) -> list[str]:
    paragraphs = re.split(r"\n\s*\n", text)
    return [p for p in paragraphs if p.startswith(("Attributes", "Every stage file has"))]


def test_every_layout_name_is_in_the_doc() -> None:
    spans = _spans(DOC.read_text())
    missing = sorted(f"{k} = {v!r}" for k, v in _names().items() if not any(v in span for span in spans))
    assert not missing, f"docs/store.md does not name: {missing}"


def test_every_attribute_the_doc_lists_is_in_the_layout() -> None:
    paragraphs = _attribute_paragraphs(DOC.read_text())
    assert len(paragraphs) >= 5  # index.h5, every stage, train, study, and the kinds' own
    known = set(_names().values())
    listed = {s for p in paragraphs for s in _spans(p) if re.fullmatch(r"[a-z][a-z0-9_]*", s)}
    unknown = sorted(s for s in listed if s not in known and not s.startswith(layout.RESULT_ATTR_PREFIX))
    assert not unknown, f"docs/store.md lists attributes that store/layout.py does not define: {unknown}"
    assert {"stage_id", "best_iteration", "spec_resolved", "data_sha256", "checksum"} <= listed
