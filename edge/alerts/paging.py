"""Who gets which message when: escalation steps, repeats, silences, inhibition, MQTT records.

Methods here run inside the caller's transaction (``db``, on the in-memory working set) so that
an alert's change and the outbox rows it causes are journaled together, before anything is sent.

Two clocks: ``clock`` is the steady clock (epoch-like seconds that follow the monotonic clock) and
measures every duration: escalation steps, repeats, retries. ``wall`` is the wall clock, used only
for calendar decisions (who is on shift, silences set until a time of day) and for what people
read. A wall clock stepped by NTP in either direction neither delays nor hurries a page.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable
from typing import Any

from edge.alerts.const import MQTT_CHANNEL
from edge.alerts.message import Alert, render
from edge.alerts.rules import INHIBITS
from edge.config import GridedgeConfig

__all__ = ["Paging"]

logger = logging.getLogger(__name__)

_PAGED = ("firing", "repeat", "escalation")


class Paging:
    """Escalation and delivery planning over the alerts tables."""

    def __init__(self, config: GridedgeConfig, working: Any, roster: Any,
                 clock: Callable[[], float], wall: Callable[[], float],
                 wake: Callable[[], None], disk: Any = None) -> None:
        self._config = config
        self._store = working
        self._disk = disk
        self._roster = roster
        self._clock = clock
        self._wall = wall
        self._wake = wake
        self._silences: list[tuple[int, str, str, float]] = []  # (id, scope, target, end_ts)
        self._ended: set[int] = set()

    # -- reading -------------------------------------------------------------------------------

    def row(self, alert_id: int) -> sqlite3.Row | None:
        """The alert's row, or None."""
        rows = self._store.query("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return rows[0] if rows else None

    def view(self, alert_id: int, db: sqlite3.Connection | None = None) -> Alert:
        """The alert as messages need it."""
        if db is None:
            row = self.row(alert_id)
        else:
            cursor = db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,))
            cursor.row_factory = sqlite3.Row
            row = cursor.fetchone()
        assert row is not None  # noqa: S101 - callers pass ids they just read
        return Alert(row["id"], row["kind"], row["severity"], row["post"], row["port"],
                     row["speaker"], row["first_ts"], json.loads(row["detail"]))

    def notified(self, db: sqlite3.Connection, alert_id: int) -> list[str]:
        """Workers who were paged about the alert (sent, on their way, or failed)."""
        rows = db.execute("SELECT DISTINCT recipient FROM notifications WHERE alert_id = ? AND "
                          "recipient != ? AND purpose IN ('firing', 'repeat', 'escalation') AND "
                          "state IN ('pending', 'sent', 'failed') ORDER BY id",
                          (alert_id, MQTT_CHANNEL)).fetchall()
        return [r[0] for r in rows]

    def log(self, db: sqlite3.Connection, alert_id: int, what: str, *, by: str = "",
            detail: dict[str, Any] | None = None) -> None:
        """One line of the alert's history."""
        db.execute("INSERT INTO alert_log (alert_id, ts, what, by, detail) VALUES (?, ?, ?, ?, ?)",
                   (alert_id, self._wall(), what, by,
                    json.dumps(detail or {}, ensure_ascii=False, default=str)))

    # -- writing the outbox ----------------------------------------------------------------------

    @staticmethod
    def _bump(db: sqlite3.Connection, alert_id: int) -> int:
        db.execute("UPDATE alerts SET seq = seq + 1 WHERE id = ?", (alert_id,))
        return int(db.execute("SELECT seq FROM alerts WHERE id = ?", (alert_id,)).fetchone()[0])

    def _rows(self, db: sqlite3.Connection, alert_id: int, seq: int, workers: list[str],
              purpose: str, now: float, *, state: str = "pending", extra: str = "") -> None:
        alert = self.view(alert_id, db)
        site, tz = self._config.site.name, self._config.site.tz
        wall = self._wall()
        for worker in workers:
            text = render(alert, purpose=purpose, seq=seq, site=site, tz=tz, recipient=worker,
                          now=wall, extra=extra)
            for i, _url in enumerate(self._roster.workers[worker].channels):
                db.execute("INSERT INTO notifications (alert_id, seq, recipient, channel, purpose, "
                           "title, body, state, created_ts, next_try_ts) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (alert_id, seq, worker, f"{worker}:{i}", purpose, text.title,
                            text.body, state, wall, now))

    def record(self, db: sqlite3.Connection, alert_id: int, now: float, seq: int | None = None,
               ) -> None:
        """Queue the retained MQTT record of the alert as it is now."""
        seq = self._bump(db, alert_id) if seq is None else seq
        cursor = db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        cursor.row_factory = sqlite3.Row
        row = cursor.fetchone()
        text = render(self.view(alert_id, db), purpose="firing", seq=seq,
                      site=self._config.site.name, tz=self._config.site.tz)
        record = {k: row[k] for k in ("id", "key", "kind", "severity", "state", "held", "subject",
                                      "post", "port", "speaker", "area", "first_ts", "last_ts",
                                      "count", "level", "acked_by", "acked_ts", "ack_note",
                                      "resolved_ts", "resolved_by")}
        record.update(seq=seq, dedup_id=f"{alert_id}-{seq}", title=text.title, message=text.body,
                      detail=json.loads(row["detail"]))
        db.execute("INSERT INTO notifications (alert_id, seq, recipient, channel, purpose, title, "
                   "body, retain, state, created_ts, next_try_ts) VALUES "
                   "(?, ?, ?, ?, 'record', '', ?, 1, 'pending', ?, ?)",
                   (alert_id, seq, MQTT_CHANNEL, MQTT_CHANNEL,
                    json.dumps(record, ensure_ascii=False, default=str), self._wall(), now))

    def tell(self, db: sqlite3.Connection, alert_id: int, workers: list[str], purpose: str,
             now: float, *, extra: str = "", clear: bool = False) -> None:
        """Queue one message (ack news, all-clear) to ``workers`` plus the MQTT record."""
        seq = self._bump(db, alert_id)
        self._rows(db, alert_id, seq, workers, purpose, now, extra=extra)
        self.record(db, alert_id, now, seq)
        if clear:
            seq = self._bump(db, alert_id)
            db.execute("INSERT INTO notifications (alert_id, seq, recipient, channel, purpose, "
                       "body, retain, state, created_ts, next_try_ts) VALUES "
                       "(?, ?, ?, ?, 'clear', '', 1, 'pending', ?, ?)",
                       (alert_id, seq, MQTT_CHANNEL, MQTT_CHANNEL, self._wall(), now))

    def page(self, db: sqlite3.Connection, alert_id: int, level: int, purpose: str, now: float, *,
             suppressed: bool = False, record_only: bool = False) -> None:
        """Notify escalation ``level`` (or the next level that has somebody on duty)."""
        cursor = db.execute("SELECT severity, area, level_ts FROM alerts WHERE id = ?",
                            (alert_id,))
        severity, area, level_ts = cursor.fetchone()
        chain = self._roster.chain(severity)
        steps = chain.steps if self._config.alerts.enabled else []
        seq = self._bump(db, alert_id)
        if record_only or not steps:
            db.execute("UPDATE alerts SET next_ts = NULL WHERE id = ?", (alert_id,))
            self.record(db, alert_id, now, seq)
            return
        targets: list[str] = []
        wall = self._wall()   # shifts are a calendar matter
        while level < len(steps):
            targets = self._roster.targets(steps[level].notify, area, wall)
            if targets:
                break
            self.log(db, alert_id, "nobody_on_duty", detail={"level": level})
            logger.warning("alert #%d: nobody on duty at escalation step %d; next step",
                           alert_id, level + 1)
            level += 1
        if not targets:
            level = len(steps) - 1
            names = sorted({n for s in steps for n in s.notify})
            targets = self._roster.targets(names, area, wall, ignore_shifts=True)
            logger.error("alert #%d: nobody of the chain is on duty; paging %s off shift",
                         alert_id, ", ".join(targets) or "NOBODY (the roster has no reachable "
                         "worker)")
            self.log(db, alert_id, "off_shift_fallback", detail={"to": targets})
        self._rows(db, alert_id, seq, targets, purpose, now,
                   state="suppressed" if suppressed else "pending")
        following = (level_ts + steps[level + 1].after_min * 60 if level + 1 < len(steps)
                     else math.inf)
        next_ts = None if suppressed else min(following, now + chain.repeat_every_min * 60)
        db.execute("UPDATE alerts SET level = ?, next_ts = ? WHERE id = ?",
                   (level, next_ts, alert_id))
        self.log(db, alert_id, purpose if not suppressed else "suppressed",
                 detail={"level": level, "to": targets, "seq": seq})
        self.record(db, alert_id, now, seq)

    # -- silences and inhibition --------------------------------------------------------------

    def read_silences(self) -> list[tuple[int, str, str, float]]:
        """The silences on disk not yet ended (the CLI writes them there); call off the loop."""
        if self._disk is None:
            return []
        rows = self._disk.query("SELECT id, scope, target, start_ts, end_ts FROM silences "
                                "WHERE ended_ts IS NULL")
        return [(r["id"], r["scope"], r["target"], r["start_ts"], r["end_ts"]) for r in rows]

    def set_silences(self, rows: list[tuple[int, str, str, float, float]]) -> None:
        """Use these silences (wall-clock times: "until 18:00" is a calendar decision)."""
        now = self._wall()
        self._silences = [(i, scope, target, end) for i, scope, target, start, end in rows
                          if start <= now and i not in self._ended]

    def load_silences(self) -> None:
        """Read the active silences now (start-up and tests; the daemon reads them off the loop)."""
        self.set_silences(self.read_silences())

    def hold_reason(self, kind: str, post: str, speaker: str, area: str) -> str:
        """'silenced', 'inhibited' or '' for an alert of ``kind`` about post/speaker now."""
        now = self._wall()
        for _id, scope, target, end_ts in self._silences:
            if end_ts > now and ((scope == "post" and post and target == post)
                                 or (scope == "area" and area and target == area)):
                return "silenced"
        for inhibitor, (scope, kinds) in INHIBITS.items():
            if kind not in kinds:
                continue
            key = f"{inhibitor}:{post}" if scope == "post" else inhibitor
            if (scope == "post" and not post) or key not in self.open_keys:  # type: ignore[attr-defined]
                continue
            return "inhibited"
        return ""

    def inhibit_others(self, db: sqlite3.Connection, kind: str, post: str, now: float) -> None:
        """Stop paging the open alerts an inhibitor alert of ``kind`` holds back."""
        scope, kinds = INHIBITS[kind]
        marks = ",".join("?" * len(kinds))
        sql = (f"SELECT id FROM alerts WHERE state = 'firing' AND held = '' AND kind IN ({marks})"
               + (" AND post = ?" if scope == "post" else ""))
        params = (*kinds, post) if scope == "post" else kinds
        for (alert_id,) in db.execute(sql, params).fetchall():
            db.execute("UPDATE alerts SET held = 'inhibited', next_ts = NULL WHERE id = ?",
                       (alert_id,))
            self.log(db, alert_id, "inhibited", detail={"by": kind})
            self.record(db, alert_id, now)

    # -- the clock -------------------------------------------------------------------------------

    def tick(self) -> None:
        """Due repeats and escalations; silences that ended; held alerts that may go out now."""
        now = self._clock()
        wall = self._wall()
        ended = [(i, scope, target) for i, scope, target, end_ts in self._silences
                 if end_ts <= wall]
        if ended:
            self._ended.update(i for i, _s, _t in ended)
            self._silences = [s for s in self._silences if s[0] not in self._ended]
            if self._disk is not None:
                marks = [(wall, i) for i, _s, _t in ended]
                self._disk.submit(lambda db: db.executemany(
                    "UPDATE silences SET ended_ts = ? WHERE id = ?", marks))
            for _i, scope, target in ended:
                logger.info("silence of %s %s ended", scope, target)
        changed = False
        held = self._store.query("SELECT id, kind, post, speaker, area, level, level_ts, "
                                 "severity FROM alerts WHERE state = 'firing' AND held IN "
                                 "('silenced', 'inhibited')")
        for r in held:
            if not self.hold_reason(r["kind"], r["post"], r["speaker"], r["area"]):
                self._release(r, now)
                changed = True
        due = self._store.query("SELECT id, kind, post, speaker, area, level, level_ts, severity "
                                "FROM alerts WHERE state = 'firing' AND held = '' AND next_ts "
                                "IS NOT NULL AND next_ts <= ?", (now,))
        for r in due:
            self._due(r, now)
            changed = True
        if changed:
            self._wake()

    def _release(self, r: sqlite3.Row, now: float) -> None:
        with self._store.transaction() as db:
            self.log(db, r["id"], "released")
            if r["level"] < 0:
                db.execute("UPDATE alerts SET held = '', level_ts = ? WHERE id = ?",
                           (now, r["id"]))
                self.page(db, r["id"], 0, "firing", now)
            else:
                # The reminders keep their original schedule: the next one is the next slot of
                # the repeat grid that began when the alert first paged, not one at once.
                chain = self._roster.chain(r["severity"])
                every = chain.repeat_every_min * 60
                slots = math.floor((now - r["level_ts"]) / every) + 1
                db.execute("UPDATE alerts SET held = '', next_ts = ? WHERE id = ?",
                           (r["level_ts"] + slots * every, r["id"]))
        logger.info("alert #%d is no longer held; paging resumes on its schedule", r["id"])

    def _due(self, r: sqlite3.Row, now: float) -> None:
        reason = self.hold_reason(r["kind"], r["post"], r["speaker"], r["area"])
        with self._store.transaction() as db:
            if reason:
                db.execute("UPDATE alerts SET held = ?, next_ts = NULL WHERE id = ?",
                           (reason, r["id"]))
                self.log(db, r["id"], reason)
                self.record(db, r["id"], now)
                return
            steps = self._roster.chain(r["severity"]).steps
            elapsed = now - r["level_ts"]
            reached = max((i for i, s in enumerate(steps) if s.after_min * 60 <= elapsed),
                          default=0)
            if reached > r["level"]:
                self.page(db, r["id"], reached, "escalation", now)
            else:
                self.page(db, r["id"], max(r["level"], 0), "repeat", now)
