"""Faults a virtual post can be told to have, written as CLI flags, JSON (MQTT) or Python.

CLI form: ``POST[:PORT]:KIND[:key=value,...]``, for example ``P03:4:overload-ramp``,
``P03:4:step:amps=12``, ``P03:4:pulsing:factor=3,high_s=4,low_s=2``, ``P05:silence``,
``P07:garbage:kinds=nan+not_json``, ``P02:6:stuck-relay``, ``P03:clear``. JSON form (the control
topic ``<root>/<site>/sim/posts/<post>/fault``): ``{"kind": "step", "port": 4, "amps": 12}``.
Kinds accept ``-`` or ``_``. Load faults follow real (wall-clock) seconds even when the charging
curves are time-compressed, so a protection curve sees them as a real post would produce them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from edge.i18n import N_
from edge.sim.errors import FaultSpecError

__all__ = ["Fault", "FaultKind", "GarbageKind", "fault_from_json", "parse_fault"]


class FaultKind(StrEnum):
    """What goes wrong."""

    OVERLOAD_RAMP = "overload_ramp"  # current rising to factor × rated over ramp_s
    STEP = "step"                    # current jumps to amps (the instantaneous level)
    PULSING = "pulsing"              # high_s at factor × rated, low_s at low_factor × rated, ...
    GARBAGE = "garbage"              # sensor garbage instead of (post) or inside (port) telemetry
    SILENCE = "silence"              # stops publishing, stays connected: no LWT
    STUCK_RELAY = "stuck_relay"      # welded relay: cut-off is acknowledged but current flows on
    CLEAR = "clear"                  # back to normal (one port, or the whole post)


class GarbageKind(StrEnum):
    """Kinds of sensor garbage; the first three make the whole payload unreadable."""

    NOT_JSON = "not_json"
    NOT_UTF8 = "not_utf8"
    OVERSIZED = "oversized"
    NAN = "nan"
    STRING = "string"
    NEGATIVE = "negative"
    ABSURD = "absurd"


PAYLOAD_GARBAGE = (GarbageKind.NOT_JSON, GarbageKind.NOT_UTF8, GarbageKind.OVERSIZED)
VALUE_GARBAGE = (GarbageKind.NAN, GarbageKind.STRING, GarbageKind.NEGATIVE, GarbageKind.ABSURD)
LOAD_KINDS = frozenset({FaultKind.OVERLOAD_RAMP, FaultKind.STEP, FaultKind.PULSING})
POST_ONLY_KINDS = frozenset({FaultKind.SILENCE})

_EXAMPLE = "P03:4:overload-ramp"
_ALIASES = {"ramp": "ramp_s", "after": "after_s", "high": "factor", "low": "low_factor",
            "garbage": "kinds"}


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault of one post (``port`` None) or one port (canonical number, from 1).

    Attributes:
        kind: what goes wrong.
        port: the port, or None for the whole post.
        factor: overload_ramp: final current as a multiple of the rated current;
            pulsing: current of the high part.
        ramp_s: overload_ramp: seconds to reach ``factor``.
        amps: step: the current it jumps to, A.
        low_factor: pulsing: current of the low part, multiple of rated.
        high_s: pulsing: seconds high.
        low_s: pulsing: seconds low.
        kinds: garbage: the kinds sent in turn (empty: every kind that fits).
        after_s: start this many seconds after the simulator starts (CLI) or now (MQTT, tests).
    """

    kind: FaultKind
    port: int | None = None
    factor: float = 3.0
    ramp_s: float = 20.0
    amps: float = 12.0
    low_factor: float = 0.5
    high_s: float = 4.0
    low_s: float = 2.0
    kinds: tuple[GarbageKind, ...] = ()
    after_s: float = 0.0

    def load_current_a(self, base_a: float, rated_a: float, since_s: float) -> float:
        """Current a load fault draws ``since_s`` real seconds after it began, A.

        Args:
            base_a: what the charger draws without the fault (a ramp starts there).
            rated_a: the port's rated current.
            since_s: seconds since the fault began.
        """
        if self.kind is FaultKind.STEP:
            return self.amps
        if self.kind is FaultKind.OVERLOAD_RAMP:
            share = 1.0 if self.ramp_s <= 0 else min(1.0, max(0.0, since_s / self.ramp_s))
            return base_a + (self.factor * rated_a - base_a) * share
        if self.kind is FaultKind.PULSING:
            within = since_s % (self.high_s + self.low_s)
            return (self.factor if within < self.high_s else self.low_factor) * rated_a
        return base_a

    def garbage_kinds(self) -> tuple[GarbageKind, ...]:
        """The garbage kinds sent in turn: the chosen ones, else every kind that fits."""
        if self.kinds:
            return self.kinds
        return VALUE_GARBAGE if self.port is not None else PAYLOAD_GARBAGE + VALUE_GARBAGE


