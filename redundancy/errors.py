"""Errors the command line turns into one clear message and a non-zero exit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is and what was expected."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f"{self.path}: " if self.path else ""
        return f"{where}: {field}{self.message}"


class RedundancyError(Exception):
    """Base class for errors reported to the user without a traceback."""

    exit_code = 1


class SpecError(RedundancyError):
    """A spec that cannot be run; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DataUnavailable(RedundancyError):
    """A dataset that is not on disk and could not be downloaded."""


class StoreError(RedundancyError):
    """A store that cannot be read or written as asked."""


class StoreWriteError(StoreError):
    """A write into a store failed (disk full, file size limit, read-only folder...); the run stops."""


class StoreRefused(StoreError):
    """A folder the tool will not write as a store: a folder of other files, or a store whose own folders are links."""

    exit_code = 2


class StoreBusy(StoreError):
    """Another process holds the store's writer lock and the caller asked not to wait."""

    exit_code = 3
