"""The one bounded JSON decoder for every inbound MQTT payload (telemetry, resets, acknowledgements).

Anyone on the broker can publish, so a payload is hostile until read: it is refused when it is
larger than ``MAX_PAYLOAD_BYTES``, nested deeper than ``MAX_DEPTH``, not UTF-8, or not strict
JSON (``NaN`` and ``Infinity`` are not JSON and are never a value). orjson parses without Python
recursion, so a deep payload cannot raise ``RecursionError``; the depth is then checked without
recursion either. Every refusal is a ``PayloadError`` with a short machine reason, for counting.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "MAX_PAYLOAD_BYTES", "PayloadError", "loads"]

MAX_PAYLOAD_BYTES = 64 * 1024
"""Largest payload read at all (a 10-port Shelly status is about 4 KiB)."""
MAX_DEPTH = 32
"""Deepest nesting of objects and lists accepted (real devices use at most 4 levels)."""


class PayloadError(ValueError):
    """An inbound payload that is refused; ``reason`` is one of oversized, not_utf8, not_json, too_deep."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def loads(payload: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES,
          max_depth: int = MAX_DEPTH) -> Any:
    """Parse a payload as strict JSON within the size and depth limits.

    Raises:
        PayloadError: the payload is refused (reason: oversized, not_utf8, not_json, too_deep).
    """
    if len(payload) > max_bytes:
        raise PayloadError("oversized", f"{len(payload)} bytes")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        if isinstance(payload, bytes):
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise PayloadError("not_utf8", str(bad)) from None
        raise PayloadError("not_json", str(err)) from None
    if (type(data) is dict or type(data) is list) and _openings(payload) > max_depth:
        _check_depth(data, max_depth)  # only a payload with enough brackets can be too deep
    return data


def _openings(payload: bytes | str) -> int:
    """How many containers the payload opens at most (brackets inside strings count too)."""
    if isinstance(payload, bytes):
        return payload.count(b"{") + payload.count(b"[")
    return payload.count("{") + payload.count("[")


def _check_depth(data: dict[str, Any] | list[Any], max_depth: int) -> None:
    """Raise PayloadError when containers nest deeper than ``max_depth`` (iterative walk)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise PayloadError("too_deep", f"nested more than {max_depth} levels")
        children = item.values() if type(item) is dict else item
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
