"""The event bus: listeners, and the audit log written in order off the event loop."""

from __future__ import annotations

from pathlib import Path

from edge.events import Event, EventBus, Severity
from edge.store import Store


def test_every_event_reaches_the_audit_log_in_order(tmp_path: Path) -> None:
    """Test that a burst of events is all in the audit table, in emit order, after a flush."""
    store = Store(tmp_path)
    store.open()
    bus = EventBus(store, None)
    for i in range(500):
        bus.emit(Event("post.trip", f"P01/{i % 10 + 1}", Severity.WARNING, {"n": i}, ts=1000.0 + i))
    bus.flush()
    rows = store.query("SELECT kind, subject, severity, detail, ts FROM events ORDER BY id")
    store.close()
    assert len(rows) == 500
    assert [row["ts"] for row in rows] == [1000.0 + i for i in range(500)]
    assert rows[7]["subject"] == "P01/8"
    assert rows[7]["severity"] == "warning"
    assert '"n": 7' in rows[7]["detail"]


def test_listener_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    """Test that one failing listener neither stops delivery to the next nor loses the record."""
    store = Store(tmp_path)
    store.open()
    bus = EventBus(store, None)
    seen: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError(event.kind)

    bus.listen(broken, prefix="post.")
    bus.listen(lambda e: seen.append(e.kind), prefix="post.")
    bus.listen(lambda e: seen.append("never"), prefix="speaker.")
    bus.emit(Event("post.offline", "P03"))
    bus.flush()
    assert seen == ["post.offline"]
    assert [r["kind"] for r in store.query("SELECT kind FROM events")] == ["post.offline"]
    store.close()
