"""``gridedge district run``: the street office's service on the district broker.

It subscribes to every site's retained state and alert records and keeps only what it derives
from them (:mod:`edge.district.view`); it sends announcements and acknowledgements down to
chosen sites, and pages the street office about alerts nobody at the site acknowledged
(:mod:`edge.district.escalation`). It writes nothing to disk: a restart, or a second instance on
another machine, rebuilds the same view from the broker.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from edge.district.config import DistrictConfig
from edge.district.escalation import (
    Escalation,
    StreetOfficePager,
    alert_age,
    due_alerts,
    wall_clock,
)
from edge.district.view import DistrictView
from edge.http import HttpServer
from edge.mqtt import Message, MqttClient, Topics

__all__ = ["DistrictService", "announcement_payload"]

logger = logging.getLogger(__name__)

TICK_S = 1.0
# Retained messages arrive right after the subscription; until this long after a connection the
# service neither pages (the "already paged" markers may still be on their way) nor clears
# markers (the alert they belong to may still be on its way).
SETTLE_S = 5.0
ANNOUNCE_PRIORITIES = ("routine", "important", "emergency")


def announcement_payload(text: str, *, ident: str, priority: str = "important",
                         speakers: list[str] | str = "all") -> bytes:
    """The site's ``announce`` payload (see ``edge/speakers/announce.py``) of a district one."""
    return orjson.dumps({"id": ident, "text": text, "speakers": speakers, "priority": priority})


class DistrictService:
    """The service: MQTT client, derived view, escalation ticks and the HTTP page and API.

    Args:
        config: ``district.yaml``.
        wall: epoch seconds (alert ages); injectable.
        monotonic: seconds for the settle period; injectable.
        settle_s: see :data:`SETTLE_S`.
        tick_s: how often escalation is checked.
    """

    def __init__(self, config: DistrictConfig, *, wall: Callable[[], float] = wall_clock,
                 monotonic: Callable[[], float] = time.monotonic, settle_s: float = SETTLE_S,
                 tick_s: float = TICK_S) -> None:
        self.config = config
        self.root = config.broker.topic_root
        self.view = DistrictView(self.root)
        self.escalated: set[tuple[str, int]] = set()
        self.pager = StreetOfficePager(config.channels)
        self._wall = wall
        self._monotonic = monotonic
        self._settle_s = settle_s
        self._tick_s = tick_s
        self._connected_at: float | None = None
        self._paging: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Each instance its own client id: two instances side by side must not kick each other.
        self.mqtt = MqttClient(config.broker, Topics(self.root, "district"),
                               client_id=f"gridedge-district-{secrets.token_hex(4)}",
                               availability_topic=None)
        self.http = HttpServer(config.http)
        self.stats = {"announced": 0, "acknowledged": 0, "escalated": 0}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, serve HTTP, connect; escalation runs every tick."""
        from edge.district import web  # noqa: PLC0415 - jinja2 only when served

        # QoS 0 on purpose: the view holds only the newest retained document of each topic, and
        # after any reconnection the broker hands every retained one again, so a lost update is
        # superseded, never missing. A QoS 1 subscription on NATS's MQTT gateway goes through a
        # JetStream consumer and capped the service at ~130 messages/s (bench/district.py).
        for topic_filter in self.view.filters():
            self.mqtt.subscribe(topic_filter, self._on_view_message, qos=0)
        self.mqtt.subscribe(f"{self.root}/+/district/escalated/+", self._on_marker)
        web.register(self)
        await self.http.start()
        await self.mqtt.start()
        self._spawn(self._ticks())

    async def stop(self) -> None:
        """Stop ticking, disconnect, stop serving."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.mqtt.stop()
        await self.http.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Start, wait for ``stop``, stop."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # -- what the street office does ------------------------------------------------------------

    def announce(self, sites: list[str], text: str, *, priority: str = "important",
                 ident: str | None = None) -> str:
        """Send an announcement to ``sites`` (QoS 1; each site's bridge keeps its session, so a
        site whose uplink is down gets it when it is back). Returns the announcement's id, the
        same at every site: a site plays one id once."""
        ident = ident or f"district-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        payload = announcement_payload(text, ident=ident, priority=priority)
        for site in sites:
            self.mqtt.publish(Topics(self.root, site).district_announce(), payload, qos=1)
        self.stats["announced"] += 1
        logger.info("announcement %s sent to %s", ident, ", ".join(sites))
        return ident

    def acknowledge(self, site: str, alert_id: int, by: str, note: str = "") -> None:
        """Acknowledge a site's alert for the street office (``by`` is on the site's roster)."""
        self.mqtt.publish(Topics(self.root, site).alert_ack(str(alert_id)),
                          orjson.dumps({"by": by, "note": note}), qos=1)
        self.stats["acknowledged"] += 1

    # -- incoming ----------------------------------------------------------------------------------

    def _on_view_message(self, message: Message) -> None:
        self.view.on_message(message.topic, message.payload, message.received_at,
                             retained=message.retain)

    def _on_marker(self, message: Message) -> None:
        parts = message.topic.split("/")
        if not parts[-1].isdigit():
            return
        key = (parts[1], int(parts[-1]))
        if message.payload:
            self.escalated.add(key)
        else:
            self.escalated.discard(key)

    # -- escalation --------------------------------------------------------------------------------

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                self.tick()
            except Exception:
                logger.exception("district escalation tick failed")

    def settled(self) -> bool:
        """True once the retained messages of the current connection have had time to arrive."""
        if not self.mqtt.connected:
            self._connected_at = None
            return False
        if self._connected_at is None:
            self._connected_at = self._monotonic()
        return self._monotonic() - self._connected_at >= self._settle_s

    def tick(self) -> None:
        """Page what is due; clear the markers of alerts that have closed."""
        if not self.settled():
            return
        open_keys = {(site, alert["id"]) for site, alert in self.view.open_alerts()}
        for site, alert_id in sorted(self.escalated - open_keys):
            self.mqtt.publish(self._marker_topic(site, alert_id), b"", qos=1, retain=True)
            self.escalated.discard((site, alert_id))
        if not self.config.channels:
            return
        after_s = self.config.escalation.after_min * 60
        now = self._wall()
        offsets = {site.id: site.clock_offset for site in self.view.sites.values()}
        for site, alert in due_alerts(self.view.open_alerts(), self.escalated | self._paging,
                                      now, after_s, offsets):
            key = (site, alert["id"])
            self._paging.add(key)
            minutes = (alert_age(alert, now, offsets.get(site, 0.0)) or 0.0) / 60
            self._spawn(self._page(Escalation(site, self.config.site_name(site), alert), minutes,
                                   key))

    async def _page(self, escalation: Escalation, minutes: float, key: tuple[str, int]) -> None:
        try:
            await self.pager.send(escalation, minutes)
            self.stats["escalated"] += 1
            self.escalated.add(key)
            self.mqtt.publish(self._marker_topic(*key), orjson.dumps(
                {"at": self._wall(), "by": self.config.name}), qos=1, retain=True)
            logger.info("alert #%s of %s paged to the street office", key[1], key[0])
        finally:
            self._paging.discard(key)

    def _marker_topic(self, site: str, alert_id: int) -> str:
        return f"{Topics(self.root, site).prefix}/district/escalated/{alert_id}"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
