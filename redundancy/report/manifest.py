"""What a report folder holds that the report made: ``.redundancy-report.json``.

``report --out DIR`` may point at a folder that holds other things (a paper's
figures, notes). The report writes a manifest of every file it made and, on
the next build, replaces or removes only files listed there: a file it did
not make is never overwritten or deleted. A new figure whose name is taken by
such a file gets another name; a page whose name is taken stops the build
before anything is written, naming the file.

A report made before manifests existed is recognised by its own marks (the
page title in ``index.html``, the heading of ``report.md``) and the figures
``report.md`` links, so rebuilding it replaces it as before.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath

from redundancy.errors import RedundancyError

MANIFEST = ".redundancy-report.json"
GENERATOR = "redundancy report"
_LEGACY_HTML_MARK = "<title>redundancy report</title>"
_LEGACY_MD_MARK = "# redundancy report\n"


class ReportFolderTaken(RedundancyError):
    """The report folder holds a file the report would need to overwrite but did not make."""


def _safe(relative: str) -> bool:
    """A manifest entry names a file inside the folder: relative, no ``..``, no drive."""
    path = PurePosixPath(relative)
    return bool(relative) and not path.is_absolute() and ".." not in path.parts and "\\" not in relative and ":" not in relative


def _read_text(path: Path, limit: int = 4 << 20) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def _legacy(out: Path) -> set[str]:
    """Files of a report made before manifests: its pages and the figures its Markdown links."""
    owned: set[str] = set()
    index, markdown = out / "index.html", out / "report.md"
    if index.is_file() and _LEGACY_HTML_MARK in _read_text(index, 4096):
        owned.add("index.html")
    md = _read_text(markdown) if markdown.is_file() else ""
    if md.startswith(_LEGACY_MD_MARK):
        owned.add("report.md")
        owned.update(link for link in re.findall(r"\]\((figures/[A-Za-z0-9_.-]+\.(?:png|svg))\)", md) if _safe(link))
    return owned


def previous_files(out: Path) -> set[str]:
    """The files (relative POSIX paths) the last report in ``out`` made, which this one may replace."""
    path = out / MANIFEST
    if not path.exists():
        return _legacy(out)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportFolderTaken(f"{path}: not a report manifest ({type(exc).__name__}); move it or choose another --out") from None
    if not isinstance(data, dict) or data.get("generator") != GENERATOR or not isinstance(data.get("files"), list):
        raise ReportFolderTaken(f"{path}: not a report manifest; move it or choose another --out")
    return {str(f) for f in data["files"] if isinstance(f, str) and _safe(f)}


def check_free(out: Path, names: list[str], previous: set[str]) -> None:
    """Stop before writing anything when a page the report writes exists and is not the report's."""
    taken = [n for n in names if (out / n).exists() and n not in previous]
    if taken:
        listed = ", ".join(str(out / n) for n in taken)
        raise ReportFolderTaken(
            f"{listed} exist{'s' * (len(taken) == 1)} and {'was' if len(taken) == 1 else 'were'} not made by redundancy report "
            f"(not in {out / MANIFEST}); nothing was written. Move {'it' if len(taken) == 1 else 'them'} or choose another --out."
        )


def finish(out: Path, written: list[str], previous: set[str]) -> list[str]:
    """Remove what the previous report made and this one did not, then record this one's files.

    Returns the files removed. Only files listed by the previous manifest are ever removed."""
    removed = []
    keep = set(written)
    for name in sorted(previous - keep):
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(name)
    tmp = out / f"{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"generator": GENERATOR, "files": sorted(keep)}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return removed
