"""``homeassistant:`` — Home Assistant MQTT discovery of the site's posts, speakers and daemon."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from edge.config.base import StrictModel, fail
from edge.i18n import N_

__all__ = ["HomeAssistantConfig"]

# MQTT topic levels without wildcards, no empty level, no leading or trailing slash.
_PREFIX = re.compile(r"^[^/#+\s]+(/[^/#+\s]+)*$")


class HomeAssistantConfig(StrictModel):
    """Whether and where the daemon announces its devices to Home Assistant."""

    enabled: bool = Field(default=False, description="publish Home Assistant MQTT discovery "
                          "configs (retained) for posts, speakers and the daemon")
    discovery_prefix: str = Field(default="homeassistant", description="Home Assistant's "
                                  "discovery prefix; its birth message is read on <prefix>/status")

    @field_validator("discovery_prefix")
    @classmethod
    def _topic_levels(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise fail(N_("write MQTT topic levels such as homeassistant, without '+', '#', "
                          "spaces or a slash at either end"))
        return value
