"""Fixtures of the alert tests: the loopback receiver and a clock at a known site time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.alerts.rig import ManualClock, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP phone endpoint."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at Wednesday 2026-12-02 21:00 in Shanghai (a working day)."""
    return ManualClock(datetime(2026, 12, 2, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
