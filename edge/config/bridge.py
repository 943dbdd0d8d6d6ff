"""``bridge:`` — the serial lines `gridedge bridge` polls and the posts their devices belong to.

A line (bus) is one serial port: a device path such as ``/dev/ttyUSB0`` or a URL pyserial opens
(``rfc2217://host:port``, ``socket://host:port``). It speaks one protocol: Modbus RTU (many
slaves, each with a register map from ``device_profiles/serial/``) or JSON lines (one DIY board).
"""

from __future__ import annotations

import functools
from enum import StrEnum
from importlib import resources
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from edge.config.base import DeviceId, PostRef, StrictModel, closest, fail
from edge.i18n import N_

__all__ = [
    "BridgeBusConfig",
    "BridgeConfig",
    "BridgeDeviceConfig",
    "BridgeProtocol",
    "Parity",
    "serial_map_ids",
]

# URL schemes pyserial's serial_for_url understands (serial/urlhandler/protocol_<scheme>.py).
SERIAL_URL_SCHEMES = ("rfc2217", "socket", "loop", "spy", "alt", "hwgrep", "cp2110")


class BridgeProtocol(StrEnum):
    """What a serial line speaks, spelled as in YAML."""

    MODBUS = "modbus"
    JSONLINES = "jsonlines"


class Parity(StrEnum):
    """Serial parity, spelled as in YAML."""

    NONE = "none"
    EVEN = "even"
    ODD = "odd"

    @property
    def letter(self) -> str:
        """pyserial's spelling: N, E or O."""
        return self.value[0].upper()


@functools.cache
def serial_map_ids() -> frozenset[str]:
    """Ids of the register maps shipped in ``device_profiles/serial/`` (the file names)."""
    folder = resources.files("device_profiles").joinpath("serial")
    return frozenset(e.name.removesuffix(".yaml") for e in folder.iterdir()
                     if e.name.endswith(".yaml"))


def _serial_profile(value: str, info: ValidationInfo) -> str:
    names = (info.context or {}).get("serial_profiles")
    known = serial_map_ids() if names is None else frozenset(names)
    if value in known:
        return value
    msg = N_("there is no serial register map '{name}'")
    hint = closest(value, known)
    if hint is not None:
        raise fail(N_("{msg}; did you mean '{hint}'?"), msg=msg, hint=hint, name=value)
    raise fail(N_("{msg}; known: {known}"), msg=msg, known=", ".join(sorted(known)) or "-",
               name=value)


SerialProfileRef = Annotated[str, AfterValidator(_serial_profile)]


def _serial_port(value: str) -> str:
    scheme, sep, _rest = value.partition("://")
    if not sep:
        return value
    if scheme not in SERIAL_URL_SCHEMES:
        hint = closest(scheme, SERIAL_URL_SCHEMES)
        raise fail(N_("'{scheme}://' is not a serial URL; use a device path such as /dev/ttyUSB0 "
                      "or one of {known}"),
                   scheme=scheme, known=", ".join(f"{s}://" for s in (
                       [hint] if hint else SERIAL_URL_SCHEMES[:2])))
    return value


SerialPort = Annotated[str, Field(min_length=1), AfterValidator(_serial_port)]


class BridgeDeviceConfig(StrictModel):
    """One device on a serial line: a post board, a meter on one port, or a DIY board."""

    post: PostRef = Field(description="the charging post (id or name from posts:) it belongs to")
    profile: SerialProfileRef | None = Field(
        default=None, description="register map id from device_profiles/serial/ (Modbus only), "
        "e.g. ebike-post-10")
    slave: int | None = Field(default=None, ge=1, le=247,
                              description="Modbus slave address on the line, 1..247 (Modbus only)")
    port: int | None = Field(default=None, ge=1, le=64,
                             description="for a single-circuit meter: the post port it measures")
    poll_interval_s: float = Field(default=2.0, ge=0.1, le=3600,
                                   description="time between two polls of this device, seconds")


class BridgeBusConfig(StrictModel):
    """One serial line (RS-485 adapter, USB board, or a serial server reached by URL)."""

    port: SerialPort = Field(description="serial device path (/dev/ttyUSB0, "
                             "/dev/serial/by-id/...) or rfc2217:// / socket:// URL")
    protocol: BridgeProtocol = Field(default=BridgeProtocol.MODBUS,
                                     description="modbus (Modbus RTU) or jsonlines (DIY board)")
    baudrate: int = Field(default=9600, ge=300, le=921_600, description="line speed, bit/s")
    parity: Parity = Field(default=Parity.NONE, description="parity: none, even or odd")
    stopbits: Literal[1, 2] = Field(default=1, description="stop bits: 1 or 2")
    timeout_s: float = Field(default=0.5, ge=0.05, le=10,
                             description="how long to wait for an answer, seconds")
    devices: dict[DeviceId, BridgeDeviceConfig] = Field(
        min_length=1, description="device name → settings")

    @model_validator(mode="after")
    def _check_devices(self) -> Self:
        """Each Modbus device has a map and its own slave address; a DIY board is alone."""
        if self.protocol is BridgeProtocol.JSONLINES:
            if len(self.devices) > 1:
                raise fail(N_("a jsonlines line has one board; give each board its own line"),
                           at=("devices",))
            for name, device in self.devices.items():
                if device.profile is not None or device.slave is not None:
                    key = "profile" if device.profile is not None else "slave"
                    raise fail(N_("'{key}' is only for Modbus devices; remove it"),
                               at=("devices", name, key), key=key)
            return self
        seen: dict[int, str] = {}
        for name, device in self.devices.items():
            for key in ("profile", "slave"):
                if getattr(device, key) is None:
                    raise fail(N_("this setting is required; add '{key}:'"),
                               at=("devices", name), key=key)
            assert device.slave is not None
            if device.slave in seen:
                raise fail(N_("slave address {slave} is also used by '{other}' on this line; "
                              "each device needs its own"),
                           at=("devices", name, "slave"), slave=device.slave,
                           other=seen[device.slave])
            seen[device.slave] = name
        return self


class BridgeConfig(StrictModel):
    """The serial bridge: lines, their devices, and when a silent post counts as offline."""

    offline_after_polls: int = Field(default=3, ge=1, le=100,
                                     description="failed polls in a row before a post is offline")
    buses: dict[DeviceId, BridgeBusConfig] = Field(min_length=1,
                                                   description="line name → serial settings")

    @model_validator(mode="after")
    def _one_line_per_port(self) -> Self:
        """Two lines cannot share one serial port."""
        seen: dict[str, str] = {}
        for name, bus in self.buses.items():
            if bus.port in seen:
                raise fail(N_("serial port {port} is also used by line '{other}'"),
                           at=("buses", name, "port"), port=bus.port, other=seen[bus.port])
            seen[bus.port] = name
        return self

    def devices(self) -> list[tuple[str, BridgeBusConfig, str, BridgeDeviceConfig]]:
        """Every (line name, line, device name, device), in file order."""
        return [(bus_name, bus, name, device) for bus_name, bus in self.buses.items()
                for name, device in bus.devices.items()]
