"""``speakers:``, ``posts:`` and ``areas:`` — the devices of the site and the grid areas they belong to.

Each device section has ``defaults`` (any device setting) and ``devices`` (id → settings); the
loader merges every device's own settings over the defaults before validation, so a problem in a
default is reported once, at the line of the default.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from edge.config.base import DeviceId, PostProfileRef, PostRef, SpeakerProfileRef, SpeakerRef, StrictModel, fail
from edge.posts.settings import LimitsConfig, port_block_problems

__all__ = ["AreaConfig", "PostConfig", "PostsConfig", "SpeakerConfig", "SpeakersConfig"]


class SpeakerConfig(StrictModel):
    """One cloud speaker at a compound entrance."""

    name: str = Field(min_length=1, description="name staff use, e.g. 东门 (schedules may use it)")
    location: str = Field(default="", description="where it hangs, for people walking there")
    profile: SpeakerProfileRef = Field(default="gridedge-speaker", description="device profile id")
    topic_id: str = Field(default="", pattern=r"^[^#+]*$",
                          description="the device's own MQTT topic name; empty = the speaker id")
    volume: int = Field(default=60, ge=0, le=100, description="default volume, percent")
    enabled: bool = Field(default=True, description="false = keep in config but do not use")


class SpeakersConfig(StrictModel):
    """All speakers of the site."""

    defaults: dict[str, Any] = Field(default_factory=dict, description="settings every speaker "
                                     "gets unless it sets its own")
    devices: dict[DeviceId, SpeakerConfig] = Field(default_factory=dict,
                                                   description="speaker id → settings")


class PostConfig(StrictModel):
    """One smart e-bike charging post."""

    name: str = Field(min_length=1, description="name staff use, e.g. 1号充电桩")
    location: str = Field(default="", description="where it stands, for the grid worker walking there")
    profile: PostProfileRef = Field(default="gridedge-post", description="device profile id")
    topic_id: str = Field(default="", pattern=r"^[^#+]*$",
                          description="the device's own MQTT topic name; empty = the post id")
    ports: int = Field(default=10, ge=1, le=64, description="number of charging ports")
    offline_after_s: int = Field(default=180, ge=10, le=86400,
                                 description="no telemetry for this long = post offline, seconds")
    enabled: bool = Field(default=True, description="false = keep in config but do not watch")
    limits: LimitsConfig | None = Field(default=None, description="protection limits of this post "
                                        "over the profile's defaults")
    port_limits: dict[int, LimitsConfig] = Field(default_factory=dict, description="port number "
                                                 "(from 1) → protection limits of that port")

    @model_validator(mode="after")
    def _port_limits_fit(self) -> PostConfig:
        """Port limits name ports the post has, and only settings of one port."""
        for at, msgid, args in port_block_problems(self.port_limits, self.ports):
            raise fail(msgid, at=("port_limits", *at), **args)
        return self


class PostsConfig(StrictModel):
    """All charging posts of the site."""

    defaults: dict[str, Any] = Field(default_factory=dict, description="settings every post gets "
                                     "unless it sets its own")
    devices: dict[DeviceId, PostConfig] = Field(default_factory=dict,
                                                description="post id → settings")


class AreaConfig(StrictModel):
    """A grid area (网格): the devices one grid worker looks after."""

    posts: list[PostRef] = Field(default_factory=list, description="posts in this area (id or name)")
    speakers: list[SpeakerRef] = Field(default_factory=list,
                                       description="speakers in this area (id or name)")
    location: str = Field(default="", description="buildings or streets the area covers")
