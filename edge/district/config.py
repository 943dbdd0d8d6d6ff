"""``district.yaml``: the street office's service — its broker, HTTP, sites and escalation.

Read like config.yaml (lines in every message, ``${VAR:-}`` for every secret), but a file of its
own: the street office runs no site.

    name: 中院街道
    broker: {host: 127.0.0.1, port: 1883, protocol: "3.1.1", username: …, password: ${…:-}}
    http: {bind: 0.0.0.0, port: 8090, token: ${GRIDEDGE_DISTRICT_HTTP_TOKEN:-}}
    sites:                      # optional names; every site that publishes is shown anyway
      jianyuan1: 建院1号小区
    escalation:
      after_min: 30             # open and unacknowledged this long at the site → street office
      channels: ["${GRIDEDGE_DISTRICT_OFFICE:-}"]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from edge.config import ConfigError, HttpConfig, MqttConfig, MqttProtocol, Problem, read_yaml
from edge.config.base import StrictModel
from edge.config.load import display_path, substitute_env
from edge.config.validation import validate

__all__ = ["DistrictConfig", "EscalationConfig", "load_district_config"]


class EscalationConfig(StrictModel):
    """When an alert nobody at the site acknowledged is paged to the street office, and where."""

    after_min: float = Field(default=30.0, gt=0, le=24 * 60, description="minutes an alert may "
                             "stay open and unacknowledged at its site before the street office "
                             "is paged")
    channels: list[str] = Field(default_factory=list, description="Apprise URLs of the street "
                                "office (write ${GRIDEDGE_DISTRICT_OFFICE:-}); empty = not paged")


class DistrictConfig(StrictModel):
    """Everything ``gridedge district run`` and ``announce`` read."""

    name: str = Field(min_length=1, description="the street office, e.g. 中院街道")
    broker: MqttConfig = Field(default_factory=lambda: MqttConfig(protocol=MqttProtocol.V311),
                               description="the district broker (any node of the cluster)")
    http: HttpConfig = Field(default_factory=lambda: HttpConfig(port=8090),
                             description="the district page and API")
    sites: dict[str, str] = Field(default_factory=dict, description="site id → name shown")
    escalation: EscalationConfig = Field(default_factory=EscalationConfig,
                                         description="paging the street office")

    def site_name(self, site_id: str) -> str:
        """The name staff know a site by (its id when not listed)."""
        return self.sites.get(site_id, site_id)

    @property
    def channels(self) -> list[str]:
        """The street office's Apprise URLs that are set (an unset variable drops one)."""
        return [c for c in self.escalation.channels if c.strip()]


def load_district_config(path: Path, environ: Mapping[str, str] | None = None) -> DistrictConfig:
    """Read and validate ``district.yaml``.

    Raises:
        ConfigError: with every problem, each naming file and line.
    """
    located = read_yaml(path, display_path(path))
    if not isinstance(located.data, dict):
        mark = located.mark(())
        raise ConfigError([Problem(mark.file, mark.line, "", "district.yaml must consist of "
                                   "settings such as 'name:', 'broker:', 'http:'")])
    problems: list[Problem] = []
    substitute_env(located, os.environ if environ is None else environ, problems)
    config, found = validate(DistrictConfig, located)
    problems += found
    if problems:
        raise ConfigError(problems)
    return config
