"""Applying a profile: which topics to subscribe for a device, and payload → canonical values.

Pure functions, no MQTT: the post monitor and speaker fleet feed them received messages. A value
a transform rejects is left out and reported (never read as zero); a missing value is left out,
so partial updates stay partial.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jmespath

from edge.payload import MAX_PAYLOAD_BYTES, PayloadError
from edge.payload import loads as payload_loads
from edge.profiles.model import FieldSpec, MessageFormat, MessageSpec, PortsMode, Profile
from edge.profiles.transforms import TransformError, apply

__all__ = ["MAX_PAYLOAD_BYTES", "Binding", "DecodeError", "Decoded", "bind", "decode",
           "render_command"]


class DecodeError(ValueError):
    """A payload that cannot be read at all (not UTF-8, not JSON, too large)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Decoded:
    """What one message says, in canonical keys; ports are numbered from 1."""

    availability: bool | None = None
    ts: float | None = None
    post: dict[str, Any] = field(default_factory=dict)
    ports: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "key: why" for each value left out


@dataclass(frozen=True)
class Binding:
    """One inbound topic of one device: the MQTT filter and how to read messages on it."""

    topic_filter: str
    spec: MessageSpec
    pattern: re.Pattern[str]


@lru_cache(maxsize=1024)
def _expr(path: str) -> Any:
    return jmespath.compile(path)


def bind(profile: Profile, device_topic: str, *, root: str, site: str) -> list[Binding]:
    """The topics a device of this profile publishes on, with ``{port}`` as a wildcard."""
    out = []
    for spec in profile.messages:
        concrete = spec.topic.replace("{port}", "\0")
        concrete = concrete.format(device=device_topic, root=root, site=site)
        # MQTT wildcards fill whole levels: "POWER{port}" subscribes "+" and the regex below
        # keeps only the matching topics.
        topic_filter = "/".join("+" if "\0" in level else level for level in concrete.split("/"))
        regex = re.escape(concrete).replace("\0", r"(?P<port>\d+)")
        out.append(Binding(topic_filter, spec, re.compile(f"^{regex}$")))
    return out


def decode(profile: Profile, binding: Binding, topic: str, payload: bytes, tz: ZoneInfo,
           ) -> Decoded | None:
    """Read one message; None when the message is not for this binding (topic or ``when``)."""
    match = binding.pattern.match(topic)
    if match is None:
        return None
    spec = binding.spec
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError("oversized", f"{len(payload)} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DecodeError("not_utf8", str(err)) from None
    if spec.availability is not None:
        value = text.strip()
        if value == spec.availability.online:
            return Decoded(availability=True)
        if value == spec.availability.offline:
            return Decoded(availability=False)
        raise DecodeError("bad_availability", value[:40])
    if spec.format is MessageFormat.JSON:
        try:
            data: Any = payload_loads(payload)
        except PayloadError as err:
            raise DecodeError(err.reason, err.detail) from None
    else:
        data = text.strip()
    if spec.when is not None and _expr(spec.when.path).search(data) != spec.when.equals:
        return None
    out = Decoded()
    if spec.timestamp is not None:
        out.ts = _field("ts", spec.timestamp, data, tz, out.problems)
    for key, field_spec in spec.fields.items():
        value = _field(key, field_spec, data, tz, out.problems)
        if value is not None:
            out.post[key] = value
    if spec.ports is not None:
        _ports(profile, spec, data, match, tz, out)
    return out


def _field(key: str, spec: FieldSpec, data: Any, tz: ZoneInfo, problems: list[str]) -> Any:
    try:
        value = _expr(spec.path).search(data) if spec.path != "@" else data
    except (TypeError, ValueError) as err:  # jmespath on an unexpected shape
        problems.append(f"{key}: {err}")
        return None
    if value is None:
        return None
    try:
        for step in spec.transform:
            value = apply(step.name, step.arg, value, tz)
    except TransformError as err:
        problems.append(f"{key}: {err}")
        return None
    return value


def _ports(profile: Profile, spec: MessageSpec, data: Any, match: re.Match[str], tz: ZoneInfo,
           out: Decoded) -> None:
    ports = spec.ports
    assert ports is not None  # noqa: S101 - checked by the caller
    shift = 1 - profile.port_base  # device numbering → canonical numbering from 1
    collection = data if ports.path == "@" else _expr(ports.path).search(data)
    if ports.mode is PortsMode.TOPIC:
        _port_values(int(match["port"]) + shift, ports.fields, data, tz, out)
    elif ports.mode is PortsMode.LIST:
        if collection is None:
            return
        if not isinstance(collection, list):
            out.problems.append(f"{ports.path}: not a list")
            return
        for item in collection:
            number = item.get(ports.port_key) if isinstance(item, dict) else None
            if isinstance(number, bool) or not isinstance(number, int):
                out.problems.append(f"{ports.path}: an entry without a whole-number "
                                    f"'{ports.port_key}'")
                continue
            _port_values(number + shift, ports.fields, item, tz, out)
    elif ports.mode is PortsMode.KEYS:
        if not isinstance(collection, dict):
            return
        key_regex = re.compile("^" + re.escape(ports.key_pattern).replace(
            re.escape("{port}"), r"(\d+)") + "$")
        for key, item in collection.items():
            found = key_regex.match(key)
            if found and isinstance(item, dict):
                _port_values(int(found[1]) + shift, ports.fields, item, tz, out)
    else:  # ARRAY: each field is a number (one port) or a list (index 0 = first port)
        if not isinstance(collection, dict):
            return
        for key, field_spec in ports.fields.items():
            raw = _expr(field_spec.path).search(collection)
            values = raw if isinstance(raw, list) else [raw]
            for index, value in enumerate(values):
                if value is None:
                    continue
                one = FieldSpec(path="@", transform=field_spec.transform)
                converted = _field(key, one, value, tz, out.problems)
                if converted is not None:
                    out.ports.setdefault(index + 1, {})[key] = converted


def _port_values(port: int, fields: dict[str, FieldSpec], data: Any, tz: ZoneInfo,
                 out: Decoded) -> None:
    if port < 1:
        out.problems.append(f"port {port - 1}: below the first port")
        return
    values = out.ports.setdefault(port, {})
    for key, spec in fields.items():
        value = _field(key, spec, data, tz, out.problems)
        if value is not None:
            values[key] = value


def render_command(profile: Profile, name: str, values: dict[str, Any], *, root: str, site: str,
                   ) -> tuple[str, bytes, int]:
    """(topic, payload, qos) of command ``name``; ``port`` in values is canonical (from 1)."""
    command = profile.commands[name]
    filled = dict(values, root=root, site=site)
    if "port" in filled:
        filled["port"] = int(filled["port"]) - 1 + profile.port_base
    topic = command.topic.format(**filled)
    if command.payload is not None:
        return topic, command.payload.format(**filled).encode(), command.qos
    return topic, json.dumps(_fill(command.payload_json, filled), ensure_ascii=False).encode(), \
        command.qos


_WHOLE = re.compile(r"^\{(\w+)\}$")


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        # A value that is exactly one placeholder keeps its type (port stays a number).
        return values[whole[1]] if whole else template.format(**values)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template
