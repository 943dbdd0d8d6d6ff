"""Device profile models: how one device model's topics and payloads map onto canonical data.

A profile is data (YAML in ``device_profiles/``); these models are its schema. Field extraction
uses JMESPath expressions, conversions use the closed transform registry, and commands are
templates with ``{placeholders}`` from a fixed set.
"""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Any

import jmespath
import jmespath.exceptions
from pydantic import Field, field_validator, model_validator

from edge.config.base import StrictModel, closest, fail
from edge.i18n import N_
from edge.posts.settings import LimitsConfig
from edge.profiles.canonical import PORT_KEYS, POST_KEYS, SPEAKER_KEYS, TEMPLATE_VARS
from edge.profiles.transforms import DERIVATIONS, TRANSFORMS

__all__ = [
    "AudioSpec", "AvailabilitySpec", "CommandSpec", "FieldSpec", "MatchSpec", "MessageFormat",
    "MessageSpec", "PortsMode", "PortsSpec", "Profile", "ProfileKind", "SpeakerCapability",
    "TransformStep",
]


class ProfileKind(StrEnum):
    """What a device is."""

    POST = "post"
    SPEAKER = "speaker"


class MessageFormat(StrEnum):
    """How a payload is read."""

    JSON = "json"
    TEXT = "text"


class PortsMode(StrEnum):
    """Where a payload keeps its per-port values."""

    LIST = "list"    # a list of objects that carry their port number: [{"port": 3, ...}]
    ARRAY = "array"  # parallel arrays, index = port (a scalar means one port): {"Current": [1, 2]}
    KEYS = "keys"    # one key per port: {"switch:0": {...}, "switch:1": {...}}
    TOPIC = "topic"  # the port is in the topic: .../status/switch:{port}


class SpeakerCapability(StrEnum):
    """What a speaker can do."""

    PLAY_URL = "play_url"
    STOP = "stop"
    VOLUME = "volume"
    TTS_ON_DEVICE = "tts_on_device"
    STATUS = "status"


def _check_path(value: str) -> str:
    try:
        jmespath.compile(value)
    except jmespath.exceptions.JMESPathError as err:
        raise fail(N_("not a valid JMESPath expression ({detail})"), detail=str(err)) from None
    return value


def _template_fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise fail(N_("a template has unbalanced braces ({detail}); write literal braces as "
                      "{{{{ and }}}}"), detail=str(err)) from None


def _check_placeholders(template: str, allowed: frozenset[str],
                        at: tuple[str | int, ...] = ()) -> None:
    for name in _template_fields(template):
        if name not in allowed:
            hint = closest(name, allowed)
            if hint:
                raise fail(N_("unknown placeholder '{{{name}}}'; did you mean '{{{hint}}}'?"),
                           name=name, hint=hint, at=at)
            raise fail(N_("unknown placeholder '{{{name}}}'; allowed: {allowed}"), name=name,
                       allowed=", ".join(sorted(allowed)), at=at)


class TransformStep(StrictModel):
    """One named transform and its argument."""

    name: str = Field(description="transform name from the closed registry")
    arg: Any = Field(default=None, description="its argument, if it takes one")

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        """YAML writes ``first_error`` or ``{scale: 0.001}``."""
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and len(value) == 1 and "name" not in value:
            (name, arg), = value.items()
            return {"name": name, "arg": arg}
        return value

    @model_validator(mode="after")
    def _known(self) -> TransformStep:
        """The transform exists and gets the argument type it takes."""
        transform = TRANSFORMS.get(self.name)
        if transform is None:
            hint = closest(self.name, TRANSFORMS)
            if hint:
                raise fail(N_("unknown transform '{name}'; did you mean '{hint}'?"),
                           name=self.name, hint=hint)
            raise fail(N_("unknown transform '{name}'; known: {known}"), name=self.name,
                       known=", ".join(TRANSFORMS))
        if transform.arg is None and self.arg is not None:
            raise fail(N_("transform '{name}' takes no argument"), name=self.name)
        if transform.arg is not None and (not isinstance(self.arg, transform.arg)
                                          or isinstance(self.arg, bool)):
            raise fail(N_("transform '{name}' needs an argument: {doc}"), name=self.name,
                       doc=transform.doc)
        return self


class FieldSpec(StrictModel):
    """Where a canonical value sits in the payload, and how to convert it."""

    path: str = Field(description="JMESPath into the payload ('@' = the whole payload)")
    transform: list[TransformStep] = Field(default_factory=list, description="applied in order")
    note: str = Field(default="", description="why, with source and firmware version for quirks")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """``current_a: ENERGY.Current`` is short for ``{path: ENERGY.Current}``."""
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        return _check_path(value)


