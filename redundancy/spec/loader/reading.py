"""Reading a spec's YAML under bounds, before anything heavy is imported.

Files over :data:`MAX_SPEC_BYTES` are refused unread, nesting deeper than
:data:`MAX_DEPTH` and aliases expanding to more than :data:`MAX_NODES` values are
refused while composing; control characters and duplicate keys are problems with
their line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from redundancy.errors import Problem, SpecError
from redundancy.spec.loader.located import Loc, Located, format_path


#: Largest spec file read (bytes); larger files are refused before parsing.
MAX_SPEC_BYTES = 1 << 20


#: Deepest nesting of mappings and lists.
MAX_DEPTH = 50


#: Most values a document may hold once its aliases are expanded (a "billion laughs" stops here).
MAX_NODES = 200_000


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing deep nesting and alias expansions past the bounds while composing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}

    def _size(self, node: yaml.Node) -> int:
        """Values ``node`` stands for once expanded (memoized: shared nodes are counted once per use)."""
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                self._sizes[key] = 1 + sum(self._size(v) for v in node.value)
            elif isinstance(node, yaml.MappingNode):
                self._sizes[key] = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                self._sizes[key] = 1
        return self._sizes[key]

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self._values += n
        if self._values > MAX_NODES:
            raise _Bound(mark, f"the spec expands to more than {MAX_NODES:,} values (aliases nested too deep?)")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            self._count(self._size(node), event.start_mark)
            return node
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Bound(event.start_mark, f"the spec nests deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(1, event.start_mark)
        return node


class _Bound(Exception):
    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark = mark
        self.message = message


def _control_character(text: str, file: str) -> None:
    """Refuse a character YAML does not allow in a document (a control character), naming its line and column."""
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is None:
        return
    at = bad.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    char = bad.group()
    hint = f"; inside double quotes write it as the escape \\x{ord(char):02x}" if ord(char) < 0x100 else ""
    raise SpecError([Problem(file, line, column, "", f"control character U+{ord(char):04X} is not allowed in a spec{hint}")])


def _fast_tree(text: str) -> tuple[bool, yaml.Node | None, yaml.SafeLoader | None]:
    """The composed tree by libyaml when the document has no aliases and is within the bounds.

    libyaml parses a 1 MiB grid in a fraction of a second where the pure-Python parser
    takes seconds. Its composer cannot be bounded while it composes, so the events are
    checked first (depth and number of values; libyaml's parser keeps an explicit stack,
    so a deep document cannot overflow it); a document with aliases takes the bounded
    Python loader, which counts what each alias expands to, and so does a document libyaml
    cannot parse. Returns ``(False, None, None)`` when the fast path does not apply.
    """
    if not getattr(yaml, "__with_libyaml__", False):
        return False, None, None
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:  # the Python loader reports it, with the messages and bounds it always gave
        return False, None, None
    depth = values = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            return False, None, None
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            values += 1
            if depth > MAX_DEPTH:
                raise _Bound(event.start_mark, f"the spec nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
        if values > MAX_NODES:
            raise _Bound(event.start_mark, f"the spec expands to more than {MAX_NODES:,} values")
    loader = yaml.CSafeLoader(text)
    return True, loader.get_single_node(), loader


def parse_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """``(data, composed tree)`` of ``text`` under the bounds; syntax errors become a :class:`SpecError`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError([Problem(file, None, None, "", f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB; a spec file holds settings, not data")])
    _control_character(text, file)
    loader: Any = None
    try:
        fast, root, loader = _fast_tree(text)
        if not fast:
            loader = _BoundedLoader(text)
            root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _Bound as exc:
        raise SpecError([Problem(file, exc.mark.line + 1, exc.mark.column + 1, "", exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem(file, line, col, "", f"invalid YAML: {reason}")]) from None
    except RecursionError:  # not reached within MAX_DEPTH; a guard for unusual documents
        raise SpecError([Problem(file, None, None, "", f"the spec nests deeper than {MAX_DEPTH} levels")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, root


def read_text(path: Path) -> str:
    """The spec file's text; files over :data:`MAX_SPEC_BYTES` are refused before they are read."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError([Problem(file, None, None, "", f"the spec is {size / 2**20:.1f} MiB; at most {MAX_SPEC_BYTES // 1024} KiB is read (a spec file holds settings, not data)")])
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError([Problem(file, None, None, "", f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB")])
        return raw.decode("utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(file, None, None, "", "no such spec file")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(file, None, None, "", "a folder, not a spec file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(file, None, None, "", f"cannot read spec: {exc}")]) from None


def read_yaml(path: Path) -> tuple[Any, Located]:
    """Parse ``path`` under the bounds; duplicate keys and syntax errors become a :class:`SpecError`."""
    file = str(path)
    data, root = parse_yaml(read_text(Path(path)), file)
    where = Located(file, root)
    dups = duplicate_keys(where, root)
    if dups:
        raise SpecError(dups)
    return data, where


def duplicate_keys(where: Located, node: yaml.Node | None, loc: Loc = (), seen_nodes: set[int] | None = None) -> list[Problem]:
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if node is None or id(node) in seen_nodes:  # an alias's target was checked where it was defined
        return []
    seen_nodes.add(id(node))
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = getattr(k, "value", None)
            if isinstance(key, str) and key in seen:
                line, col = k.start_mark.line + 1, k.start_mark.column + 1
                problems.append(Problem(where.file, line, col, format_path(loc + (str(key),)), f"key {key!r} appears twice"))
            if isinstance(key, str):
                seen.add(key)
            problems += duplicate_keys(where, v, loc + (str(key),), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            problems += duplicate_keys(where, v, loc + (i,), seen_nodes)
    return problems
