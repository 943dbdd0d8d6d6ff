"""A real small filesystem that really fills up: a tmpfs of a few MiB.

Mounted directly when the tests run as root; otherwise the tests that need it are skipped with
the reason (an unprivileged user namespace cannot be entered by an already running pytest).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SmallFs", "small_fs"]


class SmallFs:
    """A mounted tmpfs and a filler file that takes every free byte."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler.bin"

    def fill(self) -> None:
        """Write until the filesystem says ENOSPC."""
        chunk = b"\0" * 65536
        with self.filler.open("ab", buffering=0) as out:
            try:
                while True:
                    out.write(chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
            # small writes next, so that not even one page is left
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 512)

    def free(self) -> None:
        """Give the space back."""
        self.filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        """Bytes free on it now."""
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize


@contextlib.contextmanager
def small_fs(where: Path, size_mb: int = 8) -> Iterator[SmallFs]:
    """Mount a tmpfs of ``size_mb`` at ``where`` (skips the test when that is not allowed)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real small filesystem needs root to mount a tmpfs here")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",  # noqa: S603, S607
                             str(where)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield SmallFs(where)
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)  # noqa: S603, S607
