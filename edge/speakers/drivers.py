"""One speaker's device profile applied: the commands to send for a play or a stop, and its reports.

Everything device-specific comes from the profile (``device_profiles/speakers/*.yaml``): the
topics, the payload templates, whether the device renders speech itself (``tts_on_device``) or
plays a clip from our HTTP server (``play_url``), and whether it reports the end of a play.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from audio import AudioFormat
from edge.mqtt import Topics
from edge.profiles import Profile, SpeakerCapability
from edge.profiles.codec import Binding, DecodeError, bind, decode, render_command

__all__ = ["Command", "Driver", "Report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Command:
    """One MQTT message to a speaker."""

    topic: str
    payload: bytes
    qos: int


@dataclass(frozen=True)
class Report:
    """What a speaker said: its availability, or the state of a command."""

    online: bool | None = None
    command_id: str | None = None
    state: str | None = None      # playing, done, failed, interrupted
    detail: str = ""


class Driver:
    """Commands and reports of one speaker, through its profile.

    Args:
        profile: the speaker's device profile.
        device_topic: the device's own topic name (its ``topic_id`` or id).
        topics: canonical topics of the site (for ``{root}`` and ``{site}``).
        tz: site time zone (for timestamps in payloads).
    """

    def __init__(self, profile: Profile, device_topic: str, topics: Topics, tz: ZoneInfo) -> None:
        self.profile = profile
        self.device_topic = device_topic
        self.topics = topics
        self.tz = tz
        self.bindings: list[Binding] = bind(profile, device_topic, root=topics.root,
                                            site=topics.site)

    @property
    def speaks_text(self) -> bool:
        """The device synthesises text itself and cannot play our clips."""
        caps = self.profile.capabilities
        return SpeakerCapability.PLAY_URL not in caps and SpeakerCapability.TTS_ON_DEVICE in caps

    @property
    def reports_completion(self) -> bool:
        """The device says when a play ended (else completion is inferred from the duration)."""
        return self.profile.completion == "reported"

    @property
    def audio_format(self) -> AudioFormat | None:
        """The clip format the device plays (None for text-only devices)."""
        spec = self.profile.audio
        if spec is None or self.speaks_text:
            return None
        return AudioFormat(spec.codec, spec.sample_rate, spec.channels,
                           spec.bitrate_kbps if spec.codec == "mp3" else None)

    def play(self, values: dict[str, Any]) -> list[Command]:
        """Commands that start a play: the volume first when the play command cannot carry it."""
        name = "say" if self.speaks_text else "play"
        out = []
        carries_volume = any("{volume}" in t for t in self.profile.commands[name].templates())
        if not carries_volume and "volume" in self.profile.commands:
            out.append(self._render("volume", values))
        out.append(self._render(name, values))
        return out

    def stop(self, command_id: str) -> list[Command]:
        """Commands that stop the current play (none when the device cannot stop)."""
        if "stop" not in self.profile.commands:
            return []
        return [self._render("stop", {"request_id": command_id})]

    def command_topics(self) -> set[str]:
        """Every topic the daemon sends this device commands on (to guard against retained ones)."""
        return {self._render(name, {}).topic for name in self.profile.commands}

    def _render(self, name: str, values: dict[str, Any]) -> Command:
        defaults = {"url": "", "sha256": "", "duration_s": 0, "volume": 0, "priority": "",
                    "text": "", "request_id": ""}
        topic, payload, qos = render_command(self.profile, name,
                                             {**defaults, **values, "device": self.device_topic},
                                             root=self.topics.root, site=self.topics.site)
        return Command(topic, payload, qos)

    def read(self, topic: str, payload: bytes) -> Report | None:
        """What a message on one of the device's topics says; None when it says nothing to us."""
        for binding in self.bindings:
            try:
                decoded = decode(self.profile, binding, topic, payload, self.tz)
            except DecodeError as err:
                logger.warning("speaker %s: unreadable message on %s (%s)", self.device_topic,
                               topic, err.reason)
                return None
            if decoded is None:
                continue
            if decoded.availability is not None:
                return Report(online=decoded.availability)
            values = decoded.post
            if decoded.problems:
                logger.warning("speaker %s: %s", self.device_topic, "; ".join(decoded.problems))
            if "state" not in values:
                return None
            return Report(command_id=str(values.get("id", "")), state=str(values["state"]),
                          detail="" if values.get("detail") is None else str(values["detail"]))
        return None
