"""Plausibility of decoded telemetry: every value is a finite number in range, or it is rejected.

A rejected value is left out of the reading (the last valid one keeps standing for a while in
the protection core); it is never read as 0 A. Rejections are counted per post and reason, and
logged at most once a minute per post.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from typing import Any

from edge.posts.const import (
    LOG_REJECTIONS_EVERY_S,
    MAX_CURRENT_A,
    MAX_ENERGY_KWH,
    MAX_POWER_W,
    MAX_TEMP_C,
    MAX_TEXT,
    MAX_VOLTAGE_V,
    MIN_TEMP_C,
)

__all__ = ["Reading", "Rejections", "check_port", "check_port_in_place", "check_post",
           "ranges_with"]

logger = logging.getLogger(__name__)

# canonical key → (low, high) of a plausible value
_RANGES: dict[str, tuple[float, float]] = {
    "current_a": (0.0, MAX_CURRENT_A),
    "power_w": (0.0, MAX_POWER_W),
    "voltage_v": (0.0, MAX_VOLTAGE_V),
    "energy_kwh": (0.0, MAX_ENERGY_KWH),
    "temp_c": (MIN_TEMP_C, MAX_TEMP_C),
}
_TEXT = ("status", "fault")

Reading = dict[str, Any]
"""Canonical port or post values that passed the checks (missing keys were not reported)."""


def ranges_with(max_current_a: float) -> dict[str, tuple[float, float]]:
    """The plausible ranges with a profile's own current ceiling (its meter's range)."""
    return dict(_RANGES, current_a=(0.0, max_current_a))


def _number(value: Any, low: float, high: float) -> tuple[float | None, str | None]:
    """(value, None) when plausible, else (None, reason)."""
    kind = type(value)
    if kind is not float and kind is not int:  # bool is neither: True is not 1 A
        return None, "wrong_type"
    if low <= value <= high:
        return float(value), None
    if kind is float and not math.isfinite(value):
        return None, "not_finite"
    if value < 0 <= low:
        return None, "negative"
    return None, "absurd"


def check_port(values: dict[str, Any], bad: list[tuple[str, str, Any]],
               ranges: dict[str, tuple[float, float]] = _RANGES) -> Reading:
    """The plausible values of one port; each rejected one is appended to ``bad`` as (key, reason, value)."""
    out: Reading = {}
    for key, value in values.items():
        limits = ranges.get(key)
        if limits is not None:
            kind = type(value)
            # The common case inline: a number in range (NaN fails the comparison).
            if (kind is float or kind is int) and limits[0] <= value <= limits[1]:
                out[key] = float(value)
                continue
            number, reason = _number(value, *limits)
            if reason is None:
                out[key] = number
            else:
                bad.append((key, reason, value))
        elif key == "on":
            if type(value) is bool:
                out[key] = value
            else:
                bad.append((key, "wrong_type", value))
        elif key in _TEXT:
            if value is None or (type(value) is str and len(value) <= MAX_TEXT):
                out[key] = value
            else:
                bad.append((key, "wrong_type", value))
    return out


def check_port_in_place(values: dict[str, Any], bad: list[tuple[str, str, Any]],
                        ranges: dict[str, tuple[float, float]] = _RANGES) -> dict[str, Any]:
    """``check_port`` without a copy: the values are checked in ``values`` itself and returned.

    The hot path of a 10-port message: when every value is plausible (nearly always) nothing
    is allocated. Rejected and unknown keys are removed from ``values``.
    """
    drop = None
    for key, value in values.items():
        # The type first: each common case (a float in range, the on/off flag, a short text)
        # costs one type test and at most one lookup.
        kind = type(value)
        if kind is float:
            limits = ranges.get(key)
            if limits is not None and limits[0] <= value <= limits[1]:
                continue
        elif kind is bool:
            if key == "on":
                continue
        elif kind is str:
            if len(value) <= MAX_TEXT and key in _TEXT:
                continue
        elif value is None and key in _TEXT:
            continue
        limits = ranges.get(key)
        if limits is not None:
            if kind is int and limits[0] <= value <= limits[1]:
                values[key] = float(value)
                continue
            number, reason = _number(value, *limits)
            if reason is None:
                values[key] = number
                continue
            bad.append((key, reason, value))
        elif key == "on" or key in _TEXT:
            bad.append((key, "wrong_type", value))
        drop = [key] if drop is None else [*drop, key]
    if drop is not None:
        for key in drop:
            del values[key]
    return values


def check_post(values: dict[str, Any], bad: list[tuple[str, str, Any]]) -> Reading:
    """The plausible post-level values (voltage, enclosure temperature, a fault)."""
    out = check_port(values, bad)
    out.pop("current_a", None)  # a post total is not a port reading
    out.pop("power_w", None)
    return out


class Rejections:
    """Rejected messages and values of one post, by reason; logged at most once a minute."""

    def __init__(self, post: str) -> None:
        """Start with nothing counted."""
        self.post = post
        self.counts: Counter[str] = Counter()
        self._unlogged = 0
        self._last_log = -math.inf
        self._example = ""

    def add(self, reason: str, example: str) -> None:
        """Count one rejection; log a summary if a minute passed since the last one."""
        self.counts[reason] += 1
        self._unlogged += 1
        self._example = example
        now = time.monotonic()
        if now - self._last_log >= LOG_REJECTIONS_EVERY_S:
            self._last_log = now
            logger.warning("post %s: rejected %d reading(s) since the last report (%s); "
                           "latest: %s", self.post, self._unlogged,
                           ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())),
                           example[:200])
            self._unlogged = 0
