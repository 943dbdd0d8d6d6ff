"""Rig of the phone-page tests: the real aiohttp server and alerts with the page, a plain client."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from edge import http as http_module
from edge.alerts import AlertsComponent, phone_routes
from edge.app import App
from edge.config import load_config
from edge.profiles import load_registry
from tests.alerts.rig import HANG_GUARD_S, ManualClock, MonotonicClock, Receiver

__all__ = ["LINK", "NONCE", "PhoneRig", "forge", "links_of"]

LINK = re.compile(r"(http://[^\s/]+/a/[A-Za-z0-9_.-]+)")
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _call(url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with _OPENER.open(urllib.request.Request(url, data=data), timeout=HANG_GUARD_S) as reply:
            return reply.status, reply.read().decode(), dict(reply.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


class PhoneRig:
    """Store, the aiohttp server, alerts with the phone page (on a hand-moved clock), MQTT."""

    def __init__(self, config_path: Path, clock: ManualClock) -> None:
        self.config = load_config(config_path)
        self.app = App(self.config, load_registry())
        self.clock = clock
        self.http = http_module.create(self.app)
        self.mono = MonotonicClock()
        self.alerts = AlertsComponent(self.app, clock=clock, monotonic=self.mono)
        phone_routes.register(self.app, self.alerts)  # as the component's create() does

    async def __aenter__(self) -> PhoneRig:
        await self.app.store.start()
        await self.http.start()
        await self.alerts.start()
        await self.app.mqtt.start()
        assert await self.app.mqtt.wait_connected(HANG_GUARD_S)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.alerts.stop()
        await self.app.mqtt.stop()
        await self.http.stop()
        await self.app.store.stop()

    async def get(self, url: str) -> tuple[int, str, dict[str, str]]:
        """GET from a client thread (the server runs on this loop)."""
        return await asyncio.to_thread(_call, url)

    async def post(self, url: str, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """POST a form from a client thread."""
        return await asyncio.to_thread(_call, url, form)

    async def until(self, check: Any, timeout: float = HANG_GUARD_S) -> bool:
        """Let the loop run until check() (a hang guard, not a speed limit)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def row(self, alert_id: int) -> Any:
        """The alert as the manager has it."""
        assert self.alerts.manager is not None
        return self.alerts.manager.row(alert_id)


def forge(token: str) -> str:
    """The token with one character of its signature changed (one that carries MAC bits)."""
    i = len(token) - 5
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


async def links_of(receiver: Receiver, who: str, count: int) -> dict[int, str]:
    """alert id → the link of the first page ``who`` got about it."""
    assert await asyncio.to_thread(receiver.wait_for, lambda: len(
        {p["ref"][0] for p in receiver.to(who) if p["ref"]}) >= count)
    found: dict[int, str] = {}
    for page in receiver.to(who):
        match = LINK.search(page["message"])
        if page["ref"] and match and page["ref"][0] not in found:
            found[page["ref"][0]] = match[1]
    return found