def _check_keys(fields: dict[str, FieldSpec], table: dict[str, tuple[str, str]],
                at: tuple[str | int, ...]) -> None:
    for key in fields:
        if key not in table:
            hint = closest(key, table)
            if hint:
                raise fail(N_("'{key}' is not a canonical key; did you mean '{hint}'?"),
                           key=key, hint=hint, at=(*at, key))
            raise fail(N_("'{key}' is not a canonical key; known: {known}"), key=key,
                       known=", ".join(table), at=(*at, key))


class PortsSpec(StrictModel):
    """How per-port values are laid out in a payload."""

    mode: PortsMode = Field(description="list, array, keys or topic")
    path: str = Field(default="@", description="JMESPath to the collection of ports")
    port_key: str = Field(default="port", description="list mode: the field holding the port number")
    key_pattern: str = Field(default="", description="keys mode: e.g. 'switch:{port}'")
    fields: dict[str, FieldSpec] = Field(description="canonical port key → where it is")

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        return _check_path(value)

    @model_validator(mode="after")
    def _consistent(self) -> PortsSpec:
        """Keys mode needs a pattern with {port}; fields name canonical port keys."""
        if self.mode is PortsMode.KEYS and "{port}" not in self.key_pattern:
            raise fail(N_("mode 'keys' needs key_pattern with {{port}}, e.g. 'switch:{{port}}'"))
        _check_keys(self.fields, PORT_KEYS, ("fields",))
        return self


class AvailabilitySpec(StrictModel):
    """The payloads a device's availability (LWT) topic carries."""

    online: str = Field(description="payload meaning online, e.g. Online")
    offline: str = Field(description="payload meaning offline, e.g. Offline")


class MatchSpec(StrictModel):
    """Read a message only when a field has a value (e.g. method = NotifyStatus)."""

    path: str = Field(description="JMESPath of the field")
    equals: str | int | bool = Field(description="the value it must have")

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        return _check_path(value)


class MessageSpec(StrictModel):
    """One inbound topic of the device and how to read it."""

    topic: str = Field(description="topic template: {device}, {site}, {root}, {port}")
    format: MessageFormat = Field(default=MessageFormat.JSON, description="json or text")
    when: MatchSpec | None = Field(default=None, description="read only matching messages")
    merge: bool = Field(default=False, description="true: a partial update merged into the last "
                        "full status (Shelly NotifyStatus); false: the payload is complete")
    complete: bool = Field(default=False, description="true: each port's status is whole, so a "
                           "port 'fault' it leaves out means no fault now (Shelly omits 'errors' "
                           "when there are none); false: a field left out was not reported")
    timestamp: FieldSpec | None = Field(default=None, description="sample time; none = arrival")
    fields: dict[str, FieldSpec] = Field(default_factory=dict, description="device-level values")
    ports: PortsSpec | None = Field(default=None, description="per-port values")
    availability: AvailabilitySpec | None = Field(default=None, description="this is the LWT topic")
    note: str = Field(default="", description="source of the format, firmware version")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        _check_placeholders(value, TEMPLATE_VARS["topic"])
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MessageSpec:
        """A message reads availability, or values; a {port} topic goes with mode 'topic'."""
        if self.availability is None and not self.fields and self.ports is None:
            raise fail(N_("a message needs 'fields', 'ports' or 'availability'"))
        has_port = "port" in _template_fields(self.topic)
        if has_port != (self.ports is not None and self.ports.mode is PortsMode.TOPIC):
            raise fail(N_("a topic with {{port}} goes with ports.mode 'topic', and only then"))
        return self


class CommandSpec(StrictModel):
    """How one command is sent to the device."""

    topic: str = Field(description="topic template")
    payload: str | None = Field(default=None, description="text payload template")
    payload_json: Any = Field(default=None, description="JSON payload; text values are templates,"
                              " and a value that is exactly one placeholder keeps its type")
    qos: int = Field(default=1, ge=0, le=2, description="MQTT QoS")
    note: str = Field(default="", description="source of the command format, firmware version")

    @model_validator(mode="after")
    def _one_payload(self) -> CommandSpec:
        """Exactly one of payload and payload_json."""
        if (self.payload is None) == (self.payload_json is None):
            raise fail(N_("give exactly one of 'payload' (text) and 'payload_json'"))
        return self

    def templates(self) -> list[str]:
        """Every template text of the command (topic, then payload parts)."""
        out = [self.topic]
        stack = [self.payload if self.payload is not None else self.payload_json]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return out


