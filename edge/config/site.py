"""``site:`` — which compound this daemon serves, its time zone, language and quiet hours."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from edge.config.base import ClockTime, DeviceId, StrictModel, fail
from edge.i18n import LANGUAGES, N_

__all__ = ["QuietHoursConfig", "SiteConfig"]


class QuietHoursConfig(StrictModel):
    """Hours in which nothing below emergency priority is played (may cross midnight)."""

    start: ClockTime = Field(default=time(21, 30), description="start of quiet hours, HH:MM site time")
    end: ClockTime = Field(default=time(7, 0), description="end of quiet hours, HH:MM site time")


class SiteConfig(StrictModel):
    """The compound this daemon serves."""

    id: DeviceId = Field(description="short ASCII id used in MQTT topics: gridedge/<id>/...")
    name: str = Field(min_length=1, description="compound name shown to staff, e.g. 建院1号小区")
    community: str = Field(default="", description="community (社区) the compound belongs to")
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of the site")
    language: str = Field(default="zh", description="language of messages: zh or en")
    quiet_hours: QuietHoursConfig = Field(default_factory=QuietHoursConfig,
                                          description="no routine announcements in these hours")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(N_("unknown time zone; write an IANA name such as Asia/Shanghai")) from None
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise fail(N_("language must be one of: {choices}"), choices=", ".join(LANGUAGES))
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)
