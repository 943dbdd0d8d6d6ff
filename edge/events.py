"""The in-process event bus: what happened (trips, plays, reloads), to whoever listens.

Every event goes to the audit table, to the MQTT ``events`` topic and to in-process listeners
(the alert manager subscribes here). A failing listener never stops the others.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.mqtt import MqttClient
    from edge.store import Store

__all__ = ["Event", "EventBus", "Severity"]

logger = logging.getLogger(__name__)


class Severity(StrEnum):
    """How urgent an event is, spelled as in YAML."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Event:
    """Something that happened, with its evidence."""

    kind: str                       # e.g. "daemon.started", "post.trip", "post.offline"
    subject: str = ""               # e.g. "P03/4", "east_gate"
    severity: Severity = Severity.INFO
    detail: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


Listener = Callable[[Event], None]


class EventBus:
    """Fan-out of events to the audit log, MQTT and in-process listeners."""

    def __init__(self, store: Store | None, mqtt: MqttClient | None) -> None:
        self._store = store
        self._mqtt = mqtt
        self._listeners: list[tuple[str, Listener]] = []
        # Audit rows are written by one worker thread, in order, many per transaction: an
        # fsync'd commit per event on the event loop would stall protection and alerting.
        self._audit: deque[tuple[str, str, str, dict[str, Any], float]] = deque()
        self._audit_lock = threading.Lock()
        self._writer: ThreadPoolExecutor | None = None
        self._writing = False

    def listen(self, listener: Listener, prefix: str = "") -> None:
        """Call ``listener`` for every event whose kind starts with ``prefix``."""
        self._listeners.append((prefix, listener))

    def emit(self, event: Event) -> None:
        """Record and deliver one event."""
        level = {Severity.CRITICAL: logging.ERROR, Severity.WARNING: logging.WARNING}.get(
            event.severity, logging.INFO)
        logger.log(level, "event %s %s %s", event.kind, event.subject,
                   json.dumps(event.detail, ensure_ascii=False, default=str))
        if self._store is not None:
            self._record(event)
        if self._mqtt is not None:
            self._mqtt.publish(self._mqtt.topics.events(),
                               json.dumps(asdict(event), ensure_ascii=False, default=str), qos=1)
        for prefix, listener in self._listeners:
            if event.kind.startswith(prefix):
                try:
                    listener(event)
                except Exception:
                    logger.exception("event listener failed on %s", event.kind)

    def flush(self) -> None:
        """Write every audit row still queued (on stop, before the store closes)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._write_audit()

    def _record(self, event: Event) -> None:
        with self._audit_lock:
            self._audit.append((event.kind, event.subject, event.severity.value, event.detail,
                                event.ts))
            if self._writing:
                return  # the running batch takes this row too
            self._writing = True
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")
        self._writer.submit(self._write_audit)

    def _write_audit(self) -> None:
        with self._audit_lock:
            rows = list(self._audit)
            self._audit.clear()
            self._writing = False
        if not rows or self._store is None:
            return
        try:
            self._store.record_events(rows)
        except Exception:
            logger.exception("could not record %d event(s) in the database", len(rows))

