"""Saving and loading each post's protection state (table ``post_protection``, migration 3)."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["load_all", "save"]

logger = logging.getLogger(__name__)


def save(store: Store, post: str, snapshot: dict[str, Any], open_events: dict[str, Any]) -> None:
    """Write one post's state durably (replacing the previous one)."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO post_protection (post, snapshot, open_events, updated) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (post) DO UPDATE SET snapshot = excluded.snapshot, "
            "open_events = excluded.open_events, updated = excluded.updated",
            (post, json.dumps(snapshot, allow_nan=False), json.dumps(open_events, ensure_ascii=False),
             time.time()))


def load_all(store: Store) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """post id → (snapshot, open events) of every saved post; unreadable rows are logged and skipped."""
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for row in store.query("SELECT post, snapshot, open_events FROM post_protection"):
        try:
            out[row["post"]] = (json.loads(row["snapshot"]), json.loads(row["open_events"]))
        except ValueError:
            logger.exception("saved protection state of post %s is unreadable; starting it clear",
                             row["post"])
    return out
