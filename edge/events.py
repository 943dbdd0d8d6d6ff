"""The in-process event bus: what happened (trips, plays, reloads), to whoever listens.

Every event goes to the audit table, to the MQTT ``events`` topic and to in-process listeners
(the alert manager subscribes here). A failing listener never stops the others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from edge.store import insert_events

if TYPE_CHECKING:
    from edge.mqtt import MqttClient
    from edge.store import Store

__all__ = ["Event", "EventBus", "Severity"]

logger = logging.getLogger(__name__)

FLUSH_WAIT_S = 5.0


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

    def listen(self, listener: Listener, prefix: str = "") -> None:
        """Call ``listener`` for every event whose kind starts with ``prefix``."""
        self._listeners.append((prefix, listener))

    def emit(self, event: Event) -> None:
        """Record and deliver one event."""
        level = {Severity.CRITICAL: logging.ERROR, Severity.WARNING: logging.WARNING}.get(
            event.severity, logging.INFO)
        # The detail is encoded once for the log, the audit row and the MQTT document: a trip's
        # evidence is a few kilobytes, and encoding it three times cost the loop more than the
        # trip itself.
        detail = json.dumps(event.detail, ensure_ascii=False, default=_plain)
        logger.log(level, "event %s %s %s", event.kind, event.subject, detail)
        if self._store is not None:
            self._record(event, detail)
        if self._mqtt is not None:
            # The fields as asdict() would give them, in that order, each encoded as JSON.
            document = (f'{{"kind": {json.dumps(event.kind, ensure_ascii=False)}, '
                        f'"subject": {json.dumps(event.subject, ensure_ascii=False)}, '
                        f'"severity": {json.dumps(event.severity)}, "detail": {detail}, '
                        f'"ts": {json.dumps(event.ts)}}}')
            self._mqtt.publish(self._mqtt.topics.events(), document, qos=1)
        for prefix, listener in self._listeners:
            if event.kind.startswith(prefix):
                try:
                    listener(event)
                except Exception:
                    logger.exception("event listener failed on %s", event.kind)

    def flush(self) -> None:
        """Wait (bounded) until the audit rows queued so far are committed, before the store closes."""
        if self._store is not None:
            self._store.writer.wait(timeout=FLUSH_WAIT_S)

    def _record(self, event: Event, detail: str) -> None:
        # Audit rows go to the store's writer thread, in order, many per transaction: an fsync'd
        # commit per event on the event loop would stall protection and alerting. With the disk
        # refusing writes they wait in memory (droppable, counted, when memory runs short).
        row = [(event.kind, event.subject, event.severity.value, detail, event.ts)]
        assert self._store is not None  # noqa: S101 - checked by the caller
        self._store.submit(lambda db: insert_events(db, row), droppable=True)


def _plain(value: Any) -> Any:
    """JSON for what json cannot write: a dataclass as its fields (as asdict()), else its text."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)
