"""Fault counters per device and reason, with rate-limited logging of each fault."""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum

from firmware_bridge.const import LOG_INTERVAL_S

logger = logging.getLogger(__name__)


class FaultReason(StrEnum):
    """Why a request, a value or a line was rejected (the counter key)."""

    TIMEOUT = "timeout"
    CRC = "crc"
    PARTIAL = "partial"
    FRAME = "frame"
    EXCEPTION = "exception"
    PORT_GONE = "port_gone"
    STALE_BYTES = "stale_bytes"
    INVALID_VALUE = "invalid_value"
    RELAY_MISMATCH = "relay_mismatch"
    NOT_MAPPED = "not_mapped"
    BAD_JSON = "bad_json"
    BAD_FIELDS = "bad_fields"
    OVERSIZED = "oversized"


class FaultCounters:
    """Thread-safe counts of faults per source (device name or port) and reason.

    The runner reads `snapshot()` for metrics; `record()` also logs the fault, at most once per
    `log_interval_s` for each (source, reason), with the number of repeats held back.
    """

    def __init__(self, log_interval_s: float = LOG_INTERVAL_S) -> None:
        """Create empty counters."""
        self._log_interval_s = log_interval_s
        self._lock = threading.Lock()
        self._counts: dict[str, dict[FaultReason, int]] = {}
        self._last_log: dict[tuple[str, FaultReason], float] = {}
        self._held_back: dict[tuple[str, FaultReason], int] = {}

    def record(self, source: str, reason: FaultReason, detail: str, n: int = 1) -> None:
        """Count `n` faults of `reason` for `source` and log `detail` (rate-limited)."""
        key = (source, reason)
        now = time.monotonic()
        with self._lock:
            per_source = self._counts.setdefault(source, {})
            per_source[reason] = per_source.get(reason, 0) + n
            last = self._last_log.get(key)
            if last is not None and now - last < self._log_interval_s:
                self._held_back[key] = self._held_back.get(key, 0) + 1
                return
            self._last_log[key] = now
            held = self._held_back.pop(key, 0)
        if held:
            logger.warning("%s: %s: %s (%d more since last logged)", source, reason, detail, held)
        else:
            logger.warning("%s: %s: %s", source, reason, detail)

    def get(self, source: str, reason: FaultReason) -> int:
        """Return the count of `reason` faults for `source` (0 if none)."""
        with self._lock:
            return self._counts.get(source, {}).get(reason, 0)

    def total(self, reason: FaultReason) -> int:
        """Return the count of `reason` faults over every source."""
        with self._lock:
            return sum(per.get(reason, 0) for per in self._counts.values())

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Return a copy: {source: {reason: count}}."""
        with self._lock:
            return {
                source: {str(reason): n for reason, n in per.items()}
                for source, per in self._counts.items()
            }
