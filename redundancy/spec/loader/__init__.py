"""Read a spec file once into everything the engine needs, or report every problem with its line.

:func:`load_spec` is the one place a spec is read, checked and resolved. It returns a
:class:`ResolvedSpec`: the validated :class:`Spec`, its text, and one :class:`GridPoint`
per distinct run with the run's fully resolved config (:class:`ResolvedRun`, no ``None``
left) and its layer shapes. :func:`redundancy.engine.make_plan` only hashes what it gets.

Every problem is found in one pass and reported sorted by position: YAML syntax,
schema (unknown fields with a "did you mean", wrong types, out-of-range values,
non-finite numbers, seeds outside 0..2**63-1, unsafe names), then what needs the
registries (unknown dataset or model, a validation split larger than the training
pool, layers and checkpoints the studies name). Each problem names the file, line
and column, or the ``--set`` override it came from; a problem caused by a grid value
is reported at that value.

Reading is bounded before anything heavy is imported (torch loads only after the
bounds hold): files over :data:`MAX_SPEC_BYTES` are refused unread, nesting deeper
than :data:`MAX_DEPTH` and aliases expanding to more than :data:`MAX_NODES` values
are refused while composing, and grids over :data:`MAX_GRID_POINTS` points before
they are expanded. Layer shapes are computed once per distinct model and data, and
study checks once per distinct run (seeds aside), so a 10,000-point grid resolves in
seconds.

The modules: :mod:`~redundancy.spec.loader.reading` (bounded YAML),
:mod:`~redundancy.spec.loader.located` (where a field is; problems from pydantic),
:mod:`~redundancy.spec.loader.overrides` (``--set``), :mod:`~redundancy.spec.loader.grid`,
:mod:`~redundancy.spec.loader.studies`, :mod:`~redundancy.spec.loader.checks` (what needs
the registries), :mod:`~redundancy.spec.loader.derive` (plugin and file identities),
:mod:`~redundancy.spec.loader.executor` (the ``executor:`` section),
:mod:`~redundancy.spec.loader.resolve` (grid points into runs) and
:mod:`~redundancy.spec.loader.load`, which runs them in order.
"""

from __future__ import annotations

from redundancy.spec.loader.grid import GRID_ROOTS, MAX_GRID_POINTS, run_label
from redundancy.spec.loader.load import load_spec, load_text, without_cycle_collection
from redundancy.spec.loader.located import Loc, Located, Override, format_path, pydantic_problems
from redundancy.spec.loader.overrides import parse_override
from redundancy.spec.loader.reading import MAX_DEPTH, MAX_NODES, MAX_SPEC_BYTES, parse_yaml, read_text, read_yaml
from redundancy.spec.loader.resolve import GridPoint, ResolvedSpec, resolve
from redundancy.spec.loader.studies import plugins_installed, study_labels
from redundancy.spec.schema import SpecInfo

__all__ = [
    "GRID_ROOTS", "GridPoint", "Loc", "Located", "MAX_DEPTH", "MAX_GRID_POINTS", "MAX_NODES", "MAX_SPEC_BYTES",
    "Override", "ResolvedSpec", "SpecInfo", "format_path", "load_spec", "load_text", "parse_override", "parse_yaml",
    "plugins_installed", "pydantic_problems", "read_text", "read_yaml", "resolve", "run_label", "study_labels",
    "without_cycle_collection",
]
