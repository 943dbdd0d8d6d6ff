"""The bridge's MQTT payloads: readings to canonical telemetry, port commands from JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.bridge.const import (
    MAX_COMMAND_BYTES,
    PORT_TELEMETRY_KEYS,
    POST_TELEMETRY_KEYS,
    VALUE_DECIMALS,
)
from firmware_bridge import DeviceReading

__all__ = ["CommandError", "PortCommand", "parse_command", "telemetry_payload"]

_MAX_ID_CHARS = 128


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"non-finite value {value}"
            raise ValueError(msg)
        return round(value, VALUE_DECIMALS)
    return value


def telemetry_payload(reading: DeviceReading) -> bytes | None:
    """Return the canonical telemetry JSON of a reading, or None when it holds no value.

    Only canonical keys are sent (see `POST_TELEMETRY_KEYS`); the library has already dropped
    implausible values and marked their ports ``fault: sensor_invalid``.

    Raises:
        ValueError: a value is not finite (the library never returns one; checked again because
            a corrupt value must never be published).
    """
    data = reading.to_telemetry()
    out: dict[str, Any] = {"ts": round(float(data["ts"]), 3)}
    for key in POST_TELEMETRY_KEYS:
        if key in data:
            out[key] = _clean(data[key])
    ports = [
        {"port": entry["port"]} | {k: _clean(entry[k]) for k in PORT_TELEMETRY_KEYS if k in entry}
        for entry in data.get("ports", ())
    ]
    if ports:
        out["ports"] = ports
    if len(out) == 1:
        return None
    return json.dumps(out, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode()


class CommandError(ValueError):
    """A command payload that cannot be executed; the message says why."""


class _CommandModel(BaseModel):
    # The daemon may add fields later; unknown ones are ignored, known ones are checked.
    model_config = ConfigDict(extra="ignore", frozen=True)

    # The daemon renders the id from the profile's template, which keeps a number a number.
    id: str | int = Field(default="", description="request id, echoed in logs")
    action: Literal["port_off", "port_on"] = Field(description="what to do")
    port: int = Field(ge=1, le=64, description="port number, from 1")
    reason: str = Field(default="", max_length=256, description="why, for the log")


@dataclass(frozen=True, slots=True)
class PortCommand:
    """One port command for a post."""

    request_id: str
    post: str
    port: int
    on: bool
    reason: str


def parse_command(post: str, payload: bytes) -> PortCommand:
    """Parse ``{"id","action":"port_off"/"port_on","port","reason"}`` for `post`.

    Raises:
        CommandError: not JSON, not an object, or a field missing or wrong.
    """
    if len(payload) > MAX_COMMAND_BYTES:
        msg = f"command of {len(payload)} bytes is too long"
        raise CommandError(msg)
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"not JSON ({err})"
        raise CommandError(msg) from None
    if not isinstance(obj, dict):
        msg = "not a JSON object"
        raise CommandError(msg)
    if isinstance(obj.get("port"), bool):
        msg = "port: must be a number"
        raise CommandError(msg)
    try:
        model = _CommandModel.model_validate(obj)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{where}: {first['msg']}"
        raise CommandError(msg) from None
    request_id = str(model.id)[:_MAX_ID_CHARS]
    return PortCommand(request_id, post, model.port, model.action == "port_on", model.reason)
