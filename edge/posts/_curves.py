"""IEC 60255-151 dependent-time curves: operate time, reset time and their constants."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple

# --- Ratios of the setting current Is (IEC 60255-151; see reliability.md §1.1, §1.3) ---
PICKUP_MULTIPLE = 1.1
"""The inverse-time element starts timing at or above this multiple of Is."""
DROPOUT_RATIO = 0.95
"""Elements reset only below this fraction of their setting (reset ratio > 95 %)."""
MAX_MULTIPLE = 20.0
"""Above this multiple of Is the operate time is clamped to its value at 20x."""


class Curve(StrEnum):
    """IEC 60255-151 dependent-time characteristic, spelled as in config.yaml."""

    SI = "SI"
    """Standard (normal) inverse, "IEC A"."""
    VI = "VI"
    """Very inverse, "IEC B"."""
    EI = "EI"
    """Extremely inverse, "IEC C"."""


class ResetMode(StrEnum):
    """How the inverse-time accumulator falls back once current is below 0.95·Is."""

    DEPENDENT = "dependent"
    """Decay at rate (1 - M²)/(TMS·tr): the electromechanical-disk emulation."""
    DEFINITE = "definite"
    """Hold the accumulated value for tr seconds, then clear it at once."""


class CurveConstants(NamedTuple):
    """Constants of one curve: t = TMS·k/(M^alpha - 1), reset t_r = TMS·tr/(1 - M²)."""

    k: float
    alpha: float
    tr: float


# k and alpha are the IEC 60255-151 values. The standard leaves tr to the vendor; these are
# GE F650's IEC A/B/C reset constants (reliability.md §1.2). They are in the same range as the
# operate times, so a pulsing load cools off slower than it heats up and cannot evade a trip.
CURVE_CONSTANTS: dict[Curve, CurveConstants] = {
    Curve.SI: CurveConstants(k=0.14, alpha=0.02, tr=9.7),
    Curve.VI: CurveConstants(k=13.5, alpha=1.0, tr=43.2),
    Curve.EI: CurveConstants(k=80.0, alpha=2.0, tr=58.2),
}


def operate_time(curve: Curve, tms: float, multiple: float) -> float:
    """Return the IEC 60255-151 operate time for a constant current.

    Args:
        curve: The characteristic.
        tms: Time multiplier setting.
        multiple: I/Is. Values above 20 are clamped to 20.

    Returns:
        Seconds until operation, or ``math.inf`` below the 1.1·Is pickup.
    """
    if multiple < PICKUP_MULTIPLE:
        return math.inf
    k, alpha, _ = CURVE_CONSTANTS[curve]
    m = min(multiple, MAX_MULTIPLE)
    return tms * k / (math.pow(m, alpha) - 1.0)


def dependent_reset_time(tms: float, tr: float, multiple: float) -> float:
    """Return the time a full accumulator takes to reset at a constant current.

    Args:
        tms: Time multiplier setting.
        tr: Reset constant of the curve, in seconds (at TMS = 1 and zero current).
        multiple: I/Is; must be below the 0.95 dropout ratio.

    Returns:
        Seconds, t_r = TMS·tr/(1 - M²); ``math.inf`` at or above the dropout ratio.
    """
    if multiple >= DROPOUT_RATIO:
        return math.inf
    return tms * tr / (1.0 - multiple * multiple)
