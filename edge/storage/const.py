"""Tunables of the store that staff should not touch (retries, batches, bounds)."""

from __future__ import annotations

# -- opening and recovery ------------------------------------------------------------------------
BUSY_TIMEOUT_S = 5.0
# A degraded store (disk full, read-only, unreadable) tries to get back to read-write this often.
RECOVER_EVERY_S = 2.0
# Less room than this on the data directory's filesystem is reported as "disk full", whatever
# SQLite called the failure (it says "disk I/O error" when it cannot grow its -shm file).
DISK_FULL_BELOW_BYTES = 256 * 1024

# -- the writer thread ---------------------------------------------------------------------------
# Operations committed in one transaction at most (group commit); more wait for the next one.
WRITER_BATCH = 2000
# While the disk refuses writes, queued operations stay in memory. Past this many, droppable ones
# (audit events) are dropped, oldest first, and counted; alert changes are never dropped.
WRITER_MAX_QUEUED = 50_000

# -- retention ------------------------------------------------------------------------------------
RETENTION_EVERY_S = 3600.0
# Rows deleted per transaction, so a first clean-up after months never holds the writer for long.
RETENTION_CHUNK = 5000
