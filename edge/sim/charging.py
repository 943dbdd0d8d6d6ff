"""E-bike charger curves on the AC side: constant current, exponential taper, full-charge trickle.

Pure and seeded: a :class:`ChargeSession` is a function of simulated elapsed time, so the curve
is reproducible and testable without a clock. Figures (AC side of a 48–72 V charger, 220 V supply):
constant current 1.5–2.5 A, a taper of 40–90 min down to a trickle of 0.05–0.12 A (≈ 10–25 W,
the float-charge reference power a real 10-port post's documentation gives is 15 W).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ChargePhase", "ChargeSession", "ChargerSpec", "random_charger"]

# --- Ranges a random charger is drawn from (simulated seconds, amps AC) ---
CC_CURRENT_A = (1.5, 2.5)
CC_DURATION_S = (30 * 60.0, 3 * 3600.0)  # depends on how empty the battery was
TAPER_DURATION_S = (40 * 60.0, 90 * 60.0)
TRICKLE_CURRENT_A = (0.05, 0.12)
# exp(-TAPER_SHAPE) of the CC-to-trickle gap is left at the end of the taper (≈ 2 %).
TAPER_SHAPE = 4.0


class ChargePhase(StrEnum):
    """Where a charging session is on its curve."""

    CC = "cc"
    TAPER = "taper"
    TRICKLE = "trickle"


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    """One charger on one battery: the shape of its curve.

    Attributes:
        cc_a: AC current in the constant-current phase, A.
        cc_s: Length of the constant-current phase, simulated seconds.
        taper_s: Length of the taper, simulated seconds.
        trickle_a: AC current of the full-charge trickle (float charge), A.
    """

    cc_a: float
    cc_s: float
    taper_s: float
    trickle_a: float

    def __post_init__(self) -> None:
        """Reject curves that cannot be charged along."""
        if not (self.cc_a > self.trickle_a > 0 and self.cc_s >= 0 and self.taper_s > 0):
            msg = f"not a charging curve: {self}"
            raise ValueError(msg)


def random_charger(rng: random.Random) -> ChargerSpec:
    """A charger drawn from the typical ranges (reproducible for a seeded ``rng``)."""
    return ChargerSpec(cc_a=rng.uniform(*CC_CURRENT_A), cc_s=rng.uniform(*CC_DURATION_S),
                       taper_s=rng.uniform(*TAPER_DURATION_S),
                       trickle_a=rng.uniform(*TRICKLE_CURRENT_A))


class ChargeSession:
    """A charger plugged into a port: its position on the curve, in simulated seconds."""

    def __init__(self, spec: ChargerSpec, elapsed_s: float = 0.0) -> None:
        self.spec = spec
        self.elapsed_s = elapsed_s

    def advance(self, dt_s: float) -> None:
        """Move along the curve by ``dt_s`` simulated seconds of charging."""
        self.elapsed_s += max(0.0, dt_s)

    @property
    def phase(self) -> ChargePhase:
        """The phase at the current position."""
        if self.elapsed_s < self.spec.cc_s:
            return ChargePhase.CC
        if self.elapsed_s < self.spec.cc_s + self.spec.taper_s:
            return ChargePhase.TAPER
        return ChargePhase.TRICKLE

    def current_a(self) -> float:
        """The charger's AC current at the current position, without noise."""
        return self.current_at(self.elapsed_s)

    def current_at(self, elapsed_s: float) -> float:
        """The charger's AC current ``elapsed_s`` simulated seconds after it started, A."""
        spec = self.spec
        if elapsed_s < spec.cc_s:
            return spec.cc_a
        into_taper = elapsed_s - spec.cc_s
        if into_taper < spec.taper_s:
            gap = spec.cc_a - spec.trickle_a
            return spec.trickle_a + gap * math.exp(-TAPER_SHAPE * into_taper / spec.taper_s)
        return spec.trickle_a