class AudioSpec(StrictModel):
    """The audio a speaker plays."""

    codec: str = Field(description="mp3 or wav", pattern=r"^(mp3|wav)$")
    sample_rate: int = Field(ge=8000, le=48000, description="samples per second")
    channels: int = Field(default=1, ge=1, le=2, description="1 mono, 2 stereo")
    bitrate_kbps: int | None = Field(default=None, ge=16, le=320, description="mp3 bit rate")


# port_status (optional) asks the device to report a port now: the cut-off is confirmed with
# it before "cut-off failed" is raised when telemetry stays silent.
_POST_COMMANDS = {"port_off", "port_on", "port_status"}
_SPEAKER_COMMANDS = {"play", "stop", "volume", "say"}


class Profile(StrictModel):
    """One device model."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="profile id, lower case")
    kind: ProfileKind = Field(description="post or speaker")
    vendor: str = Field(description="maker or firmware")
    model: str = Field(description="device model(s)")
    version: int = Field(default=1, ge=1, description="profile revision")
    extends: str | None = Field(default=None, description="profile this one builds on")
    aliases: list[str] = Field(default_factory=list, description="rebrands of the same device")
    note: str = Field(default="", description="sources and known quirks")
    port_base: int = Field(default=1, ge=0, le=1, description="number of the device's first port")
    messages: list[MessageSpec] = Field(default_factory=list, description="inbound topics")
    commands: dict[str, CommandSpec] = Field(default_factory=dict, description="outbound commands")
    derive: list[str] = Field(default_factory=list, description="derived canonical values")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="posts: default "
                                 "protection limits of this model (config.yaml may override)")
    audio: AudioSpec | None = Field(default=None, description="speakers: the audio they take")
    capabilities: list[SpeakerCapability] = Field(default_factory=list,
                                                  description="speakers: what they can do")
    completion: str = Field(default="reported", pattern=r"^(reported|inferred)$",
                            description="speakers: end of play reported, or inferred from duration")

    @field_validator("derive")
    @classmethod
    def _known_derivations(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in DERIVATIONS:
                raise fail(N_("unknown derivation '{name}'; known: {known}"), name=name,
                           known=", ".join(DERIVATIONS))
        return value

    @model_validator(mode="after")
    def _complete(self) -> Profile:
        """Commands and values fit the kind of device."""
        allowed = _POST_COMMANDS if self.kind is ProfileKind.POST else _SPEAKER_COMMANDS
        for name, command in self.commands.items():
            if name not in allowed:
                raise fail(N_("'{name}' is not a {kind} command; allowed: {allowed}"), name=name,
                           kind=self.kind.value, allowed=", ".join(sorted(allowed)),
                           at=("commands", name))
            for template in command.templates():
                _check_placeholders(template, TEMPLATE_VARS[self.kind.value], ("commands", name))
        if self.kind is ProfileKind.POST:
            self._complete_post()
        else:
            self._complete_speaker()
        return self

    def _complete_post(self) -> None:
        if "port_off" not in self.commands:
            raise fail(N_("a charging-post profile needs a 'port_off' command (the cut-off)"),
                       at=("commands",))
        if not any(m.ports is not None for m in self.messages):
            raise fail(N_("a charging-post profile needs a message with per-port 'ports' values"))
        for i, message in enumerate(self.messages):
            _check_keys(message.fields, POST_KEYS, ("messages", i, "fields"))

    def _complete_speaker(self) -> None:
        if self.audio is None and SpeakerCapability.TTS_ON_DEVICE not in self.capabilities:
            raise fail(N_("a speaker profile needs 'audio' (the clip format it plays) unless it "
                          "has the capability tts_on_device"))
        if SpeakerCapability.PLAY_URL in self.capabilities and "play" not in self.commands:
            raise fail(N_("capability play_url needs a 'play' command"))
        if SpeakerCapability.TTS_ON_DEVICE in self.capabilities and "say" not in self.commands:
            raise fail(N_("capability tts_on_device needs a 'say' command"))
        for i, message in enumerate(self.messages):
            _check_keys(message.fields, SPEAKER_KEYS, ("messages", i, "fields"))

    def commands_for(self, name: str) -> CommandSpec | None:
        """The command called ``name``, or None when the device cannot do it."""
        return self.commands.get(name)
