"""The alert lifecycle: events in, alerts raised / folded / updated / acknowledged / resolved.

Every change is one transaction on the in-memory working set (:mod:`edge.alerts.working`) that
also writes the notifications it causes (the outbox); the working set journals it to disk, and a
notification leaves once it is on disk (or at once while the disk refuses writes).

An offline device pages only once it has stayed offline for its hold-down (default: the post's
``offline_after_s``), counted while the broker link is up: wills replayed by a restarting broker
and devices that come straight back page nobody. Escalation, repeats, silences and inhibition are
in :mod:`edge.alerts.paging`; this module decides *what* happened to which alert.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from edge.alerts.errors import AlertsError, UnknownAlertError, UnknownWorkerError
from edge.alerts.message import log_line
from edge.alerts.paging import Paging
from edge.alerts.const import DEFAULT_HOLD_S, RECONNECT_GRACE_S
from edge.alerts.rules import EVENT_RULES, HOLD_DOWN_KINDS, INHIBITS, Action, Rule, parse_subject
from edge.config import GridedgeConfig
from edge.config.alerts import SilenceMode
from edge.events import Event, EventBus, Severity

__all__ = ["AlertManager"]

logger = logging.getLogger(__name__)

# What the daemon has already done when the event arrives (a trip is a cut-off command sent).
_FIRST_ACTIONS = {"overcurrent": ["cutoff_sent"], "recut": ["cutoff_sent"],
                  "cutoff_failed": ["cutoff_failed"]}


class AlertManager(Paging):
    """Turns daemon events into alerts and keeps their state in the database."""

    def __init__(self, config: GridedgeConfig, working: Any, roster: Any,
                 clock: Callable[[], float], wall: Callable[[], float],
                 events: EventBus | None, wake: Callable[[], None], disk: Any = None) -> None:
        super().__init__(config, working, roster, clock, wall, wake, disk)
        self._events = events
        self.open_keys: dict[str, int] = {}
        # key → (steady deadline, event, rule, target): offline conditions in their hold-down
        self.pending: dict[str, tuple[float, Event, Rule, Any]] = {}
        self._link_up = True
        self._connects = 0
        # (connected, connects so far) of the broker link; None = no broker (tests of rules)
        self.link_probe: Callable[[], tuple[bool, int]] | None = None
        self.stats = {"raised": 0, "folded": 0, "resolved": 0, "acked": 0, "rejected": 0,
                      "ack_refused": 0}

    def load(self) -> None:
        """Pick up the alerts left open by an earlier run."""
        rows = self._store.query("SELECT id, key FROM alerts WHERE state != 'resolved'")
        self.open_keys = {row["key"]: row["id"] for row in rows}
        self.load_silences()
        if rows:
            logger.info("%d alert(s) still open from before", len(rows))

    # -- events ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Bus listener: act on the event kinds of the rules table, ignore the rest."""
        rule = EVENT_RULES.get(event.kind)
        if rule is None:
            return
        target = parse_subject(event.subject, rule.scope)
        if target is None:
            self.stats["rejected"] += 1
            logger.warning("event %s has a subject %r that names no %s; no alert raised",
                           event.kind, event.subject, rule.scope.value)
            return
        try:
            if rule.action is Action.RAISE and rule.kinds[0] in HOLD_DOWN_KINDS:
                self._hold_down(event, rule, target)
            elif rule.action is Action.RAISE:
                self._raise(event, rule, target)
            elif rule.action is Action.RESOLVE:
                for kind in rule.kinds:
                    if self.pending.pop(target.key(kind), None) is not None:
                        logger.info("%s is back within its hold-down: nobody paged",
                                    target.key(kind))
                    alert_id = self.open_keys.get(target.key(kind))
                    if alert_id is not None:
                        self.resolve(alert_id, by=event.kind)
            else:
                for kind in rule.kinds:
                    alert_id = self.open_keys.get(target.key(kind))
                    if alert_id is not None:
                        self._note_action(alert_id, rule.note, event)
        except sqlite3.Error:
            logger.exception("could not record the alert of event %s %s", event.kind,
                             event.subject)
        self._wake()

    # -- hold-down of offline conditions -----------------------------------------------------

    def _hold_s(self, target: Any) -> float:
        configured = self._config.alerts.offline_hold_s
        if configured is not None:
            return float(configured)
        post = self._config.posts.devices.get(target.post) if target.post else None
        return float(post.offline_after_s) if post is not None else float(DEFAULT_HOLD_S)

    def _hold_down(self, event: Event, rule: Rule, target: Any) -> None:
        self.sync_link()
        key = target.key(rule.kinds[0])
        if key in self.open_keys or key in self.pending:
            return
        hold = self._hold_s(target)
        # A post found silent has already been offline for silent_s; a will or an "offline"
        # report starts the condition now.
        lasted = event.detail.get("silent_s") if event.detail.get("how") == "silent" else 0
        left = max(0.0, hold - float(lasted if isinstance(lasted, int | float) else 0))
        self.pending[key] = (self._clock() + left, event, rule, target)
        logger.info("%s: offline; paging only if it lasts %.0f s more", key, left)

    def sync_link(self) -> None:
        """Follow the broker link: offline hold-downs count only while it is up.

        After a (re)connect the devices get a grace to say they are online again (their retained
        availability arrives at once), so wills replayed by a restarting broker page nobody.
        """
        if self.link_probe is None:
            return
        up, connects = self.link_probe()
        reconnected = connects != self._connects
        self._connects = connects
        if up and (reconnected or not self._link_up) and self.pending:
            now = self._clock()
            self.pending = {
                key: (max(deadline, now + min(self._hold_s(target), RECONNECT_GRACE_S)), event,
                      rule, target)
                for key, (deadline, event, rule, target) in self.pending.items()}
        self._link_up = up

    def tick(self) -> None:
        """Offline conditions whose hold-down ran out page now; then escalation (see Paging)."""
        self.sync_link()
        if self._link_up and self.pending:
            now = self._clock()
            for key, (deadline, event, rule, target) in list(self.pending.items()):
                if deadline <= now:
                    del self.pending[key]
                    try:
                        self._raise(event, rule, target)
                    except sqlite3.Error:
                        logger.exception("could not raise the held-down alert %s", key)
                    self._wake()
        super().tick()

    def _raise(self, event: Event, rule: Rule, target: Any) -> None:
        kind = rule.kinds[0]
        key = target.key(kind)
        now = self._clock()
        existing = self.open_keys.get(key)
        if existing is not None:
            with self._store.transaction() as db:
                row = db.execute("SELECT detail FROM alerts WHERE id = ?", (existing,)).fetchone()
                detail = json.loads(row[0])
                detail["latest"] = event.detail
                db.execute("UPDATE alerts SET count = count + 1, last_ts = ?, detail = ? "
                           "WHERE id = ?", (event.ts, json.dumps(detail, ensure_ascii=False,
                                                                 default=str), existing))
                self.log(db, existing, "again", detail={"event": event.kind, "ts": event.ts})
            self.stats["folded"] += 1
            return
        detail = self._detail(event, kind, target)
        area = self._roster.area_of(target.post, target.speaker)
        held = self.hold_reason(kind, target.post, target.speaker, area)
        if held == "silenced" and self._config.alerts.silence_mode is SilenceMode.SUPPRESS:
            held = "suppressed"
        with self._store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO alerts (key, kind, severity, state, subject, post, port, speaker, "
                "area, first_ts, last_ts, detail, held, level_ts) VALUES "
                "(?, ?, ?, 'firing', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, kind, rule.severity.value, event.subject, target.post, target.port,
                 target.speaker, area, event.ts, event.ts,
                 json.dumps(detail, ensure_ascii=False, default=str), held, now))
            alert_id = int(cursor.lastrowid or 0)
            self.log(db, alert_id, "raised", detail={"event": event.kind, "held": held})
            if held:
                self.page(db, alert_id, 0, "firing", now, suppressed=held == "suppressed",
                          record_only=held != "suppressed")
            else:
                self.page(db, alert_id, 0, "firing", now)
            if kind in INHIBITS:
                self.inhibit_others(db, kind, target.post, now)
        self.open_keys[key] = alert_id
        self.stats["raised"] += 1
        logger.log(logging.ERROR if rule.severity is Severity.CRITICAL else logging.WARNING,
                   "%s%s", log_line(self.view(alert_id)), f" [held: {held}]" if held else "")
        self._emit("alert.raised", alert_id, rule.severity, {"key": key, "held": held})

    def _detail(self, event: Event, kind: str, target: Any) -> dict[str, Any]:
        detail = dict(event.detail)
        if target.post and target.post in self._config.posts.devices:
            post = self._config.posts.devices[target.post]
            detail.setdefault("post_name", post.name)
            detail.setdefault("location", post.location)
        if target.speaker and target.speaker in self._config.speakers.devices:
            speaker = self._config.speakers.devices[target.speaker]
            detail.setdefault("speaker_name", speaker.name)
            detail.setdefault("location", speaker.location)
        detail["actions"] = list(_FIRST_ACTIONS.get(kind, []))
        detail["event"] = event.kind
        return detail

    def _note_action(self, alert_id: int, note: str, event: Event) -> None:
        now = self._clock()
        with self._store.transaction() as db:
            row = db.execute("SELECT detail FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            detail = json.loads(row[0])
            actions = [a for a in detail.get("actions", []) if a != "cutoff_sent"]
            if note not in actions:
                actions.append(note)
            detail["actions"] = actions
            detail.setdefault("updates", []).append({"event": event.kind, "ts": event.ts,
                                                     "detail": event.detail})
            db.execute("UPDATE alerts SET detail = ? WHERE id = ?",
                       (json.dumps(detail, ensure_ascii=False, default=str), alert_id))
            self.log(db, alert_id, "updated", detail={"action": note})
            self.record(db, alert_id, now)
        logger.info("alert #%d: %s", alert_id, note)

    # -- people --------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, by: str, note: str = "") -> str:
        """Acknowledge an open alert; returns the worker id. Stops escalation and repeats.

        Raises:
            UnknownWorkerError: ``by`` is not on the roster.
            UnknownAlertError: no open alert has this id.
        """
        worker = self._roster.find(by)
        if worker is None:
            self.stats["ack_refused"] += 1
            hint = self._roster.suggest(by)
            msg = f"'{by}' is not on the roster" + (f"; did you mean '{hint}'?" if hint else "")
            raise UnknownWorkerError(msg)
        row = self.row(alert_id)
        if row is None or row["state"] == "resolved":
            self.stats["ack_refused"] += 1
            msg = f"there is no open alert #{alert_id}"
            raise UnknownAlertError(msg)
        if row["state"] == "acknowledged":
            logger.info("alert #%d was already acknowledged by %s", alert_id, row["acked_by"])
            return worker
        now = self._clock()
        wall = self._wall()
        with self._store.transaction() as db:
            db.execute("UPDATE alerts SET state = 'acknowledged', acked_by = ?, acked_ts = ?, "
                       "ack_note = ?, next_ts = NULL WHERE id = ?", (worker, wall, note, alert_id))
            self.log(db, alert_id, "acknowledged", by=worker, detail={"note": note})
            others = [r for r in self.notified(db, alert_id) if r != worker]
            self.tell(db, alert_id, others, "ack", now,
                      extra=self._roster.workers[worker].name)
        self.stats["acked"] += 1
        logger.info("alert #%d acknowledged by %s (%s)", alert_id, worker, note or "-")
        self._emit("alert.acknowledged", alert_id, Severity.INFO, {"by": worker, "note": note})
        self._wake()
        return worker

    def resolve(self, alert_id: int, by: str) -> None:
        """Resolve an open alert: all-clear to everyone notified, the MQTT record cleared."""
        row = self.row(alert_id)
        if row is None or row["state"] == "resolved":
            msg = f"there is no open alert #{alert_id}"
            raise AlertsError(msg)
        now = self._clock()
        with self._store.transaction() as db:
            db.execute("UPDATE alerts SET state = 'resolved', resolved_ts = ?, resolved_by = ?, "
                       "next_ts = NULL WHERE id = ?", (self._wall(), by, alert_id))
            self.log(db, alert_id, "resolved", by=by)
            self.tell(db, alert_id, self.notified(db, alert_id), "all_clear", now, extra=by,
                      clear=True)
        self.open_keys.pop(row["key"], None)
        self.stats["resolved"] += 1
        logger.info("alert #%d %s resolved (%s)", alert_id, row["key"], by)
        self._emit("alert.resolved", alert_id, Severity.INFO, {"key": row["key"], "by": by})
        self._wake()

    def _emit(self, kind: str, alert_id: int, severity: Severity, detail: dict[str, Any]) -> None:
        if self._events is not None:
            self._events.emit(Event(kind, str(alert_id), severity, detail))
