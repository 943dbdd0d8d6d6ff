"""The whole ``config.yaml``: one typed model with a field per section."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from edge.config.audio import AudioConfig
from edge.config.base import StrictModel
from edge.config.bridge import BridgeConfig
from edge.config.district import DistrictUplinkConfig
from edge.config.devices import AreaConfig, PostsConfig, SpeakersConfig
from edge.config.http import HttpConfig
from edge.config.homeassistant import HomeAssistantConfig
from edge.config.mqtt import MqttConfig
from edge.config.alerts import AlertsConfig, check_alert_references
from edge.config.sections import SchedulesConfig
from edge.config.site import SiteConfig
from edge.config.source import Mark, PathKey
from edge.config.storage import LoggingConfig, StorageConfig

__all__ = ["GridedgeConfig"]


class GridedgeConfig(StrictModel):
    """Everything the daemon reads from config.yaml."""

    site: SiteConfig = Field(description="the compound this daemon serves")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT broker")
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP server")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="data directory")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="log levels")
    speakers: SpeakersConfig = Field(default_factory=SpeakersConfig, description="cloud speakers")
    posts: PostsConfig = Field(default_factory=PostsConfig, description="charging posts")
    areas: dict[str, AreaConfig] = Field(default_factory=dict, description="grid areas (网格)")
    audio: AudioConfig = Field(default_factory=AudioConfig, description="voice and clip composition")
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig,
                                       description="announcement schedule files")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="alerting")
    bridge: BridgeConfig | None = Field(default=None, description="serial RS-485 posts for "
                                        "`gridedge bridge`; absent = no bridge")
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig,
                                               description="Home Assistant MQTT discovery")
    district: DistrictUplinkConfig | None = Field(default=None, description="uplink to the "
                                                  "street office's broker; absent = none")

    _base_dir: Path = PrivateAttr(default=Path())
    # Where each value was written, and which ${VAR:-} left a value empty (set by the loader).
    _marks: dict[PathKey, Mark] = PrivateAttr(default_factory=dict)
    _empty_env: dict[PathKey, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    @field_validator("alerts")
    @classmethod
    def _alert_references(cls, alerts: AlertsConfig, info: ValidationInfo) -> AlertsConfig:
        """Areas and workers the roster names must exist.

        Area names come from the YAML as written (the loader's context), so a mistake inside
        one area does not make every roster line that names it an error too.
        """
        areas = (info.context or {}).get("areas")
        check_alert_references(alerts, areas if areas is not None else info.data.get("areas") or {})
        return alerts

    @property
    def base_dir(self) -> Path:
        """The folder config.yaml is in; relative paths in it are taken from here."""
        return self._base_dir

    def resolve(self, path: Path) -> Path:
        """A path from the config, made absolute against the config's folder."""
        return path if path.is_absolute() else self._base_dir / path

    def mark(self, path: PathKey) -> Mark | None:
        """Where ``path`` (or its nearest written ancestor) is in config.yaml; None if unknown."""
        probe = tuple(path)
        while probe:
            if probe in self._marks:
                return self._marks[probe]
            probe = probe[:-1]
        return self._marks.get(())

    def empty_env(self, prefix: PathKey) -> list[str]:
        """Environment variables that left a value below ``prefix`` empty, in file order."""
        n = len(prefix)
        return [name for path, names in self._empty_env.items() if path[:n] == tuple(prefix)
                for name in names]

    @property
    def data_dir(self) -> Path:
        """The data directory, absolute."""
        return self.resolve(self.storage.data_dir)
