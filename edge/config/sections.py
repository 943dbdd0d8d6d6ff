"""``schedules:`` and ``alerts:`` — the parts whose contents later modules own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.base import StrictModel

__all__ = ["AlertsConfig", "SchedulesConfig"]


class SchedulesConfig(StrictModel):
    """Where the announcement schedule files are (paths relative to config.yaml)."""

    files: list[Path] = Field(default_factory=list, description="schedule YAML files staff edit")
    holidays_file: Path | None = Field(default=None, description="this year's official holiday "
                                       "arrangement, when the calendar package lags behind")


class AlertsConfig(StrictModel):
    """Alerting of grid workers (roster, escalation, channels) — filled in by the alerts module."""

    enabled: bool = Field(default=True, description="false = log alerts only, notify nobody")
