"""Home Assistant discovery of a real daemon: payloads checked against HA's documented MQTT schemas."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from edge.speakers.announce import parse_announce
from tests.conftest import REPO
from tests.edge.mqtt_probe import Probe
from tests.ops.rig import Daemon, Publisher, until

# Keys each entity type accepts, from home-assistant.io/integrations/<type>.mqtt/ (2025.10+:
# default_entity_id replaces object_id). value: (type or tuple of types, required).
_COMMON: dict[str, tuple[Any, bool]] = {
    "availability": (list, False), "availability_mode": (str, False),
    "availability_template": (str, False), "availability_topic": (str, False),
    "default_entity_id": (str, False), "device": (dict, False),
    "enabled_by_default": (bool, False), "encoding": (str, False),
    "entity_category": (str, False), "entity_picture": (str, False), "icon": (str, False),
    "json_attributes_template": (str, False), "json_attributes_topic": (str, False),
    "name": ((str, type(None)), False), "object_id": (str, False), "origin": (dict, False),
    "payload_available": (str, False), "payload_not_available": (str, False),
    "platform": (str, False), "qos": (int, False), "unique_id": (str, False)}
SCHEMAS: dict[str, dict[str, tuple[Any, bool]]] = {
    "sensor": {**_COMMON, "device_class": (str, False), "expire_after": (int, False),
               "force_update": (bool, False), "last_reset_value_template": (str, False),
               "options": (list, False), "state_class": (str, False),
               "state_topic": (str, True), "suggested_display_precision": (int, False),
               "unit_of_measurement": (str, False), "value_template": (str, False)},
    "binary_sensor": {**_COMMON, "device_class": (str, False), "expire_after": (int, False),
                      "force_update": (bool, False), "off_delay": (int, False),
                      "payload_off": (str, False), "payload_on": (str, False),
                      "state_topic": (str, True), "value_template": (str, False)},
    "button": {**_COMMON, "command_template": (str, False), "command_topic": (str, True),
               "device_class": (str, False), "payload_press": (str, False),
               "retain": (bool, False)},
    "text": {**_COMMON, "command_template": (str, False), "command_topic": (str, True),
             "max": (int, False), "min": (int, False), "mode": (str, False),
             "pattern": (str, False), "retain": (bool, False), "state_topic": (str, False),
             "value_template": (str, False)},
}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
               "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
               "via_device"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
CHOICES = {"availability_mode": {"all", "any", "latest"},
           "entity_category": {"config", "diagnostic"},
           "state_class": {"measurement", "measurement_angle", "total", "total_increasing"},
           "mode": {"text", "password"}}
BUTTON_CLASSES = {"identify", "restart", "update"}
UNITS = {"current": {"A", "mA"}, "power": {"W", "kW", "mW", "MW", "GW", "TW", "BTU/h"}}
# 1 daemon entity; per post 10 ports x (current, power, reset) + protection + online; per
# speaker now-playing + say.
EXPECTED = 1 + 10 * (10 * 3 + 2) + 4 * 2
JINJA = ImmutableSandboxedEnvironment()


def _errors(topic: str, payload: dict[str, Any], prefix: str) -> list[str]:
    """Everything HA's documented schema would refuse in one discovery payload."""
    match = re.fullmatch(re.escape(prefix) + r"/([a-z_]+)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config",
                         topic)
    if match is None or match[1] not in SCHEMAS:
        return [f"{topic}: not a discovery topic of a known component"]
    component, schema, out = match[1], SCHEMAS[match[1]], []
    for key, value in payload.items():
        if key not in schema:
            out.append(f"{topic}: key {key!r} not allowed for {component}")
        elif not isinstance(value, schema[key][0]) or isinstance(value, bool) != (
                schema[key][0] is bool):
            out.append(f"{topic}: {key} has type {type(value).__name__}")
    out += [f"{topic}: {key} missing" for key, (_, required) in schema.items()
            if required and key not in payload]
    for key, allowed in CHOICES.items():
        if key in payload and payload[key] not in allowed:
            out.append(f"{topic}: {key}={payload[key]!r}")
    if set(payload["device"]) - DEVICE_KEYS or not payload["device"].get("identifiers"):
        out.append(f"{topic}: device keys {sorted(payload['device'])}")
    if set(payload["origin"]) - ORIGIN_KEYS or "name" not in payload["origin"]:
        out.append(f"{topic}: origin keys {sorted(payload['origin'])}")
    for entry in payload.get("availability", []):
        if set(entry) - AVAILABILITY_KEYS or "topic" not in entry:
            out.append(f"{topic}: availability entry {entry}")
    if payload.get("qos", 0) not in (0, 1, 2):
        out.append(f"{topic}: qos")
    if not re.fullmatch(component + r"\.[a-z0-9_]+", payload["default_entity_id"]):
        out.append(f"{topic}: default_entity_id {payload['default_entity_id']}")
    device_class = payload.get("device_class")
    if component == "sensor" and device_class in UNITS:
        if payload.get("unit_of_measurement") not in UNITS[device_class]:
            out.append(f"{topic}: unit {payload.get('unit_of_measurement')} for {device_class}")
        if payload.get("state_class") != "measurement":
            out.append(f"{topic}: state_class for {device_class}")
    if component == "sensor" and device_class == "enum" and (
            not payload.get("options") or "unit_of_measurement" in payload
            or "state_class" in payload):
        out.append(f"{topic}: enum sensor needs options and no unit or state class")
    if component == "button" and device_class is not None and device_class not in BUTTON_CLASSES:
        out.append(f"{topic}: button device_class {device_class}")
    if component == "text" and not 0 <= payload.get("min", 0) <= payload.get("max", 100) <= 255:
        out.append(f"{topic}: text min/max")
    for key in ("value_template", "json_attributes_template", "command_template"):
        if key in payload:
            JINJA.from_string(payload[key])  # parses, or raises here
    return out


