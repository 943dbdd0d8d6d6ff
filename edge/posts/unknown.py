"""Telemetry from devices no post has: counted per device id and logged, so a typo in an id shows.

For each post profile in use, the profile's topics are subscribed with the device id as a
wildcard. A message whose device id belongs to a configured post (or speaker) is left to its own
handler; any other id is counted and logged at most once an hour per id, with the configured
device id it most resembles.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from typing import TYPE_CHECKING

from edge.config.base import closest
from edge.posts.const import LOG_UNKNOWN_DEVICE_EVERY_S

if TYPE_CHECKING:
    from edge.app import App
    from edge.mqtt import Message
    from edge.posts.monitor import PostMonitor

__all__ = ["UnknownDevices"]

logger = logging.getLogger(__name__)

_KNOWN_CACHE_MAX = 4096


class UnknownDevices:
    """Counts telemetry on post-profile topics from device ids nobody configured.

    Args:
        app: The daemon (config for the known ids, MQTT to subscribe).
    """

    def __init__(self, app: App) -> None:
        """Nothing subscribed until ``subscribe()``."""
        self.app = app
        self.counts: Counter[str] = Counter()
        self._logged: dict[str, float] = {}
        self._known: set[str] = set()
        self._names: dict[str, str] = {}  # device id on the wire → post id
        self._seen: dict[str, bool] = {}  # topic → from a known device

    def subscribe(self, monitors: dict[str, PostMonitor]) -> None:
        """Subscribe every topic of each post profile in use, device id as a wildcard."""
        config = self.app.config
        for post_id, cfg in config.posts.devices.items():
            device = cfg.topic_id or post_id
            self._known |= {device, post_id}
            self._names[device] = post_id
        for speaker_id, scfg in config.speakers.devices.items():
            self._known |= {scfg.topic_id or speaker_id, speaker_id}
        topics = self.app.topics
        patterns: dict[str, list[re.Pattern[str]]] = {}
        for profile in {m.profile.id: m.profile for m in monitors.values()}.values():
            for spec in profile.messages:
                level = spec.topic.replace("{port}", "\0").replace("{device}", "\1")
                level = level.format(root=topics.root, site=topics.site)
                topic_filter = "/".join("+" if ("\0" in part or "\1" in part) else part
                                        for part in level.split("/"))
                regex = re.escape(level).replace("\0", r"\d+").replace("\1", "(?P<device>[^/]+)")
                patterns.setdefault(topic_filter, []).append(re.compile(f"^{regex}$"))
        for topic_filter, regexes in patterns.items():
            self.app.mqtt.subscribe(topic_filter, self._handler(tuple(regexes)))

    def _handler(self, regexes: tuple[re.Pattern[str], ...]):  # noqa: ANN202
        seen = self._seen

        def handle(msg: Message) -> None:
            if seen.get(msg.topic) is True:
                return  # the hot path: a configured device's topic
            for regex in regexes:
                match = regex.match(msg.topic)
                if match is not None:
                    self._device(msg, match["device"])
                    return

        return handle

    def _device(self, msg: Message, device: str) -> None:
        if len(self._seen) >= _KNOWN_CACHE_MAX:
            self._seen.clear()
        if device in self._known:
            self._seen[msg.topic] = True
            return
        self.counts[device] += 1
        now = time.monotonic()
        if now - self._logged.get(device, -LOG_UNKNOWN_DEVICE_EVERY_S) < LOG_UNKNOWN_DEVICE_EVERY_S:
            return
        self._logged[device] = now
        hint = closest(device, self._names)
        if hint is not None:
            logger.warning("telemetry from %s: no post has this device id; did you mean %s (%s)? "
                           "(%d message(s) from %s so far)", msg.topic, self._names[hint], hint,
                           self.counts[device], device)
        else:
            logger.warning("telemetry from %s: no post has this device id %r (%d message(s) so "
                           "far); add it to config.yaml or fix the device's topic", msg.topic,
                           device, self.counts[device], )
