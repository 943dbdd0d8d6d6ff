"""Home Assistant MQTT discovery payloads for the site: pure functions, no I/O.

Topic: ``<prefix>/<component>/gridedge_<site>/<object_id>/config``, retained. Devices:

- the daemon (``gridedge_<site>``): a "running" binary sensor read from its LWT topic;
- per post: current and power sensors per port and a reset button per port (the daemon's
  reset topic, ``{"port": n, "by": "homeassistant"}``), a protection-state sensor (the most
  urgent port state) and an online binary sensor, all read from the retained
  ``posts/<post>/state`` document with templates;
- per speaker: availability and a now-playing sensor from the retained
  ``speakers/<spk>/state`` document the discovery component publishes, and a "say" text entity
  that sends the ``announce`` payload for that speaker.

Every entity is unavailable while the daemon is offline (its LWT); post and speaker readings
also while their device is offline. Names are Chinese for staff; object ids, unique ids and
entity ids are English and stable per site, device and entity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.ops.const import HA_BY, HA_TEXT_MAX, PORT_STATE_ORDER

if TYPE_CHECKING:
    from edge.config import GridedgeConfig
    from edge.mqtt import Topics

__all__ = ["DiscoveryMessage", "PostInfo", "SpeakerInfo", "discovery_messages",
           "speaker_state_payload"]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

# A device offline according to the daemon's view makes its readings unavailable; "unknown"
# (null, nothing heard since the start) keeps the last retained values visible.
_OFFLINE_TEMPLATE = "{{ 'offline' if value_json.online == false else 'online' }}"
_ONLINE_STATE = ("{{ 'ON' if value_json.online == true else "
                 "('OFF' if value_json.online == false else 'None') }}")
_PROTECTION = ("{% set s = value_json.ports.values() | map(attribute='state') | list %}"
               "{{ ((" + json.dumps(list(PORT_STATE_ORDER[:-1])) + " | select('in', s) | list)"
               " + ['" + PORT_STATE_ORDER[-1] + "']) | first }}")
_PROTECTION_ATTRS = ("{{ {'latched_ports': value_json.latched_ports, "
                     "'sensor_faults': value_json.sensor_faults} | tojson }}")


@dataclass(frozen=True)
class PostInfo:
    """What discovery needs of one watched post."""

    post: str
    name: str
    location: str
    vendor: str
    model: str
    ports: tuple[int, ...]


@dataclass(frozen=True)
class SpeakerInfo:
    """What discovery needs of one speaker."""

    speaker: str
    name: str
    location: str
    vendor: str
    model: str


@dataclass(frozen=True)
class DiscoveryMessage:
    """One retained discovery config."""

    component: str   # sensor, binary_sensor, button, text
    object_id: str
    topic: str
    payload: dict[str, Any]

    def encoded(self) -> bytes:
        """The payload as published (UTF-8 JSON, Chinese unescaped)."""
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=True).encode()


def safe_id(text: str) -> str:
    """An id HA accepts in a discovery topic level: ``[a-zA-Z0-9_-]``."""
    return _UNSAFE.sub("_", text)


class _Builder:
    def __init__(self, config: GridedgeConfig, topics: Topics, prefix: str, version: str) -> None:
        self.topics = topics
        self.prefix = prefix
        self.site = safe_id(config.site.id)
        self.node_id = f"gridedge_{self.site}"
        self.daemon_device = {"identifiers": [self.node_id],
                              "name": f"{config.site.name} 广播与充电桩网关",
                              "manufacturer": "gridedge", "model": "gridedge 边缘主机",
                              "sw_version": version}
        self.origin = {"name": "gridedge", "sw_version": version}
        self.messages: list[DiscoveryMessage] = []

    def add(self, component: str, object_id: str, device: dict[str, Any],
            **fields: Any) -> None:
        object_id = safe_id(object_id)
        unique = f"{self.node_id}_{object_id}"
        payload = {"unique_id": unique, "default_entity_id": f"{component}.{unique.lower()}"
                   .replace("-", "_"), "device": device, "origin": self.origin, "qos": 1,
                   **fields}
        self.messages.append(DiscoveryMessage(
            component, object_id,
            self.topics.homeassistant_config(self.prefix, component, self.node_id, object_id),
            payload))

    def daemon_only(self) -> dict[str, Any]:
        return {"availability": [{"topic": self.topics.daemon_availability()}]}

    def with_device(self, topic: str) -> dict[str, Any]:
        return {"availability": [{"topic": self.topics.daemon_availability()},
                                 {"topic": topic, "value_template": _OFFLINE_TEMPLATE}],
                "availability_mode": "all"}

    def device(self, kind: str, ident: str, name: str, vendor: str, model: str,
               location: str) -> dict[str, Any]:
        device: dict[str, Any] = {"identifiers": [f"{self.node_id}_{kind}_{safe_id(ident)}"],
                                  "name": name or ident, "manufacturer": vendor, "model": model,
                                  "via_device": self.node_id}
        if location:
            device["suggested_area"] = location
        return device


def discovery_messages(config: GridedgeConfig, topics: Topics, posts: list[PostInfo],
                       speakers: list[SpeakerInfo], *, prefix: str, version: str,
                       ) -> list[DiscoveryMessage]:
    """Every discovery config of the site, in a stable order."""
    build = _Builder(config, topics, prefix, version)
    build.add("binary_sensor", "daemon_running", build.daemon_device, name="运行状态",
              state_topic=topics.daemon_availability(), payload_on="online",
              payload_off="offline", device_class="running", entity_category="diagnostic")
    for post in posts:
        _post(build, post)
    for speaker in speakers:
        _speaker(build, speaker)
    return build.messages


def _post(build: _Builder, post: PostInfo) -> None:
    topics = build.topics
    state = topics.post_state(post.post)
    device = build.device("post", post.post, post.name, post.vendor, post.model, post.location)
    readings = build.with_device(state)
    base = safe_id(post.post).lower()
    for port in post.ports:
        for key, label, device_class, unit in (("current_a", "电流", "current", "A"),
                                               ("power_w", "功率", "power", "W")):
            build.add("sensor", f"{base}_port{port}_{device_class}", device,
                      name=f"{port}号口{label}", state_topic=state,
                      value_template=f"{{{{ value_json.ports['{port}'].{key} | default(none) }}}}",
                      device_class=device_class, unit_of_measurement=unit,
                      state_class="measurement", suggested_display_precision=2 if unit == "A"
                      else 0, **readings)
        press = {"port": port, "by": HA_BY, "id": f"ha-reset-{safe_id(post.post)}-{port}"}
        build.add("button", f"{base}_port{port}_reset", device, name=f"{port}号口复位",
                  command_topic=topics.post_reset(post.post),
                  payload_press=json.dumps(press, ensure_ascii=False), retain=False,
                  icon="mdi:restart", **build.daemon_only())
    build.add("sensor", f"{base}_protection", device, name="保护状态", state_topic=state,
              value_template=_PROTECTION, device_class="enum", options=list(PORT_STATE_ORDER),
              json_attributes_topic=state, json_attributes_template=_PROTECTION_ATTRS,
              icon="mdi:shield-alert", **build.daemon_only())
    build.add("binary_sensor", f"{base}_online", device, name="在线", state_topic=state,
              value_template=_ONLINE_STATE, device_class="connectivity",
              entity_category="diagnostic", **build.daemon_only())


def _speaker(build: _Builder, speaker: SpeakerInfo) -> None:
    topics = build.topics
    state = topics.speaker_state(speaker.speaker)
    device = build.device("speaker", speaker.speaker, speaker.name, speaker.vendor,
                          speaker.model, speaker.location)
    live = build.with_device(state)
    base = safe_id(speaker.speaker).lower()
    build.add("sensor", f"{base}_now_playing", device, name="正在播放", state_topic=state,
              value_template="{{ value_json.playing if value_json.playing else '空闲' }}",
              json_attributes_topic=state,
              json_attributes_template="{{ {'queued': value_json.queued, 'key': value_json.key}"
                                       " | tojson }}",
              icon="mdi:bullhorn", **live)
    # The announce payload of edge/speakers/announce.py, for this one speaker.
    template = ('{"text": {{ value | tojson }}, "speakers": '
                + json.dumps([speaker.speaker]) + "}")
    build.add("text", f"{base}_say", device, name="播报", command_topic=topics.announce(),
              command_template=template, min=1, max=HA_TEXT_MAX, mode="text", retain=False,
              icon="mdi:account-voice", **live)


def speaker_state_payload(online: bool | None, playing: str, key: str, queued: int) -> bytes:
    """The retained ``speakers/<spk>/state`` document the now-playing sensor reads."""
    return json.dumps({"online": online, "playing": playing, "key": key, "queued": queued},
                      ensure_ascii=False).encode()
