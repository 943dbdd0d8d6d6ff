"""Helpers of the daemon's SQLite store (:mod:`edge.store`): disk health, the writer thread, retention.

The store itself and its migrations stay in :mod:`edge.store`; this package holds the parts that
keep it working on a small box: a disk that fills up or turns read-only, commits off the event
loop, and tables that must not grow for ever.
"""

from edge.storage.disk import StoreHealth, is_disk_error
from edge.storage.retention import RETENTION_TABLES, retention_cutoffs
from edge.storage.writer import Writer

__all__ = ["RETENTION_TABLES", "StoreHealth", "Writer", "is_disk_error", "retention_cutoffs"]
