"""The outbox: notifications recorded before they are sent, delivered per channel until confirmed.

Each channel ("mqtt", "<worker>:<i>") is a lane with its own concurrency and its own backoff, and
every round looks at every lane: a dead or slow channel holds back nobody else, however many rows
it has waiting. Inside a lane the rows of one alert go strictly in order (the record "firing"
never overtakes "resolved"). A row leaves once it is on disk (the working set's durability gate)
or at once while the disk refuses writes. Any exception of a send is logged, counted, and retried
like a refused delivery: the lane goes on.

Every notification carries the stable id ``<alert id>-<seq>`` (JSON body field and header where
the channel has them, the MQTT record, and the text). A row whose earlier attempt may have been
delivered (a timeout, or a send in flight when the daemon died) counts as a possible duplicate
when it is sent again; receivers drop duplicates by that id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.alerts.channels.base import Channel, Notification
from edge.alerts.const import (APPRISE_THREADS_PER_CHANNEL, IDLE_WAKE_S, IN_FLIGHT_MARK,
                               MAX_ATTEMPTS, MQTT_CHANNEL, MQTT_MAX_IN_FLIGHT, RETRY_MAX_S,
                               RETRY_MIN_S)
from edge.alerts.errors import ChannelError, PermanentChannelError
from edge.alerts.working import WorkingSet
from edge.events import Event, EventBus, Severity

__all__ = ["Dispatcher", "backoff"]

logger = logging.getLogger(__name__)

_COLUMNS = ("id, alert_id, seq, recipient, channel, purpose, title, body, retain, attempts, "
            "last_error")


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (1, 2, 4 … capped, with ±20 % jitter)."""
    base = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security


@dataclass
class Lane:
    """One channel's delivery state."""

    name: str
    slots: int
    in_flight: int = 0
    busy_alerts: set[int] = field(default_factory=set)
    failures: int = 0            # consecutive failed attempts
    retry_at: float = 0.0        # steady clock
    waiting_logged: bool = False


