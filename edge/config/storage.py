"""``storage:`` and ``logging:`` — where the daemon keeps its state, and how much it says."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from edge.config.base import StrictModel

__all__ = ["LogLevel", "LoggingConfig", "StorageConfig"]


class StorageConfig(StrictModel):
    """The data directory: the SQLite database and the clip cache live here."""

    data_dir: Path = Field(default=Path("data"), description="data directory; relative paths are "
                           "taken from the folder of config.yaml")
    clip_cache_mb: int = Field(default=512, ge=16, le=65536, description="clip cache size, MiB")


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
