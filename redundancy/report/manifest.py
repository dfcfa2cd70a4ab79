"""What a report folder holds that the report made: ``.redundancy-report.json``.

``report --out DIR`` may point at a folder that holds other things (a paper's
figures, notes). The report writes a manifest of every file it made with the
SHA-256 of its content and, on the next build, replaces or removes only files
listed there that still hold exactly that content: a file it did not make, or
one edited since, is never overwritten or deleted, whatever the manifest says.
A new figure whose name is taken by such a file gets another name; a page
whose name is taken stops the build before anything is written, naming the file.

Files are written under a temporary name created exclusively (never through
a symbolic link) and renamed into place, and ``figures/`` must be a folder of
the report, not a link to elsewhere.

A manifest of an earlier version (names without hashes), or a report made
before manifests existed, is trusted only as far as the files' own marks go:
its pages (the page title in an HTML page, the heading of ``report.md``) may
be replaced; nothing it names is removed and no figure of it is replaced (new
figures take other names beside them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from pathlib import Path, PurePosixPath

from redundancy.errors import RedundancyError

MANIFEST = ".redundancy-report.json"
GENERATOR = "redundancy report"
FIGURES_DIR = "figures"
_LEGACY_HTML_MARK = "<title>redundancy report"
_LEGACY_MD_MARK = "# redundancy report\n"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

Previous = dict[str, "str | None"]
"""The files of the last report that this one may replace: name -> SHA-256 they still hold (removable
once this report no longer makes them), or None for a marked page of an older report (replaceable, never removed)."""


class ReportFolderTaken(RedundancyError):
    """The report folder holds a file the report would need to overwrite but did not make."""


def _safe(relative: str) -> bool:
    """A manifest entry names a file inside the folder: relative, no ``..``, no drive."""
    path = PurePosixPath(relative)
    return bool(relative) and not path.is_absolute() and ".." not in path.parts and "\\" not in relative and ":" not in relative


def digest(path: Path) -> str | None:
    """SHA-256 of the regular file ``path`` (never through a symbolic link), or None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        h = hashlib.sha256()
        with os.fdopen(os.dup(fd), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path``: a temporary created exclusively beside it, then renamed over it (a link at
    ``path`` is replaced, never written through). Returns the content's SHA-256 for the manifest."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return hashlib.sha256(data).hexdigest()


def _read_text(path: Path, limit: int = 4 << 20) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def _marked_page(out: Path, name: str) -> bool:
    """A page of a report of an earlier version: a top-level HTML page with the report's title, or its ``report.md``."""
    if "/" in name:
        return False
    if name.endswith(".html"):
        return _LEGACY_HTML_MARK in _read_text(out / name, 4096)
    return name == "report.md" and _read_text(out / name, 64).startswith(_LEGACY_MD_MARK)


def previous_files(out: Path) -> Previous:
    """The files (relative POSIX paths) the last report in ``out`` made and still holds as it made them."""
    path = out / MANIFEST
    if not path.exists() and not path.is_symlink():
        return {name: None for name in ("index.html", "report.md") if _marked_page(out, name)}
    try:
        data = json.loads(_read_text(path) or "null")
    except json.JSONDecodeError as exc:
        raise ReportFolderTaken(f"{path}: not a report manifest ({type(exc).__name__}); move it or choose another --out") from None
    if not isinstance(data, dict) or data.get("generator") != GENERATOR or not isinstance(data.get("files"), list):
        raise ReportFolderTaken(f"{path}: not a report manifest; move it or choose another --out")
    names = [str(f) for f in data["files"] if isinstance(f, str) and _safe(f)]
    hashes = data.get("sha256")
    if not isinstance(hashes, dict):  # an earlier version's manifest: trust the marks, never the list alone
        return {name: None for name in names if _marked_page(out, name)}
    owned: Previous = {}
    for name in names:
        expected = hashes.get(name)
        if isinstance(expected, str) and digest(out / name) == expected:
            owned[name] = expected
    return owned


def check_figures_folder(out: Path) -> None:
    """Stop before writing anything when ``figures/`` is a link or a file: figures are written only inside ``out``."""
    folder = out / FIGURES_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        what = "a symbolic link" if folder.is_symlink() else "not a folder"
        raise ReportFolderTaken(f"{folder} is {what}; the report writes its figures only inside {out}; nothing was written. "
                                "Move it or choose another --out.")


def check_free(out: Path, names: list[str], previous: Previous) -> None:
    """Stop before writing anything when a page the report writes exists and is not the report's."""
    taken = [n for n in names if os.path.lexists(out / n) and n not in previous]
    if taken:
        listed = ", ".join(str(out / n) for n in taken)
        raise ReportFolderTaken(
            f"{listed} exist{'s' * (len(taken) == 1)} and {'was' if len(taken) == 1 else 'were'} not made by redundancy report "
            f"(not in {out / MANIFEST}, or changed since); nothing was written. Move {'it' if len(taken) == 1 else 'them'} or choose another --out."
        )


def finish(out: Path, written: dict[str, str], previous: Previous) -> list[str]:
    """Remove what the previous report made and this one did not, then record this one's files with their hashes.

    ``written`` maps each file this report wrote to its SHA-256. Returns the files removed: only files the
    previous manifest lists with a hash they still match are ever removed."""
    removed = []
    for name in sorted(set(previous) - set(written)):
        expected = previous[name]
        if expected is not None and digest(out / name) == expected:
            (out / name).unlink()
            removed.append(name)
    document = {"generator": GENERATOR, "files": sorted(written), "sha256": dict(sorted(written.items()))}
    write_file(out / MANIFEST, (json.dumps(document, indent=1) + "\n").encode("utf-8"))
    return removed
