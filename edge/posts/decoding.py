"""A compiled reader of one profile binding: ``edge.profiles.codec.decode`` without the per-message cost.

``codec.decode`` looks every field up with JMESPath and parses JSON with the stdlib: about
30 µs for a one-port canonical message, twice the whole ingest budget. Nearly every path a
profile writes is a plain dotted name (``current_a``, ``temperature.tC``, ``"on"``), so
those are compiled once into key tuples and walked with ``dict.get``; JSON is parsed with
orjson. Anything else (filters, functions) is handed to ``codec.decode`` itself, so the result
is always what the profile says. ``tests/posts/test_decoding.py`` checks both agree on every
golden fixture.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.payload import MAX_PAYLOAD_BYTES, PayloadError
from edge.payload import loads as payload_loads
from edge.profiles.codec import Binding, Decoded, DecodeError, decode
from edge.profiles.model import FieldSpec, MessageFormat, PortsMode
from edge.profiles.transforms import TransformError, apply

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from edge.profiles.model import Profile

__all__ = ["FastDecoder"]

_EPOCH = (("epoch", None),)
_SEGMENT = re.compile(r'^(?:[A-Za-z_][A-Za-z0-9_]*|"[^"\\]*")$')
_MISSING = object()

Getter = Callable[[Any], Any]


def _compile_path(path: str) -> Getter | None:
    """A getter for a dotted path of plain or quoted names, or None when JMESPath is needed."""
    if path == "@":
        return lambda data: data
    parts = path.split(".")
    if not all(_SEGMENT.match(p) for p in parts):
        return None
    keys = tuple(p[1:-1] if p.startswith('"') else p for p in parts)
    if len(keys) == 1:
        (key,) = keys

        def one(data: Any) -> Any:
            return data.get(key) if type(data) is dict else None

        return one

    def many(data: Any) -> Any:
        for key in keys:
            if type(data) is not dict:
                return None
            data = data.get(key)
        return data

    return many


class _Field:
    """One compiled field: its getter and its transforms."""

    __slots__ = ("direct", "direct_epoch", "get", "key", "steps")

    def __init__(self, key: str, spec: FieldSpec, get: Getter) -> None:
        self.key = key
        self.get = get
        self.steps = tuple((s.name, s.arg) for s in spec.transform)
        # A plain top-level name without transforms: read with one dict.get, no calls.
        parts = spec.path.split(".")
        single = len(parts) == 1 and spec.path != "@" and not self.steps
        self.direct = parts[0].strip('"') if single else None
        plain = len(parts) == 1 and spec.path != "@"
        self.direct_epoch = parts[0].strip('"') if plain and self.steps == _EPOCH else None

    def value(self, data: Any, tz: ZoneInfo, problems: list[str]) -> Any:
        value = self.get(data)
        if value is None or not self.steps:
            return value
        if self.steps == _EPOCH and (type(value) is float or type(value) is int):
            return float(value)  # what the epoch transform does, without the registry lookup
        try:
            for name, arg in self.steps:
                value = apply(name, arg, value, tz)
        except TransformError as err:
            problems.append(f"{self.key}: {err}")
            return None
        return value


def _compile_fields(fields: dict[str, FieldSpec]) -> tuple[_Field, ...] | None:
    out = []
    for key, spec in fields.items():
        get = _compile_path(spec.path)
        if get is None:
            return None
        out.append(_Field(key, spec, get))
    return tuple(out)


class FastDecoder:
    """Reads messages of one binding exactly as ``codec.decode`` would, faster.

    Args:
        profile: The device's profile.
        binding: One of ``codec.bind(profile, ...)``'s bindings.
        tz: Site time zone (for timestamps without an offset).
    """

    def __init__(self, profile: Profile, binding: Binding, tz: ZoneInfo) -> None:
        """Compile the binding's paths; keep codec.decode as the fallback."""
        self.profile = profile
        self.binding = binding
        self.tz = tz
        spec = binding.spec
        self.merge = spec.merge
        # A topic without {port} is one exact string: compare it instead of running the regex.
        self._exact = None if binding.pattern.groups else binding.topic_filter
        self._shift = 1 - profile.port_base
        self._fields = _compile_fields(spec.fields)
        self._ts = None if spec.timestamp is None else _compile_fields({"ts": spec.timestamp})
        self._when = None if spec.when is None else _compile_path(spec.when.path)
        ports = spec.ports
        self._ports_get = None if ports is None else _compile_path(ports.path)
        self._port_fields = None if ports is None else _compile_fields(ports.fields)
        self.key_regex = None
        if ports is not None and ports.mode is PortsMode.KEYS:
            self.key_regex = re.compile("^" + re.escape(ports.key_pattern).replace(
                re.escape("{port}"), r"(\d+)") + "$")
        # Port fields that are the canonical keys themselves, read as they are (the canonical
        # profile): a port entry whose keys are all among them is copied in one step.
        self._identity: frozenset[str] | None = None
        if self._port_fields and all(f.direct == f.key for f in self._port_fields) and \
                ports is not None and ports.port_key not in {f.key for f in self._port_fields}:
            self._identity = frozenset({*(f.key for f in self._port_fields), ports.port_key})
        self.fast = (self._fields is not None and (spec.timestamp is None or self._ts is not None)
                     and (spec.when is None or self._when is not None)
                     and (ports is None or (self._ports_get is not None
                                            and self._port_fields is not None)))

    def decode(self, topic: str, payload: bytes) -> Decoded | None:
        """Read one message; None when it is not for this binding.

        Raises:
            DecodeError: The payload cannot be read at all (reason: oversized, not_utf8,
                not_json, bad_availability).
        """
        if not self.fast or self.merge:
            return decode(self.profile, self.binding, topic, payload, self.tz)
        if self._exact is not None:
            if topic != self._exact:
                return None
            return self._decode(None, payload)
        match = self.binding.pattern.match(topic)
        if match is None:
            return None
        return self._decode(match, payload)

    def raw(self, topic: str, payload: bytes) -> tuple[re.Match[str], Any] | None:
        """The parsed payload of a message on this binding (for merging), or None (not ours)."""
        match = self.binding.pattern.match(topic)
        if match is None:
            return None
        return match, self._parse(payload)

    def accepts(self, data: Any) -> bool:
        """Whether parsed data passes the binding's ``when`` (e.g. method = NotifyStatus)."""
        when = self.binding.spec.when
        return self._when is None or when is None or self._when(data) == when.equals

    def from_data(self, match: re.Match[str] | None, data: Any) -> Decoded | None:
        """Decode already parsed data (e.g. a merged status); None when ``when`` rejects it."""
        spec = self.binding.spec
        if self._when is not None and not self.accepts(data):
            return None
        out = Decoded()
        tz, problems = self.tz, out.problems
        if self._ts is not None:
            ts_field = self._ts[0]
            if ts_field.direct_epoch is not None and type(data) is dict:
                raw = data.get(ts_field.direct_epoch)
                out.ts = float(raw) if type(raw) is float or type(raw) is int else (
                    None if raw is None else ts_field.value(data, tz, problems))
            else:
                out.ts = ts_field.value(data, tz, problems)
        if self._fields:
            _fill(out.post, self._fields, data, tz, problems)
        if spec.ports is not None:
            self._ports(match, data, out)
        return out

    def _parse(self, payload: bytes) -> Any:
        spec = self.binding.spec
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise DecodeError("oversized", f"{len(payload)} bytes")
        if spec.availability is not None or spec.format is not MessageFormat.JSON:
            try:
                return payload.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                raise DecodeError("not_utf8", str(err)) from None
        try:
            return payload_loads(payload)
        except PayloadError as err:
            raise DecodeError(err.reason, err.detail) from None

    def _decode(self, match: re.Match[str] | None, payload: bytes) -> Decoded | None:
        data = self._parse(payload)
        availability = self.binding.spec.availability
        if availability is not None:
            if data == availability.online:
                return Decoded(availability=True)
            if data == availability.offline:
                return Decoded(availability=False)
            raise DecodeError("bad_availability", data[:40])
        return self.from_data(match, data)

    def _ports(self, match: re.Match[str] | None, data: Any, out: Decoded) -> None:
        ports = self.binding.spec.ports
        assert ports is not None
        assert self._ports_get is not None
        fields = self._port_fields or ()
        shift = self._shift
        if ports.mode is PortsMode.TOPIC:
            if match is not None:
                self._port_values(int(match["port"]) + shift, fields, data, out)
            return
        collection = self._ports_get(data)
        if ports.mode is PortsMode.LIST:
            if collection is None:
                return
            if type(collection) is not list:
                out.problems.append(f"{ports.path}: not a list")
                return
            key = ports.port_key
            identity = self._identity
            for item in collection:
                number = item.get(key) if type(item) is dict else None
                if type(number) is not int:
                    out.problems.append(f"{ports.path}: an entry without a whole-number '{key}'")
                    continue
                if identity is not None and number + shift >= 1 and item.keys() <= identity:
                    # Every key is canonical: the entry, parsed for this message alone, becomes
                    # the port's values as it is (no copy, no field-by-field walk).
                    values = item
                    del values[key]
                    if None in values.values():
                        for name in [k for k, v in values.items() if v is None]:
                            del values[name]  # a null is "not reported", as _fill leaves it out
                    if number + shift in out.ports:
                        out.ports[number + shift].update(values)
                    else:
                        out.ports[number + shift] = values
                    continue
                self._port_values(number + shift, fields, item, out)
        elif ports.mode is PortsMode.KEYS:
            if type(collection) is not dict or self.key_regex is None:
                return
            for name, item in collection.items():
                found = self.key_regex.match(name)
                if found and type(item) is dict:
                    self._port_values(int(found[1]) + shift, fields, item, out)
        else:  # ARRAY: a number (one port) or a list per field
            if type(collection) is not dict:
                return
            for f in fields:
                raw = f.get(collection)
                values = raw if type(raw) is list else [raw]
                for index, value in enumerate(values):
                    if value is None:
                        continue
                    converted = value
                    if f.steps:
                        try:
                            for name, arg in f.steps:
                                converted = apply(name, arg, converted, self.tz)
                        except TransformError as err:
                            out.problems.append(f"{f.key}: {err}")
                            continue
                    out.ports.setdefault(index + 1, {})[f.key] = converted

    def _port_values(self, port: int, fields: tuple[_Field, ...], data: Any,
                     out: Decoded) -> None:
        if port < 1:
            out.problems.append(f"port {port - 1}: below the first port")
            return
        values = out.ports.setdefault(port, {})
        _fill(values, fields, data, self.tz, out.problems)


def _fill(values: dict[str, Any], fields: tuple[_Field, ...], data: Any, tz: ZoneInfo,
          problems: list[str]) -> None:
    """Read each field of ``data`` into ``values`` (the hot loop: plain names inline)."""
    is_dict = type(data) is dict
    for f in fields:
        direct = f.direct
        if direct is not None:
            value = data.get(direct) if is_dict else None
        else:
            value = f.value(data, tz, problems)
        if value is not None:
            values[f.key] = value
