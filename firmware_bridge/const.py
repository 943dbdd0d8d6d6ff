"""Constants of the serial bridge library: canonical keys, units, plausible ranges, timing."""

from __future__ import annotations

from enum import StrEnum


class CanonicalKey(StrEnum):
    """Canonical telemetry keys a register point can feed (spelled as in YAML)."""

    CURRENT_A = "current_a"
    POWER_W = "power_w"
    ENERGY_KWH = "energy_kwh"
    VOLTAGE_V = "voltage_v"
    TEMP_C = "temp_c"
    ON = "on"
    FREQUENCY_HZ = "frequency_hz"
    POWER_FACTOR = "power_factor"


# --- Units -----------------------------------------------------------------------------------
# One unit per canonical key; a point's `scale` converts the raw register to this unit.
CANONICAL_UNITS: dict[CanonicalKey, str] = {
    CanonicalKey.CURRENT_A: "A",
    CanonicalKey.POWER_W: "W",
    CanonicalKey.ENERGY_KWH: "kWh",
    CanonicalKey.VOLTAGE_V: "V",
    CanonicalKey.TEMP_C: "°C",
    CanonicalKey.ON: "",
    CanonicalKey.FREQUENCY_HZ: "Hz",
    CanonicalKey.POWER_FACTOR: "",
}

# --- Plausible ranges --------------------------------------------------------------------------
# A decoded value outside its range is a sensor fault and is left out of the reading, never
# published. Negative current or power is a fault too (docs/architecture.md, protection model).
# Bounds are loose on purpose: PZEM-004T measures up to 100 A, SDM120 up to 45 A; a post port
# carries a few amperes. A point may narrow them with `min`/`max`.
PLAUSIBLE_RANGES: dict[CanonicalKey, tuple[float, float]] = {
    CanonicalKey.CURRENT_A: (0.0, 100.0),
    CanonicalKey.POWER_W: (0.0, 26_000.0),
    CanonicalKey.ENERGY_KWH: (0.0, 10_000_000.0),
    CanonicalKey.VOLTAGE_V: (0.0, 500.0),
    CanonicalKey.TEMP_C: (-40.0, 150.0),
    CanonicalKey.ON: (0.0, 1.0),
    CanonicalKey.FREQUENCY_HZ: (0.0, 100.0),
    CanonicalKey.POWER_FACTOR: (-1.0, 1.0),
}

# Keys that belong to one circuit: on a single-circuit meter assigned to a post port they are
# reported as that port's values instead of post-level ones.
CIRCUIT_KEYS: frozenset[CanonicalKey] = frozenset(
    {CanonicalKey.CURRENT_A, CanonicalKey.POWER_W, CanonicalKey.ENERGY_KWH, CanonicalKey.ON},
)

# Keys measured for the whole post; a per-port reading has no field for them.
POST_LEVEL_KEYS: frozenset[CanonicalKey] = frozenset(
    {CanonicalKey.VOLTAGE_V, CanonicalKey.FREQUENCY_HZ, CanonicalKey.POWER_FACTOR},
)

# --- Modbus limits (Modbus Application Protocol V1.1b3, 6.1-6.4) --------------------------------
MAX_READ_REGISTERS = 125
MAX_READ_BITS = 2000
MAX_PORTS = 64

# --- Bus timing --------------------------------------------------------------------------------
# Modbus over serial line V1.02, 2.5.1.1: 3.5 character times between frames; above 19200 baud a
# fixed 1.75 ms is recommended.
INTER_FRAME_CHARS = 3.5
FIXED_GAP_ABOVE_BAUD = 19200
FIXED_INTER_FRAME_GAP_S = 0.00175
DEFAULT_TIMEOUT_S = 0.5

# --- Reopen backoff (serial port vanished) -----------------------------------------------------
REOPEN_INITIAL_S = 1.0
REOPEN_MAX_S = 60.0

# --- Logging -----------------------------------------------------------------------------------
# A repeated fault of one source and reason is logged at most once per interval.
LOG_INTERVAL_S = 60.0

# --- JSON-lines boards -------------------------------------------------------------------------
MAX_LINE_BYTES = 4096
JSONL_READ_CHUNK = 512
