"""Retention by age: which rows of which table may go, given ``storage.retention``.

Only finished rows are deleted: a play still queued, a notification still pending or an alert
still open is never removed, however old.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from edge.storage.const import RETENTION_CHUNK

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["RETENTION_TABLES", "apply_retention", "retention_cutoffs"]

logger = logging.getLogger(__name__)

# table → (config field with the days to keep, timestamp column, condition for "finished")
RETENTION_TABLES: dict[str, tuple[str, str, str]] = {
    "events": ("events_days", "ts", "1"),
    "plays": ("plays_days", "due",
              "state NOT IN ('queued', 'dispatched')"),
    "notifications": ("notifications_days", "created_ts",
                      "state IN ('sent', 'failed', 'suppressed')"),
    "alert_log": ("alert_log_days", "ts",
                  "alert_id IN (SELECT id FROM alerts WHERE state = 'resolved')"),
    "alerts": ("alerts_days", "last_ts",
               "state = 'resolved' AND id NOT IN (SELECT alert_id FROM notifications) "
               "AND id NOT IN (SELECT alert_id FROM alert_log)"),
}


def retention_cutoffs(retention: Any, now: float) -> dict[str, float]:
    """Table → epoch seconds before which finished rows go (tables whose days are 0 are kept)."""
    out: dict[str, float] = {}
    for table, (field, _column, _finished) in RETENTION_TABLES.items():
        days = getattr(retention, field)
        if days:
            out[table] = now - float(days) * 86400.0
    return out


def apply_retention(store: Store, now: float | None = None) -> dict[str, int]:
    """Delete finished rows older than ``storage.retention`` says, in small transactions."""
    if store.retention is None or not store.writable:
        return {}
    deleted: dict[str, int] = {}
    for table, cutoff in retention_cutoffs(store.retention, now or time.time()).items():
        _field, column, finished = RETENTION_TABLES[table]
        total = 0
        while True:
            try:
                with store.transaction() as db:
                    count = db.execute(
                        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "  # noqa: S608
                        f"WHERE {column} < ? AND {finished} LIMIT ?)",
                        (cutoff, RETENTION_CHUNK)).rowcount
            except sqlite3.Error as err:
                logger.warning("retention of %s stopped: %s", table, err)
                break
            total += count
            if count < RETENTION_CHUNK:
                break
        if total:
            deleted[table] = total
            logger.info("retention: %d row(s) of %s older than %s deleted", total, table,
                        time.strftime("%Y-%m-%d", time.localtime(cutoff)))
    return deleted


