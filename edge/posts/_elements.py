"""Mutable, persistable state of the protection elements, and how each one moves through time.

Inputs are piecewise constant: a reading stands from its timestamp until the next reading of
the same quantity, for at most ``max_hold_s`` (a zero-order hold). Holding the last value
forward is causal: the time an element will operate is known as soon as a reading arrives, so
the daemon can wake up exactly then instead of waiting for a sample that may come 10 s later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pydantic import ConfigDict

from edge.posts._curves import (
    DROPOUT_RATIO,
    PICKUP_MULTIPLE,
    ResetMode,
    dependent_reset_time,
    operate_time,
)
from edge.posts._records import Latch  # noqa: TC001 - pydantic resolves field types at runtime

if TYPE_CHECKING:
    from edge.posts._limits import PortLimits

SAMPLES_KEPT = 10
"""Recent readings per port kept as evidence for an alert."""

# Restored state must not smuggle in NaN or inf: every comparison with them is False.
_FINITE = ConfigDict(allow_inf_nan=False)

Sample = tuple[float, float | None, float | None, float | None]
"""(ts, current_a, power_w, temp_c) as accepted; None where the reading lacked or failed it."""


@dataclass
class Held:
    """The last valid reading of one quantity."""

    __pydantic_config__: ClassVar[ConfigDict] = _FINITE

    value: float
    ts: float

    def at(self, t: float, max_hold_s: float) -> float | None:
        """Return the value if it still stands at ``t``, else None (stale)."""
        return self.value if t < self.ts + max_hold_s else None


def held_at(held: Held | None, t: float, max_hold_s: float) -> float | None:
    """Return the standing value of an optional reading at ``t``."""
    return None if held is None else held.at(t, max_hold_s)


@dataclass
class InverseTime:
    """IEC 60255-151 integrator: operates when the sum of dt/t(I) reaches 1."""

    __pydantic_config__: ClassVar[ConfigDict] = _FINITE

    accumulated: float = 0.0
    reset_elapsed_s: float = 0.0
    started_at: float | None = None

    def time_to_operate(self, limits: PortLimits, current_a: float) -> float:
        """Seconds until operation if ``current_a`` stays; inf if it does not grow."""
        t_op = operate_time(limits.curve, limits.tms, current_a / limits.rated_current_a)
        if math.isinf(t_op):
            return math.inf
        return max(0.0, (1.0 - self.accumulated) * t_op)

    def integrate(self, limits: PortLimits, current_a: float, t0: float, dt: float) -> None:
        """Advance by ``dt`` seconds at a constant ``current_a`` starting at ``t0``."""
        multiple = current_a / limits.rated_current_a
        if multiple >= PICKUP_MULTIPLE:
            if self.started_at is None:
                self.started_at = t0
            self.accumulated += dt / operate_time(limits.curve, limits.tms, multiple)
            self.reset_elapsed_s = 0.0
            return
        if multiple >= DROPOUT_RATIO or self.accumulated == 0.0:
            # Hysteresis band 0.95-1.1·Is: neither grow nor reset, so noise around Is
            # neither trips nor wipes out evidence of an overload.
            self.reset_elapsed_s = 0.0
            return
        if limits.reset_mode is ResetMode.DEPENDENT:
            t_r = dependent_reset_time(limits.tms, limits.tr_s, multiple)
            self.accumulated = max(0.0, self.accumulated - dt / t_r)
        else:
            self.reset_elapsed_s += dt
            if self.reset_elapsed_s >= limits.tr_s:
                self.accumulated = 0.0
        if self.accumulated == 0.0:
            self.clear()

    def clear(self) -> None:
        """Forget all accumulated overload."""
        self.accumulated = 0.0
        self.reset_elapsed_s = 0.0
        self.started_at = None


@dataclass
class DefiniteTime:
    """Definite-time element with a 0.95 dropout ratio.

    Picks up when the value exceeds the setting; once picked up it keeps timing until the value
    falls below 0.95 x setting, so a value wobbling around the setting cannot restart the timer
    forever. A stale input freezes the timer.
    """

    __pydantic_config__: ClassVar[ConfigDict] = _FINITE

    picked_at: float | None = None
    elapsed_s: float = 0.0
    peak: float = 0.0

    def update(self, value: float | None, setting: float, t: float) -> None:
        """Pick up or drop out on the value that stands from ``t`` on."""
        if value is None:
            return
        if self.picked_at is None:
            if value > setting:
                self.picked_at = t
                self.elapsed_s = 0.0
                self.peak = value
        elif value < DROPOUT_RATIO * setting:
            self.clear()
        else:
            self.peak = max(self.peak, value)

    def time_to_operate(self, delay_s: float) -> float:
        """Seconds until operation while picked up; inf otherwise."""
        if self.picked_at is None:
            return math.inf
        return max(0.0, delay_s - self.elapsed_s)

    def integrate(self, value: float | None, dt: float) -> None:
        """Advance the timer by ``dt`` if picked up on a standing value."""
        if self.picked_at is not None and value is not None:
            self.elapsed_s += dt

    def clear(self) -> None:
        """Drop out."""
        self.picked_at = None
        self.elapsed_s = 0.0
        self.peak = 0.0


@dataclass
class PortState:
    """Everything protection remembers about one port."""

    __pydantic_config__: ClassVar[ConfigDict] = _FINITE

    last_ts: float | None = None
    current: Held | None = None
    power: Held | None = None
    temp: Held | None = None
    inverse: InverseTime = field(default_factory=InverseTime)
    overpower: DefiniteTime = field(default_factory=DefiniteTime)
    overtemp: DefiniteTime = field(default_factory=DefiniteTime)
    latch: Latch | None = None
    cut_at: float | None = None
    seen_off_since_cut: bool = False
    samples: list[Sample] = field(default_factory=list)

    def clear_elements(self) -> None:
        """Start every element from zero (after a trip or a staff reset)."""
        self.inverse.clear()
        self.overpower.clear()
        self.overtemp.clear()

    def current_for_total(self, t: float, max_hold_s: float) -> float | None:
        """Standing current, ignoring readings from before this port's latch (it was cut)."""
        if self.current is None or (self.latch is not None and self.current.ts <= self.latch.at):
            return None
        return self.current.at(t, max_hold_s)

    def record(self, sample: Sample) -> None:
        """Keep the reading as evidence, newest last."""
        self.samples.append(sample)
        del self.samples[:-SAMPLES_KEPT]


@dataclass
class PostState:
    """Everything protection remembers about one post; persisted as JSON."""

    __pydantic_config__: ClassVar[ConfigDict] = _FINITE

    post: str
    version: int = 1
    cursor: float | None = None
    last_ts: float | None = None
    temp: Held | None = None
    total: DefiniteTime = field(default_factory=DefiniteTime)
    overtemp: DefiniteTime = field(default_factory=DefiniteTime)
    ports: dict[int, PortState] = field(default_factory=dict)
