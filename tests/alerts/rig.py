"""Test rig of the alert tests: a loopback phone receiver, a hand-moved clock, the roster."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge.alerts import AlertsComponent
from edge.app import App
from edge.config import load_config
from edge.events import Event, Severity
from edge.profiles import load_registry

__all__ = ["AlertsRig", "ManualClock", "MonotonicClock", "Receiver", "roster_section"]

REF = re.compile(r"#(\d+) · 第(\d+)条")
HANG_GUARD_S = 20.0


class Receiver:
    """A loopback HTTP endpoint standing in for WeCom/ntfy: Apprise ``json://`` posts land here."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.refused = 0
        self._cond = threading.Condition()
        rig = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = rig.status
                if status == 200:  # noqa: PLR2004
                    data = json.loads(body)
                    data["path"] = self.path.strip("/")
                    data["id_header"] = self.headers.get("X-Gridedge-Id")
                    data["arrived"] = time.monotonic()
                    match = REF.search(data.get("message", ""))
                    data["ref"] = (int(match[1]), int(match[2])) if match else None
                    with rig._cond:
                        rig.posts.append(data)
                        rig._cond.notify_all()
                else:
                    rig.refused += 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        """An Apprise URL that posts here under /name."""
        return f"json://127.0.0.1:{self.port}/{name}"

    def to(self, name: str) -> list[dict[str, Any]]:
        """What reached /name."""
        with self._cond:
            return [p for p in self.posts if p["path"] == name]

    def wait_for(self, check: Callable[[], bool], timeout: float = HANG_GUARD_S) -> bool:
        """Wait until check() (a hang guard, not a speed limit)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class MonotonicClock:
    """The real monotonic clock plus whatever the test added (time passing faster, on purpose)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        self.offset += seconds


class ManualClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def roster_section(receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    """An alerts: section with two grid workers, a duty officer and a cadre on the receiver."""
    section: dict[str, Any] = {
        "workers": {
            "wang": {"name": "王芳", "role": "grid_worker", "areas": ["第一网格"],
                     "channels": [receiver.url("wang")]},
            "zhao": {"name": "赵强", "role": "grid_worker", "areas": ["第二网格"],
                     "channels": [receiver.url("zhao")]},
            "duty": {"name": "刘敏", "role": "duty_officer", "channels": [receiver.url("duty")]},
            "chen": {"name": "陈建国", "role": "cadre", "channels": [receiver.url("chen")]},
        },
    }
    section.update(overrides)
    return section


def trip(post: str = "P03", port: int = 4, measured: float = 18.2) -> Event:
    """The post.trip event the posts module emits."""
    return Event("post.trip", f"{post}/{port}", Severity.CRITICAL, {
        "post": post, "port": port, "post_name": "3号充电桩", "location": "3号楼西侧车棚",
        "cause": "inverse_time", "measured": measured, "limit": 16.0, "unit": "A",
        "evidence": {"samples": [[1.0, measured]]}})


class AlertsRig:
    """The daemon's store, MQTT client, event bus and the alerts component, on a manual clock."""

    def __init__(self, config_path: Path, clock: ManualClock) -> None:
        self.config = load_config(config_path)
        self.app = App(self.config, load_registry())
        self.clock = clock
        self.mono = MonotonicClock()
        self.alerts = AlertsComponent(self.app, clock=clock, monotonic=self.mono)

    async def __aenter__(self) -> AlertsRig:
        await self.app.store.start()
        await self.alerts.start()
        await self.app.mqtt.start()
        assert await self.app.mqtt.wait_connected(HANG_GUARD_S)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.alerts.stop()
        await self.app.mqtt.stop()
        await self.app.store.stop()

    def emit(self, event: Event) -> None:
        """Emit on the real event bus, as the posts and speakers modules do."""
        self.app.events.emit(event)

    async def until(self, check: Callable[[], bool], timeout: float = HANG_GUARD_S) -> bool:
        """Let the loop run until check() (a hang guard, not a speed limit)."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def advance(self, minutes: float) -> None:
        """Let time pass (both clocks) and run an escalation round at the new time."""
        self.clock.advance(minutes * 60)
        self.mono.advance(minutes * 60)
        assert self.alerts.manager is not None
        self.alerts.manager.load_silences()
        self.alerts.manager.tick()
        await asyncio.sleep(0)

    async def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone (NTP), then run an escalation round."""
        self.clock.advance(seconds)
        assert self.alerts.manager is not None
        self.alerts.manager.tick()
        await asyncio.sleep(0)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a query on the daemon's alert state (the in-memory working set)."""
        assert self.alerts.working is not None
        return self.alerts.working.query(sql, params)
