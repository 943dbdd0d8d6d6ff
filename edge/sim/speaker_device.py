"""One virtual cloud speaker: its protocol, its reports, and the helpers a simulated play needs."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import paho.mqtt.client as paho

from edge.mqtt import Topics
from edge.speakers.const import TTS_SECONDS_PER_CHAR

if TYPE_CHECKING:
    from edge.profiles import Profile

__all__ = ["SHA_IN_URL", "SimPlay", "VirtualSpeaker", "decode_duration", "download", "protocol_of",
           "volume_of"]

DOWNLOAD_TIMEOUT_S = 10.0
_DECODE_RATE = 8000  # decoding to 8 kHz mono 16-bit is enough to count samples
SHA_IN_URL = re.compile(r"([0-9a-f]{64})\.\w+$")
PROTOCOLS = ("gridedge", "tasmota", "openluat")


@dataclass
class SimPlay:
    """One play a virtual speaker performed (or tried)."""

    speaker: str
    command_id: str
    what: str                   # clip URL or text
    received: float             # command arrival, epoch seconds
    started: float | None = None
    ended: float | None = None
    duration_s: float | None = None
    outcome: str = "playing"    # playing, done, failed, interrupted, offline
    detail: str = ""


def protocol_of(profile: Profile) -> str:
    """Which device protocol a profile speaks (its own id or the one it extends)."""
    for name in (profile.id, profile.extends or ""):
        for proto in PROTOCOLS:
            if name.startswith(proto):
                return proto
    msg = f"the speaker simulator does not know the protocol of profile {profile.id!r}"
    raise ValueError(msg)


def decode_duration(data: bytes) -> float:
    """Playing time of an audio file, by decoding it completely with ffmpeg."""
    import imageio_ffmpeg  # type: ignore[import-untyped]  # 165 MiB wheel: imported when used

    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac",
         "1", "-ar", str(_DECODE_RATE), "pipe:1"], input=data, capture_output=True, timeout=30,
        check=False)
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode("utf-8", "replace").strip()[-200:] or "no audio"
        raise ValueError(msg)
    return len(proc.stdout) / (2 * _DECODE_RATE)


def volume_of(data: dict[str, object], current: int) -> int:
    value = data.get("volume", current)
    return value if isinstance(value, int) and not isinstance(value, bool) else current


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return bytes(response.read())


@dataclass
class VirtualSpeaker:
    """One simulated device."""

    id: str
    profile: Profile
    device_topic: str
    topics: Topics
    tts_seconds_per_char: float = TTS_SECONDS_PER_CHAR
    online: bool = True
    volume: int = 50
    plays: list[SimPlay] = field(default_factory=list)
    current: tuple[SimPlay, asyncio.Task[None]] | None = None
    seen: set[str] = field(default_factory=set)
    client: paho.Client | None = None

    @property
    def protocol(self) -> str:
        """gridedge, tasmota or openluat."""
        return protocol_of(self.profile)

    def _topic(self, template: str) -> str:
        return template.format(device=self.device_topic, root=self.topics.root,
                               site=self.topics.site)

    @property
    def availability(self) -> tuple[str, str, str]:
        """(topic, online payload, offline payload) from the profile."""
        for message in self.profile.messages:
            if message.availability is not None:
                return (self._topic(message.topic), message.availability.online,
                        message.availability.offline)
        msg = f"profile {self.profile.id} has no availability topic"
        raise ValueError(msg)

    @property
    def command_topics(self) -> list[str]:
        """Every topic the device listens on."""
        return sorted({self._topic(c.topic) for c in self.profile.commands.values()})

    def report(self, command_id: str, state: str, detail: str = "") -> None:
        """Tell the daemon how a command went, in the device's own format."""
        if self.client is None or not self.online:
            return
        if self.protocol == "gridedge":
            topic = self.topics.speaker_status(self.device_topic)
            payload: dict[str, object] = {"id": command_id, "state": state, "detail": detail}
        elif self.protocol == "openluat":
            topic = f"/pub/topic/tts/{self.device_topic}"
            status = {"playing": "playing", "done": "done", "failed": "error",
                      "interrupted": "stopped"}[state]
            payload = {"msg_id": command_id, "status": status, "code": 0 if state == "done" else 1}
        else:
            return  # Tasmota reports no end of play (device-protocols.md §1.4)
        self.client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1)

    def result(self, command: str, value: object) -> None:
        """Tasmota's reply on stat/<topic>/RESULT."""
        if self.client is not None and self.online:
            self.client.publish(f"stat/{self.device_topic}/RESULT",
                                json.dumps({command: value}, ensure_ascii=False), qos=0)
