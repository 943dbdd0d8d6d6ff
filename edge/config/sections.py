"""``schedules:`` and ``alerts:`` — the parts whose contents later modules own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.alerts import AlertsConfig  # re-exported: the section lives in alerts.py
from edge.config.base import StrictModel

__all__ = ["AlertsConfig", "SchedulesConfig"]


class SchedulesConfig(StrictModel):
    """Where the announcement schedule files are (paths relative to config.yaml)."""

    files: list[Path] = Field(default_factory=list, description="schedule YAML files staff edit")
    holidays_file: Path | None = Field(default=None, description="this year's official holiday "
                                       "arrangement, when the calendar package lags behind")
    grace_s: float = Field(default=600.0, ge=0, le=3600, description="seconds a slot missed "
                           "(daemon or speaker down) may still play late; later it is missed")
    render_ahead_s: float = Field(default=600.0, ge=0, le=86400, description="seconds before its "
                                  "slot a clip is rendered")
    max_spoken_s: float = Field(default=120.0, ge=10, le=1800, description="longest a text "
                                "announcement may take to speak, seconds (estimated from the "
                                "voice's speed); longer texts are refused by check")
