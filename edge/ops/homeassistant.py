"""The Home Assistant discovery component: retained configs on every connect and on HA's birth.

Discovered MQTT entities go unavailable after an HA or broker restart unless the device
publishes its discovery again (home-assistant/core #69466, zigbee2mqtt #3740, peer-systems.md):
the configs are published whenever a new broker session starts (the client's connect counter
moved) and whenever ``online`` arrives on ``<prefix>/status``. Configs of devices removed from
config.yaml since the last run are cleared (an empty retained payload), so HA drops them.
The component also publishes each speaker's retained ``speakers/<spk>/state`` (online, now
playing), which the daemon does not otherwise publish; it is compared once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import metadata
from typing import TYPE_CHECKING, Any

from edge.mqtt import Message
from edge.ops.const import CONNECT_CHECK_S, HA_SCOPE, SPEAKER_STATE_EVERY_S
from edge.ops.discovery import (
    DiscoveryMessage,
    PostInfo,
    SpeakerInfo,
    discovery_messages,
    speaker_state_payload,
)

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["HomeAssistantComponent", "create"]

logger = logging.getLogger(__name__)

_TOPICS_KEY = "discovery_topics"
_BIRTH = b"online"


class HomeAssistantComponent:
    """Publishes Home Assistant MQTT discovery for the site (when ``homeassistant.enabled``).

    Args:
        app: the daemon.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.config = app.config.homeassistant
        self.stats = {"published": 0, "rounds": 0, "births": 0, "cleared": 0}
        self._task: asyncio.Task[None] | None = None
        self._birth: asyncio.Event | None = None
        self._speaker_states: dict[str, bytes] = {}
        self._cleaned = False

    async def start(self) -> None:
        """Listen for HA's birth message and start the publisher (if enabled)."""
        if not self.config.enabled:
            logger.debug("Home Assistant discovery is off (homeassistant.enabled)")
            return
        self._birth = asyncio.Event()
        status = self.app.topics.homeassistant_status(self.config.discovery_prefix)
        self.app.mqtt.subscribe(status, self._on_status)
        self._task = asyncio.create_task(self._run(), name="homeassistant-discovery")
        logger.info("Home Assistant discovery under %s/ (birth on %s)",
                    self.config.discovery_prefix, status)

    async def stop(self) -> None:
        """Stop publishing; the retained configs stay (the daemon's LWT marks them unavailable)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_status(self, message: Message) -> None:
        if message.payload.strip() == _BIRTH and self._birth is not None:
            self.stats["births"] += 1
            logger.info("Home Assistant came online: publishing discovery again")
            self._birth.set()

    async def _run(self) -> None:
        assert self._birth is not None
        mqtt = self.app.mqtt
        session = 0
        last_states = 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._birth.wait(), CONNECT_CHECK_S)
            if not mqtt.connected:
                continue
            try:
                new_session = mqtt.stats["connects"] != session
                if new_session or self._birth.is_set():
                    self._birth.clear()
                    session = mqtt.stats["connects"]
                    self.publish_all()
                    self._speaker_states.clear()  # a new broker may have lost them
                if loop.time() - last_states >= SPEAKER_STATE_EVERY_S:
                    last_states = loop.time()
                    self._publish_speaker_states()
            except Exception:
                # A bug here must not stop the retries; the next round tries again.
                logger.exception("publishing Home Assistant discovery failed")

    def messages(self) -> list[DiscoveryMessage]:
        """The discovery configs for the posts and speakers the daemon runs now."""
        posts: Any = self.app.service("posts")
        fleet: Any = self.app.service("speakers")
        post_infos = [] if posts is None else [
            PostInfo(m.post_id, m.config.name, m.config.location, m.profile.vendor,
                     m.profile.model, tuple(sorted(m.readings)))
            for m in posts.monitors.values()]
        speaker_infos = [] if fleet is None else [
            SpeakerInfo(c.id, c.config.name, c.config.location, c.driver.profile.vendor,
                        c.driver.profile.model)
            for c in fleet.channels.values()]
        return discovery_messages(self.app.config, self.app.topics, post_infos, speaker_infos,
                                  prefix=self.config.discovery_prefix, version=_version())

    def publish_all(self) -> None:
        """Publish every config (retained), clearing those of devices no longer configured."""
        messages = self.messages()
        for message in messages:
            self.app.mqtt.publish(message.topic, message.encoded(), qos=1, retain=True)
        self.stats["published"] += len(messages)
        self.stats["rounds"] += 1
        if not self._cleaned:
            self._cleaned = True
            self._clear_stale({m.topic for m in messages})
        logger.info("published %d Home Assistant discovery configs", len(messages))

    def _clear_stale(self, current: set[str]) -> None:
        store = self.app.store
        before = set(store.get_state(HA_SCOPE).get(_TOPICS_KEY) or [])
        for topic in sorted(before - current):
            self.app.mqtt.publish(topic, b"", qos=1, retain=True)
            self.stats["cleared"] += 1
        if before != current:
            store.put_state(HA_SCOPE, _TOPICS_KEY, sorted(current))

    def _publish_speaker_states(self) -> None:
        fleet: Any = self.app.service("speakers")
        if fleet is None:
            return
        for channel in fleet.channels.values():
            active = channel.active
            payload = speaker_state_payload(
                channel.online, "" if active is None else active.announcement,
                "" if active is None else active.key, len(channel.queue))
            if self._speaker_states.get(channel.id) != payload:
                self._speaker_states[channel.id] = payload
                self.app.mqtt.publish(self.app.topics.speaker_state(channel.id), payload, qos=1,
                                      retain=True)


def _version() -> str:
    try:
        return metadata.version("gridedge")
    except metadata.PackageNotFoundError:
        return "unknown"


def create(app: App) -> HomeAssistantComponent:
    """Component factory (posts and speakers are looked up when publishing)."""
    return HomeAssistantComponent(app)
