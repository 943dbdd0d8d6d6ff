"""The street office as the last escalation level: alerts nobody at the site acknowledged in time.

Which alerts are due is derived from the view (an alert record carries ``first_ts`` and its
state), and which were already paged from retained markers on the district broker
(``<root>/<site>/district/escalated/<alert id>``), written after the page went out. A restarted
service, or a second one, thus pages nothing twice in the normal case; should it die between the
page and the marker, the street office gets one duplicate with the same reference (the receiver
drops it by ``gridedge_id``), never a lost page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import apprise

from edge.alerts.const import DEDUP_FIELD, DEDUP_HEADER

__all__ = ["Escalation", "StreetOfficePager", "alert_age", "due_alerts"]

logger = logging.getLogger(__name__)

_ASSET = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY, async_mode=False)
PAGE_TIMEOUT_S = 20.0
RETRY_FIRST_S = 2.0
RETRY_MAX_S = 60.0


@dataclass(frozen=True)
class Escalation:
    """One alert to page the street office about."""

    site: str
    site_name: str
    alert: dict[str, Any]

    @property
    def ref(self) -> str:
        """The id receivers drop duplicates by."""
        return f"district-{self.site}-{self.alert.get('id')}"

    def title(self) -> str:
        """The page's title."""
        return f"【街道】{self.site_name}：{self.alert.get('title') or self.alert.get('kind')}"

    def body(self, minutes: float) -> str:
        """The page's text."""
        text = self.alert.get("message") or self.alert.get("title") or ""
        return (f"{self.site_name} 的告警 #{self.alert.get('id')} 已经 {minutes:.0f} 分钟无人确认。"
                f"\n{text}")


def alert_age(alert: dict[str, Any], now: float, offset: float = 0.0) -> float | None:
    """Seconds since the alert began, or None without a start time.

    Args:
        alert: the site's alert record (``first_ts``: the site's epoch seconds).
        now: the district's wall clock, epoch seconds.
        offset: how far the district's clock is ahead of the site's
            (:attr:`SiteView.clock_offset`): a site box with a wrong clock neither pages the
            street office early nor holds a page back.
    """
    first = alert.get("first_ts")
    if not isinstance(first, int | float):
        return None
    return now - (first + offset)


def due_alerts(open_alerts: list[tuple[str, dict[str, Any]]], escalated: set[tuple[str, int]],
               now: float, after_s: float, offsets: Mapping[str, float] | None = None,
               ) -> list[tuple[str, dict[str, Any]]]:
    """Firing (not acknowledged) alerts open for ``after_s`` or more and not yet paged.

    Args:
        open_alerts: (site, record) as the view holds them.
        escalated: (site, alert id) already paged.
        now: wall-clock epoch seconds (alert records carry the site's epoch ``first_ts``).
        after_s: how long the site had.
        offsets: site → how far ``now``'s clock is ahead of that site's (missing: 0).
    """
    offsets = offsets or {}
    out = []
    for site, alert in open_alerts:
        age = alert_age(alert, now, offsets.get(site, 0.0))
        if alert.get("state") != "firing" or age is None:
            continue
        if (site, alert["id"]) in escalated or age < after_s:
            continue
        out.append((site, alert))
    return out


class StreetOfficePager:
    """Sends a page to every Apprise URL of the street office, retrying until one accepts.

    Args:
        urls: the street office's Apprise URLs.
        sleep: how retries wait (injectable).
    """

    def __init__(self, urls: list[str],
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.urls = urls
        self._sleep = sleep
        self.stats = {"sent": 0, "failed_attempts": 0}

    def _notify(self, escalation: Escalation, body: str) -> bool:
        delivered = False
        for url in self.urls:
            plugin = apprise.Apprise.instantiate(url, asset=_ASSET)
            if plugin is None:
                logger.error("the street office's channel is not an Apprise URL Apprise knows")
                continue
            extras = getattr(plugin, "payload_extras", None)
            if isinstance(extras, dict):
                extras[DEDUP_FIELD] = escalation.ref
            headers = getattr(plugin, "headers", None)
            if isinstance(headers, dict):
                headers[DEDUP_HEADER] = escalation.ref
            client = apprise.Apprise(asset=_ASSET)
            client.add(plugin)
            delivered = bool(client.notify(title=escalation.title(), body=body)) or delivered
        return delivered

    async def send(self, escalation: Escalation, minutes: float) -> None:
        """Deliver (to at least one URL), retrying with backoff; returns once delivered."""
        delay = RETRY_FIRST_S
        while True:
            try:
                ok = await asyncio.wait_for(asyncio.to_thread(
                    self._notify, escalation, escalation.body(minutes)), PAGE_TIMEOUT_S)
            except (TimeoutError, OSError):
                ok = False
            if ok:
                self.stats["sent"] += 1
                return
            self.stats["failed_attempts"] += 1
            logger.warning("paging the street office about %s failed; retrying in %.0f s",
                           escalation.ref, delay)
            await self._sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)


def wall_clock() -> float:
    """Epoch seconds (alert records carry the site's epoch timestamps)."""
    return time.time()
