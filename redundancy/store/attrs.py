"""Reading HDF5 attributes tolerantly: text decoded with bad bytes replaced, JSON parsed with the
attribute named, h5py's errors said in a few words, and links followed only inside the store.

Every reader of the store (the tolerant reader, the writer's own reads of ``index.h5`` and of its
stage files) reads attributes through :func:`read_attrs`. No torch, Textual, Rich or matplotlib here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np


class ReadError(Exception):
    """Something of a store that cannot be read, with the reason in one line a user can act on."""


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (newlines and tabs as spaces), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def decode_value(value: Any) -> tuple[Any, bool]:
    """An attribute value as plain Python, and whether undecodable bytes were replaced.

    h5py hands non-UTF-8 text back as bytes, or as a str with lone surrogates;
    both become a str with U+FFFD in place of each bad byte."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), False
        except UnicodeDecodeError:
            return value.decode("utf-8", "replace"), True
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value, False
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            items = [decode_value(v) for v in value.ravel().tolist()]
            return [v for v, _ in items], any(bad for _, bad in items)
        return value.tolist(), False
    if isinstance(value, np.generic):
        return value.item(), False
    return value, False


def read_attrs(obj: h5py.HLObject, only: Iterable[str] | None = None, *, strict: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Every attribute of ``obj`` (or those named in ``only``), decoded, and a note per attribute
    that needed repair or could not be read.

    ``strict`` (the writer reading back its own files) repairs nothing and notes nothing: text that
    is not UTF-8 raises ``UnicodeDecodeError`` and an attribute that cannot be read raises h5py's error."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    try:
        manager = obj.attrs  # h5py builds a new manager on every access: one for all attributes
        names = list(manager.keys()) if only is None else [n for n in only if n in manager]
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        if strict:
            raise
        return out, [f"attributes unreadable ({one_line(str(exc), 120)})"]
    for raw_name in names:
        if strict:
            out[raw_name] = _strict_value(manager[raw_name])
            continue
        name, bad_name = decode_value(raw_name)
        try:
            value, bad = decode_value(manager[raw_name])
        except (OSError, RuntimeError, ValueError, TypeError, KeyError, UnicodeError) as exc:
            notes.append(f"attribute {name!r} unreadable ({one_line(str(exc), 120)})")
            continue
        if bad or bad_name:
            notes.append(f"attribute {name!r} holds bytes that are not UTF-8 (replaced by U+FFFD)")
        out[str(name)] = value
    return out, notes


def _strict_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_json(attrs: dict[str, Any], name: str, default: Any = None) -> Any:
    """A JSON text attribute; raises :class:`ReadError` naming the attribute when it does not parse."""
    raw = attrs.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ReadError(f"attribute {name!r} is not valid JSON ({one_line(str(exc), 80)})") from None


def describe_h5_error(path: Path, exc: BaseException) -> str:
    """h5py's error for ``path`` as a short reason (empty, truncated, locked, not HDF5 ...)."""
    message = str(exc)
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if isinstance(exc, FileNotFoundError) or (size is None and not path.exists()):
        return "file disappeared (removed or replaced while reading)"
    if isinstance(exc, PermissionError) or "Permission denied" in message:
        return "permission denied"
    if path.is_dir():
        return "a folder, not a file"
    if size == 0:
        return "empty file (0 bytes)"
    if isinstance(exc, BlockingIOError) or "unable to lock file" in message:
        return "locked by another process"
    if "already open for write" in message:
        return "locked: another process has it open for writing"
    if "truncated file" in message:
        found = re.search(r"eof = (\d+).*stored_eof = (\d+)", message)
        if found:
            return f"truncated HDF5 file ({found.group(1)} of {found.group(2)} bytes)"
        return "truncated HDF5 file"
    if "file signature not found" in message:
        return "not an HDF5 file (no HDF5 signature)"
    return f"unreadable HDF5 file: {one_line(message, 160)}"


def open_checked(path: Path) -> h5py.File:
    """Open read-only without a lock, raising :class:`ReadError` with a readable reason."""
    try:
        return open_h5(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ReadError(describe_h5_error(Path(path), exc)) from None



def open_h5(path: Path | str) -> h5py.File:
    """Open an HDF5 file read-only without taking a lock (readers never block a writer)."""
    return h5py.File(path, "r", locking=False)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolved (symlinks followed) stays inside ``root`` resolved."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def resolve(f: h5py.File, name: str, root: Path | None) -> Any:
    """``f[name]`` following an external link only when its target file lies inside ``root``.

    Without ``root`` (a lone file named on the command line) external links are not followed at all."""
    node: Any = f["/"]
    for part in [p for p in name.split("/") if p]:
        if not isinstance(node, h5py.Group):
            raise ReadError(f"{name!r}: {part!r} is below a dataset")
        link = node.get(part, getlink=True)
        if link is None:
            raise ReadError(f"no {name!r} in {Path(f.filename).name}")
        if isinstance(link, h5py.ExternalLink):
            target = Path(f.filename).parent / link.filename
            if root is None or not inside(target, root):
                raise ReadError(f"{name!r} is an external link to {link.filename}, outside the store; not followed")
        node = node[part]
    return node


def file_has_attr(path: Path, name: str) -> bool:
    """Whether ``path`` is a regular HDF5 file whose root carries the attribute ``name``."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open_h5(path) as f:
            return name in f.attrs
    except (OSError, ValueError, RuntimeError):
        return False

