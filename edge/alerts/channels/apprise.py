"""Apprise channels: WeCom bot, DingTalk, Feishu, e-mail, SMS gateways, ntfy, JSON webhooks …

One channel per Apprise URL of a worker. Apprise blocks, so each channel runs its calls in its
own small thread pool with a timeout: a hung or failing service holds back only itself.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import apprise

from edge.alerts.channels.base import Notification
from edge.alerts.const import (APPRISE_THREADS_PER_CHANNEL, APPRISE_TIMEOUT_S, DEDUP_FIELD,
                               DEDUP_HEADER)
from edge.alerts.errors import ChannelError, PermanentChannelError

__all__ = ["AppriseChannel", "is_apprise_url"]

logger = logging.getLogger(__name__)

# Keep Apprise's own state in memory: the outbox in SQLite is the one durable record.
_ASSET = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY, async_mode=False)


def is_apprise_url(url: str) -> bool:
    """True when Apprise knows the URL's service and can parse it."""
    return apprise.Apprise.instantiate(url, asset=_ASSET) is not None


class AppriseChannel:
    """Sends to one Apprise URL.

    Args:
        name: the channel key, ``<worker>:<index>`` (the URL itself may hold secrets; never logged).
        url: the Apprise URL.
    """

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self._url = url
        self._valid = is_apprise_url(url)
        self._pool = ThreadPoolExecutor(APPRISE_THREADS_PER_CHANNEL,
                                        thread_name_prefix=f"apprise-{name}")
        self._slots = asyncio.Semaphore(APPRISE_THREADS_PER_CHANNEL)

    def _notify(self, title: str, body: str, ref: str) -> bool:
        client = apprise.Apprise(asset=_ASSET)
        plugin = apprise.Apprise.instantiate(self._url, asset=_ASSET)
        if plugin is None:
            return False
        # The stable id receivers drop duplicates by: a JSON/form field and a header where the
        # service has them (json://, form://, xml://); the text carries it for the others.
        extras = getattr(plugin, "payload_extras", None)
        if isinstance(extras, dict):
            extras[DEDUP_FIELD] = ref
        headers = getattr(plugin, "headers", None)
        if isinstance(headers, dict):
            headers[DEDUP_HEADER] = ref
        client.add(plugin)
        return bool(client.notify(title=title, body=body))

    async def send(self, notification: Notification) -> None:
        """Send and wait for the service's acceptance (HTTP 2xx, SMTP OK, …)."""
        if not self._valid:
            msg = f"channel {self.name}: Apprise does not understand this URL"
            raise PermanentChannelError(msg)
        async with self._slots:
            loop = asyncio.get_running_loop()
            call = loop.run_in_executor(self._pool, self._notify, notification.title,
                                        notification.body, notification.ref)
            try:
                ok = await asyncio.wait_for(call, APPRISE_TIMEOUT_S)
            except TimeoutError:
                msg = f"channel {self.name}: no answer within {APPRISE_TIMEOUT_S:.0f} s"
                raise ChannelError(msg) from None
            except Exception as err:  # Apprise plugins raise what their libraries raise
                msg = f"channel {self.name}: {type(err).__name__}: {err}"
                raise ChannelError(msg) from err
        if not ok:
            msg = f"channel {self.name}: the service did not accept the notification"
            raise ChannelError(msg)

    async def close(self) -> None:
        """Stop the channel's threads (a hung call is left to finish on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
