"""One writer per store: an exclusive lock.

The lock is ``fcntl.flock`` on ``<store>/.writer.lock``. The operating system
releases it when its process ends, however it ends, so there is never a stale
lock to clean up; the file itself stays (removing it would let two processes
lock two different files of one name). While held it records the holder's pid,
host and command, for the message a second writer prints while it waits.

Where the file system has no locks (some network file systems), taking the
lock fails with one message; setting ``REDUNDANCY_NO_LOCK=1`` writes without
it, and then the user alone makes sure only one ``redundancy run`` writes the
store at a time.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from redundancy.errors import StoreBusy, StoreError, StoreRefused
from redundancy.store import layout as L
from redundancy.store.files import Store, now_iso, os_reason, write_failed

NO_LOCK_ENV = "REDUNDANCY_NO_LOCK"
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}

LogFn = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


class WriterLock:
    """The exclusive writer lock of one store folder (which must exist)."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / L.LOCK
        self.fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as recorded in the lock file: ``pid 123 on host (redundancy run spec.yaml)``."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8", errors="replace") or "{}")
        except (OSError, ValueError):
            info = {}
        if not isinstance(info, dict) or "pid" not in info:
            return "another process"
        return f"pid {info.get('pid')} on {info.get('host', '?')} ({info.get('command', '?')})"

    def acquire(self, *, wait: bool = True, log: LogFn = _quiet) -> None:
        if os.environ.get(NO_LOCK_ENV):
            log(f"warning: {NO_LOCK_ENV} is set: writing {self.root} without a lock; no other run may write it meanwhile")
            return
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreRefused(f"{self.path} is a symbolic link; a store writes only inside its own folder, so {self.root} is refused") from None
            raise write_failed(self.path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                message = f"{self.root} is being written by {self.holder()}"
                if not wait:
                    raise StoreBusy(f"{message}; try again once it has finished") from None  # run adds its --no-wait hint
                log(f"{message}; waiting for it to finish (then this run continues from what it stored)")
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NO_LOCKS:
                raise StoreError(
                    f"cannot lock {self.path}: its file system does not support locks ({os_reason(exc)}); "
                    f"to write without a lock, set {NO_LOCK_ENV}=1 and make sure no other run writes this store meanwhile"
                ) from None
            raise write_failed(self.path, exc) from None
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        record = json.dumps({"pid": os.getpid(), "host": platform.node(), "command": " ".join(sys.argv) or "python", "since": now_iso()})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode() + b"\n", 0)
        except OSError as exc:
            self.release()
            raise write_failed(self.path, exc) from None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None


def _make_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"cannot write the store {root}: it or a folder above it is a file, not a folder; choose another --store") from None
    except OSError as exc:
        raise write_failed(root, exc) from None


@contextmanager
def locked(store: Store, *, wait: bool = True, log: LogFn = _quiet) -> Iterator[Store]:
    """Hold ``store``'s writer lock (creating its folder) for the duration of the block."""
    _make_root(store.root)
    lock = WriterLock(store.root)
    lock.acquire(wait=wait, log=log)
    try:
        yield store
    finally:
        lock.release()

