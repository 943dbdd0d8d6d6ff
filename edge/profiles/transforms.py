"""The closed registry of named transforms a device profile may apply to a raw value.

YAML names a transform and gives at most one argument (``scale: 0.001``, ``lookup: {ON: true}``);
it never holds an expression. A transform's Python name is its YAML spelling. Record-level
derivations (``derive:``), which compute one canonical field from others, live here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DERIVATIONS", "TRANSFORMS", "Transform", "TransformError", "apply"]


class TransformError(ValueError):
    """A raw value that a transform cannot turn into a canonical value."""


@dataclass(frozen=True)
class Transform:
    """One named transform: its function, and the type of its YAML argument (None: no argument)."""

    func: Callable[..., Any]
    arg: type | tuple[type, ...] | None
    doc: str


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransformError(f"not a number: {value!r}")
    return float(value)


def scale(value: Any, factor: float) -> float:
    """Multiply by a factor (e.g. Wh → kWh with 0.001)."""
    return _number(value) * factor


def offset(value: Any, amount: float) -> float:
    """Add a constant."""
    return _number(value) + amount


def lookup(value: Any, table: dict[str, Any]) -> Any:
    """Map a device's spelling to ours (e.g. ``ON`` → true); an unknown spelling is an error."""
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if key in table:
        return table[key]
    raise TransformError(f"{value!r} is not one of {sorted(table)}")


def first_error(value: Any) -> str | None:
    """A device's list of active errors → the first one, or None when the list is empty/absent."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TransformError(f"not a list of error names: {value!r}")
    return value[0] if value else None


def epoch(value: Any) -> float:
    """Seconds since 1970 (UTC), as a number."""
    return _number(value)


def iso_time(value: Any, tz: ZoneInfo) -> float:
    """ISO 8601 text → epoch seconds; without an offset it is taken as site time (Tasmota)."""
    if not isinstance(value, str):
        raise TransformError(f"not a time: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise TransformError(str(err)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def lower(value: Any) -> str:
    """Text in lower case."""
    if not isinstance(value, str):
        raise TransformError(f"not text: {value!r}")
    return value.lower()


TRANSFORMS: dict[str, Transform] = {
    "scale": Transform(scale, (int, float), "multiply by the argument"),
    "offset": Transform(offset, (int, float), "add the argument"),
    "lookup": Transform(lookup, dict, "map device spellings to canonical values"),
    "first_error": Transform(first_error, None, "first entry of an error list, or none"),
    "epoch": Transform(epoch, None, "epoch seconds"),
    "iso_time": Transform(iso_time, None, "ISO 8601 time, site time zone when it has no offset"),
    "lower": Transform(lower, None, "lower-case text"),
}


def apply(name: str, arg: Any, value: Any, tz: ZoneInfo) -> Any:
    """Run transform ``name`` on ``value``; raises TransformError for a value it cannot take."""
    transform = TRANSFORMS[name]
    if name == "iso_time":
        return iso_time(value, tz)
    if transform.arg is None:
        return transform.func(value)
    return transform.func(value, arg)


def derive_current_from_power(record: dict[str, Any], voltage_v: float | None) -> bool:
    """Fill ``current_a`` = P / U where a device reports power but no current; True if it did.

    Chargers are close to unity power factor once charging, so P/U slightly underestimates the
    current; the state says the value is derived so staff know it is not measured.
    """
    if record.get("current_a") is not None or record.get("power_w") is None:
        return False
    if voltage_v is None or not math.isfinite(voltage_v) or voltage_v <= 0:
        return False
    record["current_a"] = float(record["power_w"]) / voltage_v
    return True


DERIVATIONS: dict[str, Callable[[dict[str, Any], float | None], bool]] = {
    "derive_current_from_power": derive_current_from_power,
}
