"""``gridedge demo``: the daemon on the real site's config, against an embedded broker.

The broker is amqtt in a child process of its own session (no mosquitto needed; Ctrl-C stops it
last), the data directory is a fresh temporary folder, and an observer draws what the site's
topics say: a full-screen live view in a terminal, else the story lines and a once-a-second
summary (every raw message with ``--verbose``). Simulated speakers and posts join here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from edge.app import App
from edge.demo_view import DemoView
from edge.config import GridedgeConfig, MqttProtocol
from edge.i18n import _
from edge.mqtt import Message, MqttClient, Topics
from edge.profiles import ProfileRegistry
from edge.registry import load_modules
from edge.sim.broker import EmbeddedBroker

__all__ = ["DEMO_MODULES", "demo_config", "run_demo"]

SUMMARY_EVERY_S = 1.0

logger = logging.getLogger(__name__)

# Modules with ``demo_part(config, profiles, stop) -> coroutine``: simulators, scenario steps.
DEMO_MODULES: tuple[str, ...] = (
    "edge.sim.posts",
    "edge.sim.speakers",
    "edge.sim.scenario",
)
# Modules with ``demo_overrides(config, data_dir) -> config``: demo-only changes to the site's
# config (loopback phones in the roster, escalation minutes as seconds, a demo schedule).
DEMO_CONFIG_MODULES: tuple[str, ...] = ("edge.sim.scenario",)


def _demo_parts() -> list[Callable[[GridedgeConfig, ProfileRegistry, asyncio.Event], object]]:
    return [module.demo_part for module in load_modules(DEMO_MODULES)]


def demo_config(config: GridedgeConfig, port: int, data_dir: Path) -> GridedgeConfig:
    """The site's config pointed at the embedded broker (MQTT 3.1.1, anonymous) and a temp dir."""
    mqtt = config.mqtt.model_copy(update={"host": "127.0.0.1", "port": port, "username": "",
                                          "password": "", "protocol": MqttProtocol.V311,
                                          "tls": config.mqtt.tls.model_copy(update={"enabled": False})})
    storage = config.storage.model_copy(update={"data_dir": data_dir})
    http = config.http.model_copy(update={"bind": "127.0.0.1", "port": 0})
    return config.model_copy(update={"mqtt": mqtt, "storage": storage, "http": http})


def _printer(started: float) -> Callable[[Message], None]:
    def show(message: Message) -> None:
        text = message.payload.decode("utf-8", "replace")
        try:
            text = json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
        if len(text) > 160:
            text = text[:159] + "…"
        retained = " (retained)" if message.retain else ""
        print(f"[{time.time() - started:7.1f}s] {message.topic}{retained}  {text}", flush=True)

    return show


def _demo_overrides(config: GridedgeConfig, data_dir: Path) -> GridedgeConfig:
    for module in load_modules(DEMO_CONFIG_MODULES):
        config = module.demo_overrides(config, data_dir)
    return config


class _Summaries:
    """The plain log's summary line: printed once a second when it changed, and once at the end."""

    def __init__(self, view: DemoView, started: float) -> None:
        self.view, self.started, self.last = view, started, ""

    def print_if_changed(self) -> None:
        line = self.view.summary()
        if line != self.last:
            print(f"[{time.time() - self.started:5.0f}s] {line}", flush=True)
            self.last = line

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.print_if_changed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SUMMARY_EVERY_S)


async def _demo(config: GridedgeConfig, profiles: ProfileRegistry, duration: float,
                plain: bool = True, raw: bool = False) -> None:
    stop = asyncio.Event()
    parts_stop = asyncio.Event()  # simulators outlive the daemon: its stop raises no alerts
    loop = asyncio.get_running_loop()
    import signal  # noqa: PLC0415

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)
    topics = Topics(config.mqtt.topic_root, config.site.id)
    observer = MqttClient(config.mqtt, topics, client_id="gridedge-demo-observer",
                          availability_topic=None)
    # The plain log shows the story (the scenario's ★ lines) and a once-a-second summary drawn
    # from the same picture as the live view; every raw message only with --verbose.
    view = DemoView(config, schedule=not plain)
    started = time.time()
    observer.subscribe(topics.all(), view.on_message)
    if plain and raw:
        observer.subscribe(topics.all(), _printer(started))
    await observer.start()
    await observer.wait_connected(10)
    app = App(config, profiles)
    tasks = [asyncio.ensure_future(part(config, profiles, parts_stop)) for part in _demo_parts()]
    summaries = _Summaries(view, started)
    if plain:
        tasks.append(asyncio.ensure_future(summaries.run(parts_stop)))
    live = view.live() if not plain else contextlib.nullcontext()
    try:
        with live:
            await app.run(stop)
    finally:
        parts_stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.2)  # let the observer see the daemon's "offline"
        if plain:
            summaries.print_if_changed()
        await observer.stop()


def run_demo(config: GridedgeConfig, profiles: ProfileRegistry, *, duration: float = 0.0,
             plain: bool = True, raw: bool = False) -> int:
    """Run the demo until Ctrl-C (or ``duration`` seconds); returns the exit code."""
    with tempfile.TemporaryDirectory(prefix="gridedge-demo-") as tmp, EmbeddedBroker() as broker:
        print(_("Demo: embedded MQTT broker on 127.0.0.1:{port}, data in {data}. "
                "Press Ctrl-C to stop.").format(port=broker.port, data=tmp), flush=True)
        site = _demo_overrides(demo_config(config, broker.port, Path(tmp)), Path(tmp))
        asyncio.run(_demo(site, profiles, duration, plain, raw))
    print(_("Demo stopped."), flush=True)
    return 0
