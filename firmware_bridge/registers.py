"""Typed Modbus register maps (`device_profiles/serial/*.yaml`), validated by pydantic."""

from __future__ import annotations

import math
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from firmware_bridge._map_rules import map_problems
from firmware_bridge.const import (
    CANONICAL_UNITS,
    MAX_PORTS,
    MAX_READ_BITS,
    MAX_READ_REGISTERS,
    POST_LEVEL_KEYS,
    CanonicalKey,
)

ADDRESS_SPACE = 0x10000
Address = Annotated[int, Field(strict=True, ge=0, le=0xFFFF)]
PortNumber = Annotated[int, Field(strict=True, ge=1, le=MAX_PORTS)]


class StrictModel(BaseModel):
    """Base of every map model: unknown keys are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FunctionCode(IntEnum):
    """Modbus read function code of a point (YAML: the number)."""

    COILS = 1
    DISCRETE_INPUTS = 2
    HOLDING_REGISTERS = 3
    INPUT_REGISTERS = 4

    @property
    def is_bits(self) -> bool:
        """True for coils and discrete inputs (one bit per address)."""
        return self in (FunctionCode.COILS, FunctionCode.DISCRETE_INPUTS)


class RegisterType(StrEnum):
    """How the 16-bit registers of one value are read."""

    U16 = "u16"
    S16 = "s16"
    U32 = "u32"
    S32 = "s32"
    F32 = "f32"

    @property
    def width(self) -> int:
        """Registers per value."""
        return 1 if self in (RegisterType.U16, RegisterType.S16) else 2


class Order(StrEnum):
    """Byte or word order: `big` = most significant first."""

    BIG = "big"
    LITTLE = "little"


class RegisterPoint(StrictModel):
    """One quantity (or a run of per-port quantities) read from a device."""

    key: CanonicalKey = Field(
        description="Canonical telemetry key the value feeds: current_a, power_w, energy_kwh, "
        "voltage_v, temp_c, on, frequency_hz or power_factor.",
    )
    function: FunctionCode = Field(
        description="Modbus read function code: 3 holding registers, 4 input registers, "
        "1 coils, 2 discrete inputs.",
    )
    address: Address = Field(
        description="Protocol address of the first register or bit (0-based, 0..65535; "
        "the register 30001 of a datasheet is address 0).",
    )
    type: RegisterType | None = Field(
        default=None,
        description="Value type for function codes 3 and 4: u16, s16 (one register), u32, s32, "
        "f32 (two registers). Leave out for coils and discrete inputs.",
    )
    count: int = Field(
        default=1,
        strict=True,
        ge=1,
        le=MAX_PORTS,
        description="Number of consecutive values of this type; value i belongs to port "
        "`port + i`. More than 1 needs `port`.",
    )
    word_order: Order = Field(
        default=Order.BIG,
        description="Order of the two registers of a 32-bit value: big = high word first, "
        "little = low word first (PZEM-004T).",
    )
    byte_order: Order = Field(
        default=Order.BIG,
        description="Order of the two bytes inside each register: big is the Modbus standard.",
    )
    scale: float = Field(
        default=1.0,
        description="Multiplier from the raw number to `unit`, e.g. 0.1 for a register in 0.1 V.",
    )
    unit: str | None = Field(
        default=None,
        description="Unit after scaling; must be the canonical unit of `key` (A, W, kWh, V, °C, "
        "Hz, or empty for on and power_factor). Leave out to take the canonical unit.",
    )
    port: PortNumber | None = Field(
        default=None,
        description="Post port number (1-based) of a per-port value; leave out for a "
        "post-level value.",
    )
    min: float | None = Field(
        default=None,
        description="Lowest plausible value in `unit`; a value below is a sensor fault and is "
        "dropped. Default: the canonical range of `key`.",
    )
    max: float | None = Field(
        default=None,
        description="Highest plausible value in `unit`; a value above is a sensor fault and is "
        "dropped. Default: the canonical range of `key`.",
    )
    note: str | None = Field(default=None, description="Free text: where this register comes from.")

    @model_validator(mode="after")
    def _check(self) -> Self:  # noqa: C901, PLR0912 - one plain rule per branch
        if self.function.is_bits:
            if self.type is not None:
                msg = "type is only for function codes 3 and 4; coils and inputs are bits"
                raise ValueError(msg)
            if self.key is not CanonicalKey.ON:
                msg = "function codes 1 and 2 read bits, so key must be 'on'"
                raise ValueError(msg)
        elif self.type is None:
            msg = "function codes 3 and 4 need a type (u16, s16, u32, s32 or f32)"
            raise ValueError(msg)
        if self.word_order is Order.LITTLE and self.width != 2:  # noqa: PLR2004
            msg = "word_order only applies to 32-bit types (u32, s32, f32)"
            raise ValueError(msg)
        if not math.isfinite(self.scale) or self.scale == 0:
            msg = f"scale must be a finite number other than 0 (got {self.scale})"
            raise ValueError(msg)
        canonical = CANONICAL_UNITS[self.key]
        if self.unit is not None and self.unit != canonical:
            msg = f"unit of {self.key} must be {canonical!r} (got {self.unit!r})"
            raise ValueError(msg)
        if self.key is CanonicalKey.ON and self.port is None:
            msg = "key 'on' is a port's relay state; set port"
            raise ValueError(msg)
        if self.key in POST_LEVEL_KEYS and self.port is not None:
            msg = f"{self.key} is measured for the whole post; leave out port"
            raise ValueError(msg)
        if self.count > 1 and self.port is None:
            msg = "count above 1 maps values to ports port, port+1, ...; set port"
            raise ValueError(msg)
        if self.port is not None and self.port + self.count - 1 > MAX_PORTS:
            msg = f"ports {self.port}..{self.port + self.count - 1} go past port {MAX_PORTS}"
            raise ValueError(msg)
        if self.address + self.span > ADDRESS_SPACE:
            msg = "the point runs past address 65535"
            raise ValueError(msg)
        if self.min is not None and self.max is not None and self.min >= self.max:
            msg = f"min must be below max (got {self.min} >= {self.max})"
            raise ValueError(msg)
        return self

    @property
    def width(self) -> int:
        """Registers (or bits) per value."""
        return 1 if self.type is None else self.type.width

    @property
    def span(self) -> int:
        """Registers (or bits) the point covers."""
        return self.width * self.count

    @property
    def end(self) -> int:
        """First address after the point."""
        return self.address + self.span

    def port_of(self, index: int) -> int | None:
        """Return the port of value `index` (None for a post-level point)."""
        return None if self.port is None else self.port + index


class RelayBlock(StrictModel):
    """Consecutive relay coils, one per port: written (function 5) to cut a port off."""

    port: PortNumber = Field(description="Port switched by the first coil (1-based).")
    address: Address = Field(description="Coil address of the first port (0-based).")
    count: int = Field(
        default=1, strict=True, ge=1, le=MAX_PORTS, description="Number of consecutive ports."
    )
    note: str | None = Field(default=None, description="Free text.")

    @property
    def ports(self) -> range:
        """Ports covered by this block."""
        return range(self.port, self.port + self.count)


class RegisterMap(StrictModel):
    """A device model's Modbus RTU register map: one `device_profiles/serial/*.yaml` file."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Profile id the config refers to (lowercase letters, digits, dashes).",
    )
    vendor: str = Field(min_length=1, description="Manufacturer name.")
    model: str = Field(min_length=1, description="Model name.")
    version: int = Field(strict=True, ge=1, description="Version of this profile file.")
    note: str | None = Field(default=None, description="Sources, firmware, quirks.")
    default_baudrate: int | None = Field(
        default=None,
        strict=True,
        ge=300,
        le=921_600,
        description="Factory baud rate in bit/s (information for installers).",
    )
    default_slave: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=247,
        description="Factory slave address (information for installers).",
    )
    ports: int = Field(
        default=0,
        strict=True,
        ge=0,
        le=MAX_PORTS,
        description="Number of post ports; 0 for a single-circuit meter.",
    )
    max_read_registers: int = Field(
        default=MAX_READ_REGISTERS,
        strict=True,
        ge=1,
        le=MAX_READ_REGISTERS,
        description="Most registers the device returns in one read request (Modbus limit 125).",
    )
    max_read_bits: int = Field(
        default=MAX_READ_BITS,
        strict=True,
        ge=1,
        le=MAX_READ_BITS,
        description="Most coils or discrete inputs in one read request (Modbus limit 2000).",
    )
    max_gap: int = Field(
        default=0,
        strict=True,
        ge=0,
        le=MAX_READ_REGISTERS,
        description="Unmapped registers (or bits) a batched read may span to save a request; "
        "0 unless the device is known to answer reads over unused addresses.",
    )
    points: tuple[RegisterPoint, ...] = Field(
        default=(), description="Quantities to read on every poll."
    )
    relays: tuple[RelayBlock, ...] = Field(
        default=(), description="Relay coils per port, for cut-off; their state is polled too."
    )

    @model_validator(mode="after")
    def _check_map(self) -> Self:
        # Rules across points live in _map_rules so each problem keeps its own location.
        if problems := map_problems(self):
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def read_points(self) -> tuple[RegisterPoint, ...]:
        """Return every point to poll: the map's points plus the relay coils as `on` points."""
        relay_points = tuple(
            RegisterPoint(
                key=CanonicalKey.ON,
                function=FunctionCode.COILS,
                address=block.address,
                count=block.count,
                port=block.port,
            )
            for block in self.relays
        )
        return self.points + relay_points

    def relay_address(self, port: int) -> int | None:
        """Return the coil address that switches `port`, or None if the map has none."""
        for block in self.relays:
            if port in block.ports:
                return block.address + (port - block.port)
        return None


def load_register_map(path: Path) -> RegisterMap:
    """Read and validate one register-map YAML file (no line numbers: edge/ adds those).

    Raises:
        pydantic.ValidationError: the file does not describe a valid map.
        OSError, yaml.YAMLError: the file cannot be read or parsed.
    """
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return RegisterMap.model_validate(data)
