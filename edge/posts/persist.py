"""Saving and loading each post's protection state (table ``post_protection``, migrations 3 and 20).

Each row carries the post's save version; a save replaces the row only with a higher version,
so an older snapshot written late (another thread, a retry) never overwrites a newer one.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["Saved", "load_all", "save", "save_many"]

logger = logging.getLogger(__name__)


class Saved(NamedTuple):
    """One post's saved state."""

    snapshot: dict[str, Any]
    open_events: dict[str, Any]
    version: int


_UPSERT = ("INSERT INTO post_protection (post, snapshot, open_events, updated, version) "
           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (post) DO UPDATE SET "
           "snapshot = excluded.snapshot, open_events = excluded.open_events, "
           "updated = excluded.updated, version = excluded.version "
           "WHERE excluded.version > post_protection.version")


def save(store: Store, post: str, snapshot: dict[str, Any], open_events: dict[str, Any],
         version: int) -> bool:
    """Write one post's state durably unless a newer version is saved; True if it was written."""
    return bool(save_many(store, [(post, snapshot, open_events, version)]))


def save_many(store: Store,
              items: list[tuple[str, dict[str, Any], dict[str, Any], int]]) -> list[str]:
    """Write several posts' states in one durable transaction (one fsync for all of them).

    Each row is replaced only by a higher version. Returns the posts whose row was written.
    Raises as :meth:`Store.transaction` does; then nothing of the batch is written.
    """
    written = []
    now = time.time()
    with store.transaction() as db:
        for post, snapshot, open_events, version in items:
            cursor = db.execute(_UPSERT, (post, json.dumps(snapshot, allow_nan=False),
                                          json.dumps(open_events, ensure_ascii=False), now,
                                          version))
            if cursor.rowcount > 0:
                written.append(post)
    return written


def load_all(store: Store) -> dict[str, Saved]:
    """post id → its saved state; unreadable rows are logged and skipped."""
    out: dict[str, Saved] = {}
    for row in store.query("SELECT post, snapshot, open_events, version FROM post_protection"):
        try:
            out[row["post"]] = Saved(json.loads(row["snapshot"]), json.loads(row["open_events"]),
                                     int(row["version"]))
        except ValueError:
            logger.exception("saved protection state of post %s is unreadable; starting it clear",
                             row["post"])
    return out
