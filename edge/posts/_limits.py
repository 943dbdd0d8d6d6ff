"""Protection settings of one port and one post, as typed values built from config.yaml."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from edge.posts._curves import CURVE_CONSTANTS, Curve, ResetMode

# --- Plausibility of readings (beyond these a reading is a sensor fault, never a value) ---
MAX_CURRENT_A = 100.0  # a 16 A post branch; a short is cleared by the MCB within 0.1 s
MAX_POWER_W = 25_000.0
MIN_TEMP_C = -55.0  # the range of common NTC/DS18B20 probes, widened upward for a fire
MAX_TEMP_C = 300.0

# --- Defaults for settings a profile usually leaves alone ---
DEFAULT_OVERPOWER_DELAY_S = 10.0
DEFAULT_OVERTEMP_DELAY_S = 5.0
DEFAULT_TOTAL_CURRENT_DELAY_S = 10.0
DEFAULT_MAX_HOLD_S = 15.0
"""Longest time one reading stands for when no newer one arrives (slowest posts send every 10 s)."""


def _check(obj: object, *, positive: tuple[str, ...], non_negative: tuple[str, ...]) -> None:
    """Raise ValueError naming the first numeric field that is non-finite or out of range."""
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if value is None or isinstance(value, str):
            continue
        if not math.isfinite(value):
            msg = f"{type(obj).__name__}.{f.name}: must be a finite number (got {value!r})"
            raise ValueError(msg)
        if f.name in positive and value <= 0:
            msg = f"{type(obj).__name__}.{f.name}: must be greater than 0 (got {value!r})"
            raise ValueError(msg)
        if f.name in non_negative and value < 0:
            msg = f"{type(obj).__name__}.{f.name}: must be at least 0 (got {value!r})"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class PortLimits:
    """Protection settings of one port.

    Attributes:
        rated_current_a: Setting current Is in A; the inverse-time element picks up at 1.1·Is.
        curve: IEC 60255-151 characteristic.
        tms: Time multiplier setting of the curve.
        instantaneous_a: Trip at once at or above this current in A (None: element off).
        overpower_w: Definite-time over-power setting in W (None: element off).
        overpower_delay_s: Seconds above ``overpower_w`` before a trip.
        overtemp_c: Definite-time port over-temperature setting in °C (None: element off).
        overtemp_delay_s: Seconds above ``overtemp_c`` before a trip.
        reset_mode: How the inverse-time accumulator resets below 0.95·Is.
        reset_tr_s: Reset constant tr in s. Dependent reset: a full accumulator decays in
            TMS·tr/(1 - M²). Definite reset: the accumulator is held for tr seconds (not scaled
            by TMS), then cleared. None: the curve's default (SI 9.7, VI 43.2, EI 58.2).
    """

    rated_current_a: float
    curve: Curve
    tms: float
    instantaneous_a: float | None = None
    overpower_w: float | None = None
    overpower_delay_s: float = DEFAULT_OVERPOWER_DELAY_S
    overtemp_c: float | None = None
    overtemp_delay_s: float = DEFAULT_OVERTEMP_DELAY_S
    reset_mode: ResetMode = ResetMode.DEPENDENT
    reset_tr_s: float | None = None

    def __post_init__(self) -> None:
        """Reject settings no protection element can work with."""
        _check(
            self,
            positive=("rated_current_a", "tms", "instantaneous_a", "overpower_w", "reset_tr_s"),
            non_negative=("overpower_delay_s", "overtemp_delay_s"),
        )
        if self.instantaneous_a is not None and self.instantaneous_a <= self.rated_current_a:
            msg = (
                "PortLimits.instantaneous_a: must be above rated_current_a "
                f"(got {self.instantaneous_a!r} <= {self.rated_current_a!r})"
            )
            raise ValueError(msg)

    @property
    def tr_s(self) -> float:
        """The reset constant in effect (explicit or the curve's default)."""
        if self.reset_tr_s is not None:
            return self.reset_tr_s
        return CURVE_CONSTANTS[self.curve].tr


@dataclass(frozen=True, slots=True)
class PostLimits:
    """Protection settings of a whole post.

    Attributes:
        total_current_a: Definite-time limit of the sum of port currents in A (None: off).
        total_current_delay_s: Seconds above ``total_current_a`` before ports are shed.
        overtemp_c: Definite-time post (enclosure) temperature limit in °C (None: off).
        overtemp_delay_s: Seconds above ``overtemp_c`` before every port is cut.
        max_hold_s: Longest time one reading stands for. After that the reading is stale:
            elements neither grow nor reset until a newer reading arrives (silence is the
            daemon's "post offline" alert, not a trip).
        max_current_a: Plausibility ceiling of a port current in A (the meter's range). A
            reading above it is a sensor fault; if it is also at or above the instantaneous
            setting the port is cut all the same (fail safe: the breaker may not have acted).
    """

    total_current_a: float | None = None
    total_current_delay_s: float = DEFAULT_TOTAL_CURRENT_DELAY_S
    overtemp_c: float | None = None
    overtemp_delay_s: float = DEFAULT_OVERTEMP_DELAY_S
    max_hold_s: float = DEFAULT_MAX_HOLD_S
    max_current_a: float = MAX_CURRENT_A

    def __post_init__(self) -> None:
        """Reject settings no protection element can work with."""
        _check(
            self,
            positive=("total_current_a", "max_hold_s", "max_current_a"),
            non_negative=("total_current_delay_s", "overtemp_delay_s"),
        )
