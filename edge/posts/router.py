"""Telemetry of every post through one wildcard subscription per profile topic, routed by device id.

For each post profile in use, each telemetry topic is subscribed once with the device id as a
wildcard (``tele/+/SENSOR``), not once per post: the broker then delivers each message once
(overlapping subscriptions would deliver it twice), 1,000 posts cost a handful of subscriptions,
and a device id nobody configured is seen instead of ignored. Such telemetry is counted per id
and logged at most once an hour per id, with the configured device id it most resembles (a typo
in config.yaml or on the device). Availability topics stay exact per post: a speaker of the same
vendor may share their pattern.
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
    from edge.posts.decoding import FastDecoder
    from edge.posts.monitor import PostMonitor

__all__ = ["Router"]

logger = logging.getLogger(__name__)

_CACHE_MAX = 65_536
Targets = tuple[tuple["PostMonitor", "FastDecoder"], ...]


class Router:
    """Routes telemetry to the post whose device id is in the topic; counts the rest.

    Args:
        app: The daemon (config for the known ids, MQTT to subscribe).
    """

    def __init__(self, app: App) -> None:
        """Nothing subscribed until ``subscribe()``."""
        self.app = app
        self.counts: Counter[str] = Counter()  # messages from unknown device ids, per id
        self._logged: dict[str, float] = {}
        self._known: set[str] = set()
        self._names: dict[str, str] = {}  # device id on the wire → post id
        self._by_device: dict[str, PostMonitor] = {}
        self._cache: dict[str, Targets | str] = {}  # topic → targets, or the unknown device id

    def subscribe(self, monitors: dict[str, PostMonitor]) -> None:
        """Subscribe each post profile's telemetry topics (device id as a wildcard); availability per post."""
        config = self.app.config
        for post_id, cfg in config.posts.devices.items():
            device = cfg.topic_id or post_id
            self._known |= {device, post_id}
            self._names[device] = post_id
        for speaker_id, scfg in config.speakers.devices.items():
            self._known |= {scfg.topic_id or speaker_id, speaker_id}
        for monitor in monitors.values():
            self._by_device[monitor.config.topic_id or monitor.post_id] = monitor
        topics = self.app.topics
        patterns: dict[str, list[re.Pattern[str]]] = {}
        for monitor in monitors.values():
            for decoder in monitor.decoders:
                if decoder.binding.spec.availability is not None:
                    self.app.mqtt.subscribe(_whole_levels(decoder.binding.topic_filter),
                                            _direct(monitor, decoder))
        for profile in {m.profile.id: m.profile for m in monitors.values()}.values():
            for spec in profile.messages:
                if spec.availability is not None:
                    continue
                level = spec.topic.replace("{port}", "\0").replace("{device}", "\1")
                level = level.format(root=topics.root, site=topics.site)
                topic_filter = "/".join("+" if ("\0" in part or "\1" in part) else part
                                        for part in level.split("/"))
                regex = re.escape(level).replace("\0", r"\d+").replace("\1", "(?P<device>[^/]+)")
                found = patterns.setdefault(topic_filter, [])
                if all(r.pattern != f"^{regex}$" for r in found):
                    found.append(re.compile(f"^{regex}$"))
        for topic_filter, regexes in patterns.items():
            self.app.mqtt.subscribe(topic_filter, self._handler(tuple(regexes)))

    def _handler(self, regexes: tuple[re.Pattern[str], ...]):  # noqa: ANN202
        cache = self._cache

        def handle(msg: Message) -> None:
            targets = cache.get(msg.topic)
            if targets is None:
                targets = self._resolve(msg.topic, regexes)
            if type(targets) is str:
                self._unknown(msg, targets)
                return
            for monitor, decoder in targets:  # type: ignore[union-attr]
                monitor.on_message(decoder, msg)
                monitor.state_dirty = True

        return handle

    def _resolve(self, topic: str, regexes: tuple[re.Pattern[str], ...]) -> Targets | str:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        found: Targets | str = ()
        for regex in regexes:
            match = regex.match(topic)
            if match is None:
                continue
            device = match["device"]
            monitor = self._by_device.get(device)
            if monitor is None:
                # A disabled post or a speaker is known, just not watched here.
                found = () if device in self._known else device
                break
            found = tuple((monitor, d) for d in monitor.decoders
                          if d.binding.spec.availability is None and d.binding.pattern.match(topic))
            break
        self._cache[topic] = found
        return found

    def _unknown(self, msg: Message, device: str) -> None:
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
            logger.warning("telemetry from %s: no post has the device id %r (%d message(s) so "
                           "far); add it to config.yaml or correct the device's topic", msg.topic,
                           device, self.counts[device])


def _whole_levels(topic_filter: str) -> str:
    """``POWER+`` and ``switch:+`` are not valid MQTT filters: widen such a level to ``+``."""
    return "/".join("+" if "+" in level else level for level in topic_filter.split("/"))


def _direct(monitor: PostMonitor, decoder: FastDecoder):  # noqa: ANN202
    on_message = monitor.on_message

    def handle(msg: Message) -> None:
        on_message(decoder, msg)
        monitor.state_dirty = True

    return handle
