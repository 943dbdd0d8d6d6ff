"""``storage:`` and ``logging:`` — where the daemon keeps its state, and how much it says."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from edge.config.base import StrictModel

__all__ = ["LogLevel", "LoggingConfig", "RetentionConfig", "StorageConfig"]


class RetentionConfig(StrictModel):
    """How long finished rows are kept, in days (0 = for ever). Open alerts, queued plays and
    undelivered notifications are never deleted, however old."""

    plays_days: int = Field(default=366, ge=0, le=3660, description="play log (proof of play), "
                            "days")
    events_days: int = Field(default=90, ge=0, le=3660, description="audit events and telemetry "
                             "events, days")
    alert_log_days: int = Field(default=366, ge=0, le=3660, description="history lines of "
                                "resolved alerts, days")
    notifications_days: int = Field(default=90, ge=0, le=3660, description="sent, failed or "
                                    "suppressed notifications, days")
    alerts_days: int = Field(default=366, ge=0, le=3660, description="resolved alerts whose "
                             "history and notifications are gone, days")


class StorageConfig(StrictModel):
    """The data directory: the SQLite database and the clip cache live here."""

    data_dir: Path = Field(default=Path("data"), description="data directory; relative paths are "
                           "taken from the folder of config.yaml")
    clip_cache_mb: int = Field(default=512, ge=16, le=65536, description="clip cache size, MiB")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="how long "
                                       "history is kept")


class LogLevel(StrEnum):
    """Log levels, spelled as in YAML."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LoggingConfig(StrictModel):
    """Log levels, overall and per module (e.g. ``edge.mqtt: debug``)."""

    level: LogLevel = Field(default=LogLevel.INFO, description="default level")
    levels: dict[str, LogLevel] = Field(default_factory=dict, description="level per logger name")