class Dispatcher:
    """Delivers pending outbox rows through their channels.

    Args:
        working: the alert working set (the outbox table lives there).
        channels: channel key → channel ("mqtt", "<worker>:<i>").
        clock: the steady clock (epoch-like seconds that follow the monotonic clock).
        wall: the wall clock, for the sent time shown to people.
        events: where a finally failed notification is surfaced.
        link_up: whether the MQTT broker is connected (the MQTT lane waits while it is not).
    """

    def __init__(self, working: WorkingSet, channels: dict[str, Channel],
                 clock: Callable[[], float], wall: Callable[[], float],
                 events: EventBus | None = None,
                 link_up: Callable[[], bool] = lambda: True) -> None:
        self._working = working
        self.channels = channels
        self._clock = clock
        self._wall = wall
        self._events = events
        self._link_up = link_up
        self._stopping = False
        self._wake = asyncio.Event()
        self._lanes: dict[str, Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._maybe_delivered: set[int] = set()
        self._confirmed: list[tuple[float, int, int]] = []   # (sent_ts, attempts, row id)
        self._confirmed_ids: set[int] = set()                # … not written yet: never resend
        self.stats = {"sent": 0, "retries": 0, "failed": 0, "errors": 0, "duplicates": 0}

    async def start(self) -> None:
        """Begin delivering (everything left pending by an earlier run included)."""
        for (note_id,) in self._working.query(
                "SELECT id FROM notifications WHERE state = 'pending' AND last_error = ?",
                (IN_FLIGHT_MARK,)):
            self._maybe_delivered.add(note_id)   # in flight when the last run died
        self._runner = asyncio.create_task(self._run(), name="alerts-outbox")

    async def stop(self) -> None:
        """Stop delivering; whatever is unsent stays pending (in memory and on disk)."""
        self._stopping = True
        self._wake.set()
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._write_confirmed()

    def wake(self) -> None:
        """New rows were written, or rows became durable: look at the outbox now."""
        self._wake.set()

    def retry_now(self, channel: str) -> None:
        """Make a lane and its pending rows due now (its link just came back)."""
        lane = self._lanes.get(channel)
        if lane is not None:
            lane.retry_at = 0.0
            lane.failures = 0
        with self._working.transaction() as db:
            db.execute("UPDATE notifications SET next_try_ts = ? WHERE state = 'pending' "
                       "AND channel = ? AND next_try_ts > ?", (self._clock(), channel,
                                                               self._clock()))
        self.wake()

    def waiting(self, channel: str | None = None) -> int:
        """Notifications pending (on one channel, or on all)."""
        sql = "SELECT COUNT(*) FROM notifications WHERE state = 'pending'"
        rows = (self._working.query(sql + " AND channel = ?", (channel,)) if channel
                else self._working.query(sql))
        return int(rows[0][0])

    # -- rounds ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        # The flag, not only cancel(): on Python 3.11 wait_for() can swallow a cancellation that
        # arrives as the wake-up fires (CPython gh-86296), and stop() would wait forever.
        while not self._stopping:
            self._wake.clear()
            try:
                self._round()
            except Exception:
                self.stats["errors"] += 1
                logger.exception("alert outbox round failed; next round shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_WAKE_S)

    def _lane(self, name: str) -> Lane:
        lane = self._lanes.get(name)
        if lane is None:
            slots = MQTT_MAX_IN_FLIGHT if name == MQTT_CHANNEL else APPRISE_THREADS_PER_CHANNEL
            lane = self._lanes[name] = Lane(name, slots)
        return lane

    def _round(self) -> None:
        now = self._clock()
        gate = self._working.gate
        names = [r[0] for r in self._working.query(
            "SELECT DISTINCT channel FROM notifications WHERE state = 'pending'")]
        for name in names:
            lane = self._lane(name)
            if name == MQTT_CHANNEL and not self._link_up():
                if not lane.waiting_logged:
                    lane.waiting_logged = True
                    logger.warning("broker down, %d notification(s) waiting",
                                   self.waiting(MQTT_CHANNEL))
                continue
            if lane.waiting_logged and name == MQTT_CHANNEL:
                lane.waiting_logged = False
                logger.info("broker back: sending %d waiting notification(s)",
                            self.waiting(MQTT_CHANNEL))
            if lane.retry_at > now or lane.in_flight >= lane.slots:
                continue
            self._fill(lane, now, gate)

    def _fill(self, lane: Lane, now: float, gate: int | None) -> None:
        limit = lane.slots - lane.in_flight + len(lane.busy_alerts)
        rows = self._working.query(
            f"SELECT {_COLUMNS} FROM notifications n WHERE channel = ? AND state = 'pending' "  # noqa: S608
            "AND next_try_ts <= ? AND (? IS NULL OR id <= ?) AND id = (SELECT MIN(id) FROM "
            "notifications m WHERE m.alert_id = n.alert_id AND m.channel = n.channel AND "
            "m.state = 'pending') ORDER BY id LIMIT ?", (lane.name, now, gate, gate, limit))
        started = []
        for row in rows:
            if lane.in_flight >= lane.slots:
                break
            if row["alert_id"] in lane.busy_alerts or row["id"] in self._confirmed_ids:
                continue
            note = Notification(row["id"], row["alert_id"], row["seq"], row["recipient"],
                                row["channel"], row["purpose"], row["title"], row["body"],
                                bool(row["retain"]))
            lane.in_flight += 1
            lane.busy_alerts.add(note.alert_id)
            started.append((note, int(row["attempts"])))
        if not started:
            return
        with self._working.transaction() as db:
            db.executemany("UPDATE notifications SET last_error = ? WHERE id = ?",
                           [(IN_FLIGHT_MARK, note.id) for note, _ in started])
        for note, attempts in started:
            task = asyncio.create_task(self._deliver(lane, note, attempts),
                                       name=f"alerts-send-{note.channel}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- one delivery --------------------------------------------------------------------------

    async def _deliver(self, lane: Lane, note: Notification, attempts: int) -> None:
        channel = self.channels.get(note.channel)
        try:
            try:
                if channel is None:
                    msg = f"channel {note.channel} is no longer in the roster"
                    raise PermanentChannelError(msg)
                await channel.send(note)
            except ChannelError as err:
                self._failed(lane, note, attempts + 1, err)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a channel bug must not stop the lane
                self.stats["errors"] += 1
                logger.exception("alert #%d message %d to %s: unexpected error in the channel",
                                 note.alert_id, note.seq, note.channel)
                self._failed(lane, note, attempts + 1, ChannelError(f"{type(err).__name__}: "
                                                                    f"{err}"))
            else:
                self._sent(lane, note, attempts + 1)
        finally:
            lane.in_flight -= 1
            lane.busy_alerts.discard(note.alert_id)
            self.wake()

    def _sent(self, lane: Lane, note: Notification, attempts: int) -> None:
        # Confirmations of one loop turn are written together (one journal entry, not one each).
        if not self._confirmed:
            asyncio.get_running_loop().call_soon(self._write_confirmed)
        self._confirmed.append((self._wall(), attempts, note.id))
        self._confirmed_ids.add(note.id)
        self.stats["sent"] += 1
        if note.id in self._maybe_delivered:
            self._maybe_delivered.discard(note.id)
            self.stats["duplicates"] += 1
        if lane.failures:
            logger.info("channel %s delivers again after %d failed attempt(s)", lane.name,
                        lane.failures)
        lane.failures = 0
        lane.retry_at = 0.0

    def _write_confirmed(self) -> None:
        batch, self._confirmed = self._confirmed, []
        if batch:
            with self._working.transaction() as db:
                db.executemany("UPDATE notifications SET state = 'sent', sent_ts = ?, "
                               "attempts = ?, last_error = '' WHERE id = ?", batch)
        self._confirmed_ids.clear()

    def _failed(self, lane: Lane, note: Notification, attempts: int, err: ChannelError) -> None:
        final = isinstance(err, PermanentChannelError) or attempts >= MAX_ATTEMPTS
        now = self._clock()
        if "no answer" in str(err) or "PUBACK" in str(err):
            self._maybe_delivered.add(note.id)  # it may have arrived all the same
        lane.failures += 1
        lane.retry_at = now + backoff(lane.failures)
        with self._working.transaction() as db:
            db.execute("UPDATE notifications SET attempts = ?, last_error = ?, next_try_ts = ?, "
                       "state = ? WHERE id = ?",
                       (attempts, str(err), now + backoff(attempts),
                        "failed" if final else "pending", note.id))
            if final:
                db.execute("INSERT INTO alert_log (alert_id, ts, what, by, detail) VALUES "
                           "(?, ?, 'delivery_failed', ?, ?)",
                           (note.alert_id, self._wall(), note.recipient, str(err)))
        if not final:
            self.stats["retries"] += 1
            if lane.failures == 1:
                logger.warning("channel %s is failing (%s); %d notification(s) waiting, retrying "
                               "with backoff", lane.name, err, self.waiting(lane.name))
            return
        self._maybe_delivered.discard(note.id)
        self.stats["failed"] += 1
        logger.error("alert #%d message %d to %s FAILED for good after %d attempt(s): %s",
                     note.alert_id, note.seq, note.channel, attempts, err)
        if self._events is not None:
            self._events.emit(Event("alerts.delivery_failed", str(note.alert_id),
                                    Severity.WARNING, {"seq": note.seq, "to": note.recipient,
                                                       "channel": note.channel,
                                                       "error": str(err)}))
