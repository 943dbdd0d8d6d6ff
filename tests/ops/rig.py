"""The whole daemon (App with every component) on its own loop thread, plus HTTP and MQTT helpers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from edge.app import App
from edge.config import load_config
from edge.profiles import load_registry
from tests.broker.harness import Broker

__all__ = ["TOKEN", "Daemon", "Publisher", "get", "get_json", "http_section", "samples", "until"]

HANG_GUARD_S = 20.0  # a guard against a hang, not a speed limit
TOKEN = "rig-token-7c1f0e"  # the access token the rig's daemons are configured with


def http_section(**extra: object) -> dict[str, Any]:
    """The ``http:`` section of a test daemon: loopback, a free port, the rig's token."""
    return {"bind": "127.0.0.1", "port": 0, "public_url": "", "token": TOKEN, **extra}


class Daemon:
    """``App(config, profiles).run(stop)`` in a thread, exactly as ``gridedge run`` wires it."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.loop = asyncio.new_event_loop()
        self.app: App | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> Daemon:
        """Start and wait until every component runs and the broker link is up."""
        self._thread.start()
        assert self._ready.wait(HANG_GUARD_S), "the daemon did not start"
        if self.error is not None:
            raise self.error
        return self

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as err:  # noqa: BLE001 - reported to the test thread by start()
            self.error = err
            self._ready.set()

    async def _main(self) -> None:
        profiles = load_registry()
        app = App(load_config(self.config_path, profiles=profiles), profiles)
        self.app = app
        self._stop = asyncio.Event()
        runner = asyncio.create_task(app.run(self._stop))
        # Connected means every component has started (App connects last).
        while not app.mqtt.connected:
            if runner.done():
                await runner
            await asyncio.sleep(0.05)
        self._ready.set()
        await runner

    @property
    def url(self) -> str:
        """Base URL of the daemon's HTTP server."""
        assert self.app is not None
        http: Any = self.app.service("http")
        return f"http://127.0.0.1:{http.port}"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the daemon's loop and return its result."""
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(HANG_GUARD_S)

    def stop(self) -> None:
        """Stop the daemon and wait for its thread."""
        if self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(HANG_GUARD_S)


def get(url: str, token: str | None = TOKEN) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET (with the bearer token); HTTP errors are answers too."""
    request = urllib.request.Request(url)  # noqa: S310 - loopback test URL
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HANG_GUARD_S) as response:  # noqa: S310
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["Content-Type"]


def get_json(url: str, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    """(status, parsed JSON body) of a GET."""
    status, body, _ = get(url, token)
    return status, json.loads(body)


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, parsed by prometheus_client: (name, labels) → value."""
    status, body, content_type = get(url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def until(check: Callable[[], Any], timeout: float = HANG_GUARD_S) -> Any:
    """Poll ``check`` until it returns something true (a hang guard, not a speed limit)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            msg = f"still false after {timeout} s: {check}"
            raise AssertionError(msg)
        time.sleep(0.05)


class Publisher:
    """A plain paho client publishing as a device would."""

    def __init__(self, broker: Broker) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._client.max_inflight_messages_set(1000)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict[str, Any], *, qos: int = 1,
             wait: bool = True) -> paho.MQTTMessageInfo:
        """Publish (and by default wait until the broker has it)."""
        if isinstance(payload, dict):
            payload = json.dumps(payload, ensure_ascii=False)
        info = self._client.publish(topic, payload, qos=qos)
        if wait:
            info.wait_for_publish(HANG_GUARD_S)
        return info

    def close(self) -> None:
        """Disconnect."""
        self._client.loop_stop()
        self._client.disconnect()
