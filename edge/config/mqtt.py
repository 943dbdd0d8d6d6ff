"""``mqtt:`` — the broker the daemon connects to (the only bus it has)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from edge.config.base import StrictModel, fail
from edge.i18n import N_

__all__ = ["BrokerAddress", "MqttConfig", "MqttProtocol", "TlsConfig"]


class MqttProtocol(StrEnum):
    """MQTT protocol versions, spelled as in YAML."""

    V5 = "5"
    V311 = "3.1.1"


class TlsConfig(StrictModel):
    """TLS towards the broker."""

    enabled: bool = Field(default=False, description="connect with TLS")
    ca_file: Path | None = Field(default=None, description="CA certificate (PEM); system CAs if empty")
    cert_file: Path | None = Field(default=None, description="client certificate (PEM)")
    key_file: Path | None = Field(default=None, description="client private key (PEM)")
    insecure: bool = Field(default=False, description="skip host name check (testing only)")

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        """A client certificate is useless without its key, and the other way round."""
        if (self.cert_file is None) != (self.key_file is None):
            raise fail(N_("cert_file and key_file go together: give both or neither"))
        return self


class BrokerAddress(StrictModel):
    """Another node of the same broker (a cluster), tried when the one in use cannot be reached."""

    host: str = Field(min_length=1, description="broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, description="broker TCP port")


class MqttConfig(StrictModel):
    """Connection to the MQTT broker."""

    host: str = Field(default="127.0.0.1", min_length=1, description="broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, description="broker TCP port")
    protocol: MqttProtocol = Field(default=MqttProtocol.V5, description="MQTT version: 5 or 3.1.1")
    client_id: str = Field(default="", description="client id; empty = gridedge-<site id>")
    username: str = Field(default="", description="user name; empty = anonymous")
    password: str = Field(default="", description="password; write ${GRIDEDGE_MQTT_PASSWORD}")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="keep-alive interval, seconds")
    topic_root: str = Field(default="gridedge", pattern=r"^[A-Za-z0-9_-]+$",
                            description="first level of every canonical topic")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings")
    fallback: tuple[BrokerAddress, ...] = Field(
        default=(), description="other nodes of the same broker cluster, tried in turn when the "
                                "one in use cannot be reached (same credentials and TLS)")

    def addresses(self) -> list[tuple[str, int]]:
        """Every broker address to try, ``host:port`` first."""
        return [(self.host, self.port)] + [(a.host, a.port) for a in self.fallback]
