"""Wiring of the daemon: builds the components in order, starts them, and stops them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import Protocol

from edge.config import GridedgeConfig
from edge.events import Event, EventBus
from edge.mqtt import MqttClient, Topics
from edge.profiles import ProfileRegistry
from edge.registry import load_modules
from edge.store import Store

__all__ = ["COMPONENT_MODULES", "App", "Component", "configure_logging", "settle_heap"]

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Under systemd, journald stamps every line itself and keeps the level from the prefix.
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"


class Component(Protocol):
    """A part of the daemon with a lifecycle. ``__init__`` only stores; I/O starts in start()."""

    async def start(self) -> None:
        """Begin work (subscribe, open files, start tasks)."""

    async def stop(self) -> None:
        """End work and release resources; must finish quickly."""


# Modules of the daemon's capabilities, in start order; each has ``create(app) -> Component``.
# The HTTP server first (speakers need its URL), alerts before the modules whose events they
# consume, post monitoring last so that everything that reacts to a trip is already listening.
COMPONENT_MODULES: tuple[str, ...] = (
    "edge.http",
    "edge.ops.metrics",
    "edge.alerts.component",
    "edge.reachability",
    "edge.speakers.component",
    "edge.schedule.component",
    "edge.posts.component",
    "edge.ops.homeassistant",
    "edge.console",
)


def _component_factories() -> list[object]:
    return [module.create for module in load_modules(COMPONENT_MODULES)]


def configure_logging(config: GridedgeConfig | None = None, *, verbose: bool = False) -> None:
    """One log format with the logger name; levels from config.yaml's ``logging:`` section."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=JOURNAL_FORMAT if os.environ.get("JOURNAL_STREAM")
                            else LOG_FORMAT)
    level = "debug" if verbose else (config.logging.level.value if config else "info")
    root.setLevel(level.upper())
    if config is not None:
        for name, module_level in config.logging.levels.items():
            logging.getLogger(name).setLevel(module_level.value.upper())
    # paho and amqtt are chatty at INFO; their problems surface through our own messages.
    logging.getLogger("amqtt").setLevel(logging.WARNING)


def settle_heap() -> None:
    """Take what start-up built out of the garbage collector's full passes.

    Config, profiles and the state of every post live as long as the process. Left in the
    collected heap, each full collection walks all of them: with 1,000 posts that is a pause of
    tens of milliseconds on the loop, in the middle of whatever trip is being handled.
    """
    gc.collect()
    gc.freeze()


LOOP_SWITCH_INTERVAL_S = 0.001
"""How long a worker thread (the saver, the audit writer) may hold the interpreter while the
event loop waits for it. Python's default, 5 ms, let a save in progress hold a cut-off command
for up to 5 ms; at 1 ms the loop gets it back sooner, for a little more switching."""


def prefer_the_loop() -> None:
    """Hand the interpreter back to the event loop (trips, cut-offs) sooner than by default."""
    sys.setswitchinterval(LOOP_SWITCH_INTERVAL_S)


class App:
    """The edge daemon: store, MQTT, event bus, and every registered component."""

    def __init__(self, config: GridedgeConfig, profiles: ProfileRegistry) -> None:
        self.config = config
        self.profiles = profiles
        self.topics = Topics(config.mqtt.topic_root, config.site.id)
        self.store = Store(config.data_dir, retention=config.storage.retention)
        self.mqtt = MqttClient(config.mqtt, self.topics)
        self.events = EventBus(self.store, self.mqtt)
        self.components: list[Component] = []
        self._started: list[Component] = []
        self._services: dict[str, object] = {}

    def provide(self, name: str, service: object) -> None:
        """Offer a service to components created later (e.g. "speakers" for the scheduler)."""
        if name in self._services:
            msg = f"service {name!r} is provided twice"
            raise ValueError(msg)
        self._services[name] = service

    def service(self, name: str) -> object | None:
        """A service an earlier component provided, or None when that capability is absent."""
        return self._services.get(name)

    async def start(self) -> None:
        """Open the store, build and start every component, then connect to the broker."""
        await self.store.start()
        self._started.append(self.store)
        self.components = [factory(self) for factory in _component_factories()]
        for component in self.components:
            await component.start()
            self._started.append(component)
        settle_heap()
        prefer_the_loop()
        # Connect last, so that every component has subscribed when the first message arrives.
        await self.mqtt.start()
        self._started.append(self.mqtt)
        self.events.emit(Event("daemon.started", self.config.site.id, detail={
            "speakers": len(self.config.speakers.devices), "posts": len(self.config.posts.devices),
            "profiles": len(self.profiles)}))

    async def stop(self) -> None:
        """Stop in reverse order of start; a component failing to stop does not stop the rest."""
        if self.mqtt in self._started:
            self.events.emit(Event("daemon.stopping", self.config.site.id))
        for component in reversed(self._started):
            if component is self.store:
                self.events.flush()  # the audit rows still queued, before the database closes
            try:
                await component.stop()
            except Exception:
                logger.exception("stopping %s failed", type(component).__name__)
        self._started.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Start, wait until ``stop`` is set, then stop."""
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()
