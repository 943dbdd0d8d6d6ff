"""``district:`` — the site's uplink to the street office's (街道) clustered broker.

The site's own mosquitto carries the uplink with its bridging (``gridedge district
uplink-config`` writes the ``connection`` block): the daemon never talks to the district broker
itself, so an uplink outage can never slow protection down. Credentials and TLS files are read
from environment variables when the block is generated, never from this file.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from edge.config.base import StrictModel, fail
from edge.i18n import N_

__all__ = ["DistrictUplinkConfig", "Upstream"]

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


def _upstream(value: str) -> str:
    if not isinstance(value, str):
        raise fail(N_("write an upstream as host:port, e.g. nats1.jiedao.example:1883"))
    match = _HOST_PORT.match(value.strip())
    if not match or (match["port"] and not 1 <= int(match["port"]) <= 65535):  # noqa: PLR2004
        raise fail(N_("write an upstream as host:port, e.g. nats1.jiedao.example:1883"))
    return value.strip()


Upstream = Annotated[str, AfterValidator(_upstream)]


class DistrictUplinkConfig(StrictModel):
    """Where the site's mosquitto bridges its state, events and alerts to, and what comes down."""

    upstreams: list[Upstream] = Field(min_length=1, description="district broker nodes as "
                                      "host:port, tried in this order (failover)")
    client_id: str = Field(default="", description="the bridge's client id on the district "
                           "broker; empty = gridedge-<site id>-uplink. It must stay the same: "
                           "the district broker keeps the bridge's session under it")
    tls: bool = Field(default=False, description="TLS to the district broker; CA, certificate "
                      "and key come from GRIDEDGE_DISTRICT_CA_FILE, _CERT_FILE, _KEY_FILE")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="bridge keep-alive, seconds")
    retry_s: int = Field(default=5, ge=1, le=3600, description="seconds between reconnection "
                         "attempts when every upstream is unreachable")

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if value and not _CLIENT_ID.match(value):
            raise fail(N_("a client id may use only letters a-z and A-Z, digits, '-' and '_' "
                          "(at most 64)"))
        return value

    def bridge_client_id(self, site_id: str) -> str:
        """The stable client id of the site's bridge on the district broker."""
        return self.client_id or f"gridedge-{site_id}-uplink"

    def addresses(self) -> list[str]:
        """The upstreams with their port made explicit (8883 with TLS, else 1883)."""
        default = DEFAULT_TLS_PORT if self.tls else DEFAULT_PORT
        out = []
        for upstream in self.upstreams:
            match = _HOST_PORT.match(upstream)
            assert match is not None  # noqa: S101 - validated above
            out.append(f"{match['host']}:{match['port'] or default}")
        return out
