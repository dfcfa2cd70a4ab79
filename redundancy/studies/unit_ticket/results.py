"""The unit-ticket study's typed results: its summary tables and curves keyed by their path.

Its 0.1 summary is a tree of tables (per arm, per fraction); the generic
decoder keys each by its path, which is what this kind's records carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.results import KindSchema, Results, decode_generic

UNIT_TICKET_KEY = ("path",)


def decode_unit_ticket(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    return decode_generic("unit_ticket", summary, curves)


SCHEMA = KindSchema("unit_ticket", UNIT_TICKET_KEY, decode_unit_ticket)
