"""Typed configuration: config.yaml loaded with line numbers into frozen pydantic models."""

from edge.config.audio import AudioConfig, TtsEngineName
from edge.config.base import StrictModel
from edge.config.devices import AreaConfig, PostConfig, PostsConfig, SpeakerConfig, SpeakersConfig
from edge.config.errors import ConfigError, Problem
from edge.config.http import HttpConfig
from edge.config.load import display_path, load_config
from edge.config.mqtt import MqttConfig, MqttProtocol, TlsConfig
from edge.config.root import GridedgeConfig
from edge.config.sections import AlertsConfig, SchedulesConfig
from edge.config.site import QuietHoursConfig, SiteConfig
from edge.config.source import Located, Mark, read_yaml
from edge.config.storage import LoggingConfig, StorageConfig

__all__ = [
    "AlertsConfig",
    "AudioConfig",
    "AreaConfig",
    "ConfigError",
    "GridedgeConfig",
    "HttpConfig",
    "Located",
    "LoggingConfig",
    "Mark",
    "MqttConfig",
    "MqttProtocol",
    "PostConfig",
    "PostsConfig",
    "Problem",
    "QuietHoursConfig",
    "SchedulesConfig",
    "SiteConfig",
    "SpeakerConfig",
    "SpeakersConfig",
    "StorageConfig",
    "StrictModel",
    "TlsConfig",
    "TtsEngineName",
    "display_path",
    "load_config",
    "read_yaml",
]