def _render(template: str, state: str, **more: Any) -> str:
    return JINJA.from_string(template).render(value=state, value_json=json.loads(state), **more)


def _configs(probe: Probe, prefix: str) -> dict[str, dict[str, Any]]:
    """Discovery configs as HA would hold them now (an empty payload deletes one)."""
    found: dict[str, dict[str, Any]] = {}
    for topic, payload, _ in list(probe.messages):
        if topic.startswith(prefix + "/") and topic.endswith("/config"):
            if payload:
                found[topic] = json.loads(payload)
            else:
                found.pop(topic, None)
    return found


def _by_object(configs: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
    return next(p for t, p in configs.items() if t.split("/")[-2] == object_id)


def test_discovery_payloads_validate_and_resolve(broker, write_config, site_id) -> None:
    """Test that every discovery config fits HA's schema, and its topics and templates work on real state."""
    prefix = f"ha-{site_id}"
    config = write_config(broker, homeassistant={"enabled": True, "discovery_prefix": prefix})
    probe = Probe(broker, f"{prefix}/#")
    daemon = Daemon(config).start()
    publisher = Publisher(broker)
    site_probe = Probe(broker, f"gridedge/{site_id}/#")
    try:
        assert probe.wait_for(lambda _: len(_configs(probe, prefix)) == EXPECTED)
        configs = _configs(probe, prefix)
        problems = [e for topic, payload in configs.items() for e in _errors(topic, payload, prefix)]
        assert problems == []
        unique_ids = [p["unique_id"] for p in configs.values()]
        assert len(set(unique_ids)) == len(unique_ids) == EXPECTED
        topics = daemon.app.topics

        current = _by_object(configs, "p01_port3_current")
        assert current["name"] == "3号口电流"
        assert current["device"]["name"] == "1号充电桩"
        assert current["device"]["via_device"] == f"gridedge_{site_id}"
        assert current["unique_id"] == f"gridedge_{site_id}_p01_port3_current"
        assert current["state_topic"] == topics.post_state("P01")
        assert current["availability"][0]["topic"] == topics.daemon_availability()

        publisher.send(topics.post_telemetry("P01"),
                       {"ts": time.time(), "ports": [{"port": 3, "current_a": 1.5,
                                                      "power_w": 330.0}]})
        state_topic = topics.post_state("P01")
        assert site_probe.wait_for(lambda _: '"current_a": 1.5' in (site_probe.last(state_topic)
                                                                    or ""))
        state = site_probe.last(state_topic)
        assert _render(current["value_template"], state) == "1.5"
        assert _render(_by_object(configs, "p01_port3_power")["value_template"], state) == "330.0"
        assert _render(_by_object(configs, "p01_port4_current")["value_template"], state) == "None"
        for entry in current["availability"][1:]:
            assert _render(entry["value_template"], state) == "online"
        protection = _by_object(configs, "p01_protection")
        assert _render(protection["value_template"], state) == "normal"
        assert json.loads(_render(protection["json_attributes_template"], state)) == {
            "latched_ports": [], "sensor_faults": []}
        assert _render(_by_object(configs, "p01_online")["value_template"], state) == "ON"

        # A trip shows in the protection sensor; the reset button's payload releases the latch.
        publisher.send(topics.post_telemetry("P01"),
                       {"ts": time.time(), "ports": [{"port": 5, "current_a": 15.0}]})
        assert site_probe.wait_for(lambda _: '"latched_ports": [5]' in (
            site_probe.last(state_topic) or ""))
        tripped = _render(protection["value_template"], site_probe.last(state_topic))
        assert tripped in protection["options"]
        assert tripped not in ("normal", "overload")
        reset = _by_object(configs, "p01_port5_reset")
        assert reset["command_topic"] == topics.post_reset("P01")
        publisher.send(reset["command_topic"], reset["payload_press"])
        assert site_probe.wait_for(lambda _: '"ok": true' in (site_probe.last(state_topic) or "")
                                   and '"latched_ports": []' in site_probe.last(state_topic))
        assert json.loads(site_probe.last(state_topic))["last_command"]["by"] == "homeassistant"

        now_playing = _by_object(configs, "east_gate_now_playing")
        speaker_state = topics.speaker_state("east_gate")
        assert now_playing["state_topic"] == speaker_state
        assert site_probe.wait_for(lambda _: site_probe.last(speaker_state) is not None)
        assert _render(now_playing["value_template"], site_probe.last(speaker_state)) == "空闲"
        assert _render(now_playing["availability"][1]["value_template"],
                       site_probe.last(speaker_state)) == "online"
        say = _by_object(configs, "east_gate_say")
        assert say["command_topic"] == topics.announce()
        words = '请车主到3号楼车棚 "马上"'
        payload = JINJA.from_string(say["command_template"]).render(value=words)
        noon = datetime(2026, 12, 1, 12, 0, tzinfo=daemon.app.config.site.tz).timestamp()
        request = parse_announce(daemon.app.config, payload.encode(), noon)
        assert (request.speakers, request.text) == (("east_gate",), words)

        # HA's birth message makes the daemon publish every config again.
        probe.messages.clear()
        publisher.send(f"{prefix}/status", "online")
        assert probe.wait_for(lambda _: len(_configs(probe, prefix)) == EXPECTED)
    finally:
        publisher.close()
        site_probe.close()
        probe.close()
        daemon.stop()


def test_discovery_returns_after_broker_restart_and_drops_removed_posts(
        own_broker, write_config, site_id) -> None:
    """Test that configs are republished after a broker restart and a disabled post's are cleared."""
    prefix = f"ha-{site_id}"
    section = {"enabled": True, "discovery_prefix": prefix}
    daemon = Daemon(write_config(own_broker, homeassistant=section)).start()
    try:
        probe = Probe(own_broker, f"{prefix}/#")
        assert probe.wait_for(lambda _: len(_configs(probe, prefix)) == EXPECTED)
        probe.close()
        own_broker.stop()  # no persistence: every retained config is gone
        own_broker.start()
        until(lambda: daemon.app.mqtt.stats["connects"] >= 2)
        probe = Probe(own_broker, f"{prefix}/#")
        assert probe.wait_for(lambda _: len(_configs(probe, prefix)) == EXPECTED)
        probe.close()
    finally:
        daemon.stop()

    posts = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["posts"]
    posts["devices"]["P10"]["enabled"] = False
    daemon = Daemon(write_config(own_broker, homeassistant=section, posts=posts)).start()
    try:
        probe = Probe(own_broker, f"{prefix}/#")
        p10 = f"{prefix}/sensor/gridedge_{site_id}/p10_port1_current/config"
        assert probe.wait_for(lambda _: any(t == p10 and p == "" for t, p, _ in probe.messages))
        assert probe.wait_for(lambda _: len(_configs(probe, prefix)) == EXPECTED - 32)
        probe.close()
    finally:
        daemon.stop()
