"""The outbox: notifications written to SQLite before they are sent, delivered until confirmed.

Rows of one alert on one channel form a lane and go strictly in order (the record "firing" never
overtakes "resolved"); lanes are independent, so a failing phone holds back nobody else. A row
is marked sent only after the channel confirmed it, in batched transactions; until then it is
kept "in flight" in memory so it is not picked twice. After ``kill -9`` every row still pending
is simply sent again: a receiver may see the same alert id and sequence number twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Callable

from edge.alerts.channels.base import Channel, Notification
from edge.alerts.const import (CONFIRM_BATCH, CONFIRM_FLUSH_S, FETCH_BATCH, IDLE_WAKE_S,
                               MAX_ATTEMPTS, RETRY_MAX_S, RETRY_MIN_S)
from edge.alerts.errors import ChannelError, PermanentChannelError
from edge.events import Event, EventBus, Severity
from edge.store import Store

__all__ = ["Dispatcher", "backoff"]

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (1, 2, 4 … capped, with ±20 % jitter)."""
    base = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security


class Dispatcher:
    """Delivers pending outbox rows through their channels.

    Args:
        store: the database.
        channels: channel key → channel ("mqtt", "<worker>:<i>").
        clock: epoch seconds now (injectable for tests).
        events: where a finally failed notification is surfaced.
    """

    def __init__(self, store: Store, channels: dict[str, Channel], clock: Callable[[], float],
                 events: EventBus | None = None) -> None:
        self._store = store
        self._stopping = False
        self.channels = channels
        self._clock = clock
        self._events = events
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._busy_lanes: set[tuple[int, str]] = set()
        self._confirmed: list[tuple[int, tuple[int, str]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.stats = {"sent": 0, "retries": 0, "failed": 0}

    async def start(self) -> None:
        """Begin delivering (everything left pending by an earlier run included)."""
        self._runner = asyncio.create_task(self._run(), name="alerts-outbox")
        self._flusher = asyncio.create_task(self._flush_loop(), name="alerts-outbox-confirm")

    async def stop(self) -> None:
        """Stop delivering; confirmed rows are written, unconfirmed ones stay pending."""
        self._stopping = True
        self._wake.set()
        for task in (self._runner, self._flusher, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._runner, self._flusher, *self._tasks):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._flush()

    def wake(self) -> None:
        """New rows were written: look at the outbox now."""
        self._wake.set()

    def retry_now(self, channel: str) -> None:
        """Make every pending row of a channel due now (its link just came back)."""
        with self._store.transaction() as db:
            db.execute("UPDATE notifications SET next_try_ts = ? WHERE state = 'pending' "
                       "AND channel = ?", (self._clock(), channel))
        self.wake()

    async def _run(self) -> None:
        # The flag, not only cancel(): on Python 3.11 wait_for() can swallow a cancellation that
        # arrives as the wake-up fires (CPython gh-86296), and stop() would wait forever.
        while not self._stopping:
            self._wake.clear()
            try:
                self._round()
            except sqlite3.Error:
                logger.exception("could not read the alert outbox; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_WAKE_S)

    def _round(self) -> None:
        now = self._clock()
        rows = self._store.query(
            "SELECT id, alert_id, seq, recipient, channel, purpose, title, body, retain, "
            "next_try_ts, attempts FROM notifications WHERE state = 'pending' ORDER BY id LIMIT ?",
            (FETCH_BATCH + len(self._in_flight),))
        seen: set[tuple[int, str]] = set()
        for row in rows:
            lane = (row["alert_id"], row["channel"])
            if lane in seen or lane in self._busy_lanes or row["id"] in self._in_flight:
                seen.add(lane)
                continue
            seen.add(lane)
            if row["next_try_ts"] > now:
                continue
            note = Notification(row["id"], row["alert_id"], row["seq"], row["recipient"],
                                row["channel"], row["purpose"], row["title"], row["body"],
                                bool(row["retain"]))
            self._in_flight.add(note.id)
            self._busy_lanes.add(lane)
            task = asyncio.create_task(self._deliver(note, int(row["attempts"])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, note: Notification, attempts: int) -> None:
        lane = (note.alert_id, note.channel)
        channel = self.channels.get(note.channel)
        try:
            if channel is None:
                msg = f"channel {note.channel} is no longer in the roster"
                raise PermanentChannelError(msg)
            await channel.send(note)
        except ChannelError as err:
            self._failed(note, attempts + 1, err)
            self._in_flight.discard(note.id)
            self._busy_lanes.discard(lane)
            self.wake()
            return
        except asyncio.CancelledError:
            self._in_flight.discard(note.id)
            self._busy_lanes.discard(lane)
            raise
        self._confirmed.append((note.id, lane))
        if len(self._confirmed) >= CONFIRM_BATCH:
            self._flush()

    def _failed(self, note: Notification, attempts: int, err: ChannelError) -> None:
        final = isinstance(err, PermanentChannelError) or attempts >= MAX_ATTEMPTS
        now = self._clock()
        with self._store.transaction() as db:
            db.execute("UPDATE notifications SET attempts = ?, last_error = ?, next_try_ts = ?, "
                       "state = ? WHERE id = ?",
                       (attempts, str(err), now + backoff(attempts),
                        "failed" if final else "pending", note.id))
            if final:
                db.execute("INSERT INTO alert_log (alert_id, ts, what, by, detail) VALUES "
                           "(?, ?, 'delivery_failed', ?, ?)",
                           (note.alert_id, now, note.recipient, str(err)))
        if not final:
            self.stats["retries"] += 1
            logger.warning("alert #%d message %d to %s not delivered (attempt %d): %s; retrying",
                           note.alert_id, note.seq, note.channel, attempts, err)
            return
        self.stats["failed"] += 1
        logger.error("alert #%d message %d to %s FAILED for good after %d attempt(s): %s",
                     note.alert_id, note.seq, note.channel, attempts, err)
        if self._events is not None:
            self._events.emit(Event("alerts.delivery_failed", str(note.alert_id),
                                    Severity.WARNING, {"seq": note.seq, "to": note.recipient,
                                                       "channel": note.channel,
                                                       "error": str(err)}))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(CONFIRM_FLUSH_S)
            try:
                self._flush()
            except sqlite3.Error:
                logger.exception("could not mark notifications sent; will retry")

    def _flush(self) -> None:
        if not self._confirmed:
            return
        batch, self._confirmed = self._confirmed, []
        now = self._clock()
        try:
            with self._store.transaction() as db:
                db.executemany("UPDATE notifications SET state = 'sent', sent_ts = ?, "
                               "attempts = attempts + 1 WHERE id = ?",
                               [(now, note_id) for note_id, _ in batch])
        except Exception:
            self._confirmed = batch + self._confirmed
            raise
        for note_id, lane in batch:
            self._in_flight.discard(note_id)
            self._busy_lanes.discard(lane)
        self.stats["sent"] += len(batch)
        self.wake()
