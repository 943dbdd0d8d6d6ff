"""Is a database error the disk's fault, and what does the disk look like now.

A disk problem (full, read-only, I/O error, a data directory that cannot be created) must never
stop the daemon: the store degrades and reports it through :class:`StoreHealth`, which
``/healthz`` and the alert manager read. Anything else (a newer schema, a broken migration) is
a programming or deployment error and is raised.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskKind", "StoreHealth", "disk_kind", "free_bytes", "is_disk_error"]

# SQLite primary result codes that mean "the disk or the file", not "the SQL".
_SQLITE_DISK_CODES = {
    3: "io_error",     # SQLITE_PERM
    8: "read_only",    # SQLITE_READONLY
    10: "io_error",    # SQLITE_IOERR (and its extended codes)
    11: "io_error",    # SQLITE_CORRUPT
    13: "disk_full",   # SQLITE_FULL
    14: "io_error",    # SQLITE_CANTOPEN
    26: "io_error",    # SQLITE_NOTADB
}
_ERRNO_KINDS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "read_only",
                errno.EACCES: "read_only", errno.EPERM: "read_only"}

DiskKind = str  # "disk_full" | "read_only" | "io_error"


def disk_kind(err: BaseException) -> DiskKind | None:
    """The kind of disk problem ``err`` is, or None when it is not a disk problem."""
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        if code is not None:
            return _SQLITE_DISK_CODES.get(code & 0xFF)
        text = str(err).lower()
        if "full" in text:
            return "disk_full"
        if "readonly" in text or "read-only" in text:
            return "read_only"
        if "disk i/o" in text or "unable to open" in text:
            return "io_error"
        return None
    if isinstance(err, OSError):
        return _ERRNO_KINDS.get(err.errno or 0, "io_error")
    return None


def is_disk_error(err: BaseException) -> bool:
    """True when ``err`` is the disk's fault (full, read-only, I/O), not the SQL's."""
    return disk_kind(err) is not None


def free_bytes(path: Path) -> int | None:
    """Bytes free for us on the filesystem of ``path`` (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stat = os.statvfs(probe)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


@dataclass(frozen=True)
class StoreHealth:
    """What the store can do now.

    ``mode`` is "rw" (normal), "ro" (saved state readable, nothing written) or "memory" (nothing
    on disk readable: an empty database in memory). ``kind`` names the problem ("" when ok).
    """

    ok: bool
    mode: str
    kind: DiskKind = ""
    problem: str = ""          # English, for the log and /healthz
    path: str = ""
    free_bytes: int | None = None
    since: float | None = None  # epoch seconds of the first failure of this episode
    queued: int = 0            # writes waiting for the disk

    @property
    def detail(self) -> str:
        """One line: what is wrong, where, how much room is left."""
        if self.ok:
            return "writable"
        free = "unknown" if self.free_bytes is None else f"{self.free_bytes} bytes"
        return (f"{self.problem} (database {self.path}, {free} free, mode {self.mode}, "
                f"{self.queued} write(s) waiting)")
