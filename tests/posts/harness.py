"""Test helpers for post monitoring: the daemon's post part on its own loop thread, a byte publisher, site config."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.app import App
from edge.config import load_config
from edge.posts.component import PostsComponent, create
from edge.profiles import load_registry
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe

__all__ = ["TEST_LIMITS", "Daemon", "Publisher", "events", "posts_section", "sections", "wait_event"]

# Small settings so that trips take about a second: SI, TMS 0.1 → 1.003 s at 2·Is, 0.428 s at
# 5·Is, 0.297 s at 10·Is. Is = 2 A; the instantaneous element sits above 10·Is.
TEST_LIMITS: dict[str, Any] = {
    "rated_current_a": 2.0, "curve": "SI", "tms": 0.1, "instantaneous_a": 30.0,
    "overpower_w": None, "overtemp_c": None, "total_current_a": 200.0,
    "cutoff_confirm_s": 0.5, "cutoff_retries": 1,
}


def posts_section(devices: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A ``posts:`` section with the test limits as every post's default."""
    return {"defaults": {"ports": 4, "offline_after_s": 10, "limits": TEST_LIMITS},
            "devices": devices}


def sections(devices: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``posts:`` with these devices, and the site's grid areas without the real posts in them."""
    import yaml

    from tests.conftest import REPO

    real = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    areas = {name: {**area, "posts": []} for name, area in (real.get("areas") or {}).items()}
    return {"posts": posts_section(devices), "areas": areas}


class Daemon:
    """The daemon's post monitoring (store, MQTT, event bus, PostsComponent) on a loop thread.

    Only the posts component is started, so the tests do not depend on the other capabilities;
    `gridedge run` itself is tested in test_restart.py.
    """

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.loop = asyncio.new_event_loop()
        self.component: PostsComponent | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(20), "the daemon did not start"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        profiles = load_registry()
        config = load_config(self.config_path, profiles=profiles)
        app = App(config, profiles)
        self._stop = asyncio.Event()
        try:
            await app.store.start()
            self.component = create(app)
            await self.component.start()
            await app.mqtt.start()
            await app.mqtt.wait_connected(10)
        except BaseException as err:
            self.error = err
            self._ready.set()
            raise
        self._ready.set()
        await self._stop.wait()
        await app.mqtt.stop()
        await self.component.stop()
        await app.store.stop()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the daemon's loop and return its result."""
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)


class Publisher:
    """A plain paho client publishing raw bytes, as a device would."""

    def __init__(self, broker: Broker) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict[str, Any], *, retain: bool = False,
             wait: bool = True) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if wait:
            info.wait_for_publish(10)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def events(probe: Probe, kind: str, subject: str | None = None) -> list[dict[str, Any]]:
    """Events of ``kind`` (and subject) seen on the site's events topic."""
    found = []
    for topic, payload, _retain in list(probe.messages):
        if not topic.endswith("/events"):
            continue
        event = json.loads(payload)
        if event["kind"] == kind and (subject is None or event["subject"] == subject):
            found.append(event)
    return found


def wait_event(probe: Probe, kind: str, subject: str, timeout: float = 15.0) -> dict[str, Any]:
    """Wait for an event (a hang guard, not a speed limit) and return the first one."""
    assert probe.wait_for(lambda _m: bool(events(probe, kind, subject)), timeout), (
        f"no {kind} for {subject}; seen: {[json.loads(p)['kind'] for t, p, _ in probe.messages if t.endswith('/events')]}")
    return events(probe, kind, subject)[0]


def state(probe: Probe, topic: str) -> dict[str, Any] | None:
    """The newest state document seen on ``topic``."""
    last = probe.last(topic)
    return json.loads(last) if last else None  # an empty retained payload clears the state


def now_s() -> float:
    """A whole-second timestamp near now (Tasmota stamps whole seconds)."""
    return float(int(time.time()))
