"""What the street office sees, derived only from the sites' retained messages.

Nothing here is stored: a restarted service, or a second one beside it, subscribes again, the
broker hands it every retained state and alert record, and it holds the same view. A message
that is not what a site publishes is counted by reason and otherwise ignored.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["DistrictView", "SiteView"]

logger = logging.getLogger(__name__)

OPEN_STATES = ("firing", "acknowledged")
# Live state documents kept per site to estimate its clock's offset (a few seconds of a site's
# posts): a site clock that steps is followed after this many documents.
SKEW_SAMPLES = 32


@dataclass
class SiteView:
    """One site as its retained messages describe it."""

    id: str
    online: bool | None = None  # None: the daemon's availability was never seen
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)  # open ones only
    updated: float = 0.0  # when a message of this site last arrived (receiver's clock)
    # (receiver's clock - site's clock) of recent live state documents: their smallest is the
    # sample that waited least in the network and the broker, the best estimate of the skew.
    _skews: deque[float] = field(default_factory=lambda: deque(maxlen=SKEW_SAMPLES))

    def clock_sample(self, received_at: float, sent_at: float) -> None:
        """Record one live document: sent at ``sent_at`` by the site's clock, received at
        ``received_at`` by ours."""
        self._skews.append(received_at - sent_at)

    @property
    def clock_offset(self) -> float:
        """How far the receiver's wall clock is ahead of the site's (0 until live data came)."""
        return min(self._skews) if self._skews else 0.0

    def summary(self) -> dict[str, Any]:
        """The site in the district API."""
        posts = sorted(self.posts.values(), key=lambda p: str(p.get("post", "")))
        return {
            "id": self.id,
            "online": self.online,
            "posts": [{"post": p.get("post"), "name": p.get("name"),
                       "location": p.get("location"), "online": p.get("online"),
                       "latched_ports": p.get("latched_ports") or []} for p in posts],
            "posts_online": sum(1 for p in posts if p.get("online")),
            "latched_ports": sum(len(p.get("latched_ports") or []) for p in posts),
            "open_alerts": [self.alerts[i] for i in sorted(self.alerts)],
        }


class DistrictView:
    """Every site, its posts and its open alerts; fed one MQTT message at a time.

    Args:
        root: the first topic level of every site (``mqtt.topic_root`` of the sites).
    """

    def __init__(self, root: str = "gridedge") -> None:
        self.root = root
        self.sites: dict[str, SiteView] = {}
        self.rejected: Counter[str] = Counter()
        self.received = 0

    def filters(self) -> list[str]:
        """The MQTT filters the view needs."""
        r = self.root
        return [f"{r}/+/daemon/availability", f"{r}/+/posts/+/state", f"{r}/+/alerts/+"]

    def on_message(self, topic: str, payload: bytes, received_at: float = 0.0, *,
                   retained: bool = True) -> None:
        """Apply one message; an empty payload clears what its topic held.

        ``retained=False`` (a live message, just sent) lets a post state document's
        ``updated`` time measure the site's clock against ``received_at``.
        """
        self.received += 1
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != self.root:  # noqa: PLR2004
            self.rejected["topic"] += 1
            return
        site_id, kind = parts[1], parts[2]
        if kind == "daemon" and parts[3:] == ["availability"]:
            self._site(site_id, received_at).online = payload == b"online"
        elif kind == "posts" and len(parts) == 5 and parts[4] == "state":  # noqa: PLR2004
            self._post_state(site_id, parts[3], payload, received_at, retained)
        elif kind == "alerts" and len(parts) == 4:  # noqa: PLR2004
            self._alert(site_id, parts[3], payload, received_at)
        else:
            self.rejected["topic"] += 1

    def open_alerts(self) -> list[tuple[str, dict[str, Any]]]:
        """(site id, alert record) of every open alert, oldest first."""
        found = [(s.id, a) for s in self.sites.values() for a in s.alerts.values()]
        return sorted(found, key=lambda item: (item[1].get("first_ts") or 0, item[0]))

    def summary(self) -> list[dict[str, Any]]:
        """Every site, by id."""
        return [self.sites[s].summary() for s in sorted(self.sites)]

    def _site(self, site_id: str, received_at: float) -> SiteView:
        site = self.sites.get(site_id)
        if site is None:
            site = self.sites[site_id] = SiteView(site_id)
        site.updated = max(site.updated, received_at)
        return site

    def _document(self, payload: bytes) -> dict[str, Any] | None:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.rejected["json"] += 1
            return None
        if not isinstance(data, dict):
            self.rejected["json"] += 1
            return None
        return data

    def _post_state(self, site_id: str, post: str, payload: bytes, received_at: float,
                    retained: bool) -> None:
        site = self._site(site_id, received_at)
        if not payload:
            site.posts.pop(post, None)
            return
        data = self._document(payload)
        if data is not None:
            site.posts[post] = {**data, "post": data.get("post") or post}
            sent = data.get("updated")
            if not retained and received_at and type(sent) in (int, float):
                site.clock_sample(received_at, sent)

    def _alert(self, site_id: str, ident: str, payload: bytes, received_at: float) -> None:
        if not ident.isdigit():
            self.rejected["alert_id"] += 1
            return
        site = self._site(site_id, received_at)
        alert_id = int(ident)
        if not payload:
            site.alerts.pop(alert_id, None)
            return
        data = self._document(payload)
        if data is None:
            return
        if data.get("state") in OPEN_STATES:
            site.alerts[alert_id] = {**data, "id": alert_id, "site": site_id}
        else:
            site.alerts.pop(alert_id, None)