def _kind(spec: str, text: str) -> FaultKind:
    try:
        return FaultKind(text.strip().lower().replace("-", "_"))
    except ValueError:
        raise FaultSpecError(N_("fault '{spec}': unknown kind '{kind}'; known: {known}"),
                             spec=spec, kind=text,
                             known=", ".join(k.value.replace("_", "-") for k in FaultKind),
                             ) from None


def _settings(spec: str, items: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(Fault)} - {"kind", "port"}
    out: dict[str, Any] = {}
    for raw_key, value in items.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in known:
            raise FaultSpecError(N_("fault '{spec}': unknown setting '{key}'; known: {known}"),
                                 spec=spec, key=raw_key, known=", ".join(sorted(known)))
        if key == "kinds":
            out[key] = _garbage_kinds(spec, value)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number < 0 \
                or (number == 0 and key not in ("after_s", "ramp_s")):
            raise FaultSpecError(N_("fault '{spec}': {key} must be a positive number "
                                    "(got {value})"), spec=spec, key=raw_key, value=value)
        out[key] = number
    return out


def _garbage_kinds(spec: str, value: Any) -> tuple[GarbageKind, ...]:
    names = value if isinstance(value, list) else str(value).replace("/", "+").split("+")
    kinds = []
    for name in names:
        try:
            kinds.append(GarbageKind(str(name).strip().lower().replace("-", "_")))
        except ValueError:
            raise FaultSpecError(N_("fault '{spec}': unknown garbage '{value}'; known: {known}"),
                                 spec=spec, value=name,
                                 known=", ".join(k.value for k in GarbageKind)) from None
    return tuple(kinds)


def _checked(spec: str, fault: Fault) -> Fault:
    if fault.kind in LOAD_KINDS and fault.port is None:
        raise FaultSpecError(N_("fault '{spec}': {kind} needs a port number, e.g. {example}"),
                             spec=spec, kind=fault.kind.value, example=_EXAMPLE)
    if fault.kind in POST_ONLY_KINDS and fault.port is not None:
        raise FaultSpecError(N_("fault '{spec}': {kind} is about a whole post; leave out "
                                "the port"), spec=spec, kind=fault.kind.value)
    if fault.port is not None and set(fault.kinds) & set(PAYLOAD_GARBAGE):
        raise FaultSpecError(N_("fault '{spec}': garbage of one port can only be {known}"),
                             spec=spec, known=", ".join(k.value for k in VALUE_GARBAGE))
    if fault.port is not None and fault.port < 1:
        raise FaultSpecError(N_("fault '{spec}': ports are numbered from 1"), spec=spec)
    return fault


def parse_fault(spec: str) -> tuple[str, Fault]:
    """``POST[:PORT]:KIND[:key=value,...]`` → (post id, fault); FaultSpecError if wrong."""
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) < 2 or not parts[0]:  # noqa: PLR2004 - POST and KIND at least
        raise FaultSpecError(N_("fault '{spec}': write POST:PORT:KIND[:key=value,...], "
                                "e.g. {example}"), spec=spec, example=_EXAMPLE)
    post, rest = parts[0], parts[1:]
    port: int | None = None
    if rest[0].isdigit():
        port = int(rest[0])
        rest = rest[1:]
    elif rest[0] in ("*", ""):
        rest = rest[1:]
    if not rest or len(rest) > 2:  # noqa: PLR2004 - KIND and settings
        raise FaultSpecError(N_("fault '{spec}': write POST:PORT:KIND[:key=value,...], "
                                "e.g. {example}"), spec=spec, example=_EXAMPLE)
    kind = _kind(spec, rest[0])
    items: dict[str, Any] = {}
    if len(rest) == 2 and rest[1]:  # noqa: PLR2004
        for item in rest[1].split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise FaultSpecError(N_("fault '{spec}': settings are key=value, e.g. "
                                        "factor=4,ramp_s=30"), spec=spec)
            items[key.strip()] = value.strip()
    return post, _checked(spec, Fault(kind, port, **_settings(spec, items)))


def fault_from_json(data: Any, shown_as: str = "") -> Fault:
    """A fault from the JSON of the control topic; FaultSpecError says what is wrong."""
    spec = shown_as or str(data)[:80]
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise FaultSpecError(N_("fault '{spec}': send a JSON object with \"kind\", e.g. "
                                "{{\"kind\": \"step\", \"port\": 4, \"amps\": 12}}"), spec=spec)
    port = data.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise FaultSpecError(N_("fault '{spec}': ports are numbered from 1"), spec=spec)
    items = {k: v for k, v in data.items() if k not in ("kind", "port")}
    return _checked(spec, Fault(_kind(spec, data["kind"]), port, **_settings(spec, items)))
