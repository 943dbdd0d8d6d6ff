"""The proof-of-play log: one row per (occurrence, speaker), written before anything is sent.

The row is claimed when a request is queued, marked ``dispatched`` before the command goes to the
broker, and ends as played (confirmed or inferred), interrupted, missed or failed. A key that is
already in the log is never queued again, so a restart, a clock jump or a scheduler that submits
twice can never make a speaker play an occurrence twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.speakers.const import Confirmation, PlayState
from edge.speakers.requests import PlayRequest, Priority
from edge.store import Store

__all__ = ["PlayLog", "PlayRecord", "request_from_row"]

_COLUMNS = ("key, speaker, announcement, source, priority, due, grace_s, request, state, "
            "confirmation, reason, detail, command_id, clip_sha256, duration_s, volume, attempts, "
            "queued_at, dispatched_at, started_at, ended_at")


@dataclass(frozen=True)
class PlayRecord:
    """One row of the play log."""

    key: str
    speaker: str
    announcement: str
    source: str
    priority: str
    due: float
    grace_s: float
    request: str
    state: PlayState
    confirmation: str
    reason: str
    detail: str
    command_id: str
    clip_sha256: str
    duration_s: float | None
    volume: int | None
    attempts: int
    queued_at: float
    dispatched_at: float | None
    started_at: float | None
    ended_at: float | None


def _record(row: Any) -> PlayRecord:
    values = dict(row)
    values["state"] = PlayState(values["state"])
    return PlayRecord(**values)


def request_from_row(record: PlayRecord) -> PlayRequest:
    """The request a queued row was claimed for (to resume it after a restart)."""
    extra = json.loads(record.request)
    return PlayRequest(key=record.key, announcement=record.announcement,
                       speakers=(record.speaker,), due=record.due, grace_s=record.grace_s,
                       priority=Priority(record.priority), text=extra.get("text"),
                       clip=Path(extra["clip"]) if extra.get("clip") else None,
                       volume=extra.get("volume"), repeat=int(extra.get("repeat", 1)),
                       source=record.source)


class PlayLog:
    """Reads and writes the ``plays`` table (migration 4) of the daemon's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def claim(self, request: PlayRequest, speaker: str, now: float | None = None,
              ) -> PlayRecord | None:
        """Insert a queued row; None when new, else the row already there (do not play again)."""
        extra = {"text": request.text, "clip": str(request.clip) if request.clip else None,
                 "volume": request.volume, "repeat": request.repeat}
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO plays (key, speaker, announcement, source, priority, due, "
                "grace_s, request, state, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (request.key, speaker, request.announcement, request.source,
                 request.priority.value, request.due, request.grace_s,
                 json.dumps(extra, ensure_ascii=False), PlayState.QUEUED.value,
                 time.time() if now is None else now))
            if cursor.rowcount == 1:
                return None
        return self.get(request.key, speaker)

    def get(self, key: str, speaker: str) -> PlayRecord | None:
        """The row of one (occurrence, speaker), if any."""
        rows = self.store.query(f"SELECT {_COLUMNS} FROM plays WHERE key = ? AND speaker = ?",
                                (key, speaker))
        return _record(rows[0]) if rows else None

    def dispatched(self, key: str, speaker: str, *, command_id: str, sha256: str,
                   duration_s: float | None, volume: int, at: float) -> None:
        """Record that a command is about to be sent (called before publishing it)."""
        with self.store.transaction() as db:
            db.execute("UPDATE plays SET state = ?, command_id = ?, clip_sha256 = ?, "
                       "duration_s = ?, volume = ?, attempts = attempts + 1, dispatched_at = ? "
                       "WHERE key = ? AND speaker = ?",
                       (PlayState.DISPATCHED.value, command_id, sha256, duration_s, volume, at,
                        key, speaker))

    def requeue(self, key: str, speaker: str) -> None:
        """A command that was not answered goes back to the queue (same command id on resend)."""
        with self.store.transaction() as db:
            db.execute("UPDATE plays SET state = ? WHERE key = ? AND speaker = ? AND state = ?",
                       (PlayState.QUEUED.value, key, speaker, PlayState.DISPATCHED.value))

    def started(self, key: str, speaker: str, at: float) -> None:
        """The speaker said it is playing (or, inferred, the command went out)."""
        with self.store.transaction() as db:
            db.execute("UPDATE plays SET started_at = COALESCE(started_at, ?) "
                       "WHERE key = ? AND speaker = ?", (at, key, speaker))

    def finish(self, key: str, speaker: str, state: PlayState, *, reason: str = "",
               detail: str = "", confirmation: Confirmation | None = None,
               at: float | None = None) -> None:
        """Write the outcome of a play; a row already final is left as it is."""
        with self.store.transaction() as db:
            db.execute("UPDATE plays SET state = ?, reason = ?, detail = ?, confirmation = ?, "
                       "ended_at = ? WHERE key = ? AND speaker = ? AND state IN (?, ?)",
                       (state.value, reason, detail, confirmation.value if confirmation else "",
                        time.time() if at is None else at, key, speaker,
                        PlayState.QUEUED.value, PlayState.DISPATCHED.value))

    def unfinished(self) -> list[PlayRecord]:
        """Rows still queued or dispatched (after a restart: to resume or to resolve)."""
        rows = self.store.query(f"SELECT {_COLUMNS} FROM plays WHERE state IN (?, ?) "
                                "ORDER BY due", (PlayState.QUEUED.value,
                                                 PlayState.DISPATCHED.value))
        return [_record(r) for r in rows]

    def between(self, start: float, end: float, speaker: str | None = None) -> list[PlayRecord]:
        """Rows whose slot is in [start, end), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM plays WHERE due >= ? AND due < ?"
        params: tuple[Any, ...] = (start, end)
        if speaker is not None:
            sql += " AND speaker = ?"
            params += (speaker,)
        return [_record(r) for r in self.store.query(sql + " ORDER BY due, speaker", params)]
