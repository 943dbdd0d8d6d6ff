"""The district view and the escalation rule: pure functions of the sites' messages."""

from __future__ import annotations

import json

from edge.district.escalation import due_alerts
from edge.district.view import DistrictView


def _alert(ident: int, state: str = "firing", first_ts: float = 1000.0) -> bytes:
    return json.dumps({"id": ident, "kind": "post.trip", "state": state, "first_ts": first_ts,
                       "title": "充电桩过载"}).encode()


def test_view_is_rebuilt_from_retained_messages_alone() -> None:
    messages = [
        ("gridedge/a/daemon/availability", b"online"),
        ("gridedge/a/posts/P01/state", json.dumps({"post": "P01", "online": True,
                                                  "latched_ports": [3]}).encode()),
        ("gridedge/a/posts/P02/state", json.dumps({"post": "P02", "online": False}).encode()),
        ("gridedge/a/alerts/4", _alert(4)),
        ("gridedge/b/daemon/availability", b"offline"),
        ("gridedge/b/alerts/1", _alert(1, "acknowledged")),
        ("gridedge/b/alerts/2", _alert(2, "resolved")),
    ]
    first, second = DistrictView(), DistrictView()
    for topic, payload in messages:
        first.on_message(topic, payload)
    for topic, payload in reversed(messages):  # another instance, another order: same view
        second.on_message(topic, payload)
    assert first.summary() == second.summary()
    a, b = first.summary()
    assert (a["id"], a["online"], a["posts_online"], a["latched_ports"]) == ("a", True, 1, 1)
    assert [x["id"] for x in a["open_alerts"]] == [4]
    assert b["online"] is False
    assert [x["id"] for x in b["open_alerts"]] == [1]


def test_cleared_and_resolved_messages_remove_what_they_held() -> None:
    view = DistrictView()
    view.on_message("gridedge/a/alerts/4", _alert(4))
    view.on_message("gridedge/a/posts/P01/state", b'{"post": "P01"}')
    view.on_message("gridedge/a/alerts/4", _alert(4, "resolved"))
    view.on_message("gridedge/a/posts/P01/state", b"")
    assert view.open_alerts() == []
    assert view.summary()[0]["posts"] == []


def test_foreign_and_broken_messages_are_counted_not_fatal() -> None:
    view = DistrictView()
    view.on_message("gridedge/a/alerts/4", b"{not json")
    view.on_message("gridedge/a/alerts/x", _alert(1))
    view.on_message("other/a/alerts/4", _alert(4))
    view.on_message("gridedge/a/posts/P01/state", b"[1, 2]")
    assert dict(view.rejected) == {"json": 2, "alert_id": 1, "topic": 1}
    assert view.open_alerts() == []


def test_only_unacknowledged_alerts_past_the_delay_are_due() -> None:
    view = DistrictView()
    view.on_message("gridedge/a/alerts/1", _alert(1, first_ts=1000.0))
    view.on_message("gridedge/a/alerts/2", _alert(2, "acknowledged", first_ts=1000.0))
    view.on_message("gridedge/a/alerts/3", _alert(3, first_ts=1500.0))
    view.on_message("gridedge/b/alerts/1", _alert(1, first_ts=1000.0))
    due = due_alerts(view.open_alerts(), {("b", 1)}, now=1000.0 + 600, after_s=600)
    assert [(site, a["id"]) for site, a in due] == [("a", 1)]


def test_site_clock_offset_comes_from_live_state_documents_only() -> None:
    view = DistrictView()
    state = lambda updated: json.dumps({"post": "P01", "updated": updated}).encode()  # noqa: E731
    # A retained document is as old as the last change: it says nothing about the site's clock.
    view.on_message("gridedge/a/posts/P01/state", state(100.0), received_at=5000.0)
    assert view.sites["a"].clock_offset == 0.0
    # Live ones: the least delayed sample wins (3,600 s plus 0.2 s of network at best).
    for delay in (1.5, 0.2, 0.9):
        view.on_message("gridedge/a/posts/P01/state", state(1000.0), received_at=4600.0 + delay,
                        retained=False)
    assert abs(view.sites["a"].clock_offset - 3600.2) < 1e-9
    view.on_message("gridedge/a/alerts/1", _alert(1, first_ts=1000.0))
    # By the district's clock the alert is an hour old; by the site's, 100 s.
    now = 4700.2
    assert due_alerts(view.open_alerts(), set(), now=now, after_s=600) != []  # unaware: early
    assert due_alerts(view.open_alerts(), set(), now=now, after_s=600,
                      offsets={"a": view.sites["a"].clock_offset}) == []
    due = due_alerts(view.open_alerts(), set(), now=now + 500, after_s=600,
                     offsets={"a": view.sites["a"].clock_offset})
    assert [(site, a["id"]) for site, a in due] == [("a", 1)]
