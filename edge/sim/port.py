"""One port of a virtual post: charger plugged or not, relay, meter, temperature, injected faults.

Two clocks drive it: simulated seconds (charging curves, residents plugging in and out: these
may be time-compressed for the demo) and real seconds (load faults and heating, which protection
curves judge in real time). All randomness comes from the port's own seeded RNG.
"""

from __future__ import annotations

import math
import random

from edge.sim.charging import ChargePhase, ChargerSpec, ChargeSession, random_charger
from edge.sim.device import PortReport
from edge.sim.faults import LOAD_KINDS, Fault, FaultKind, GarbageKind

__all__ = ["RATED_A", "VirtualPort"]

# --- Port ratings (a 10-port post caps a port near 800–1000 W: device-protocols.md §4.2) ---
RATED_A = 3.0
# --- Residents (simulated seconds) ---
MEAN_IDLE_S = 4 * 3600.0         # an empty port gets a charger after this long on average
MEAN_STAY_AFTER_FULL_S = 60 * 60.0
MEAN_NOTICE_OFF_S = 20 * 60.0    # a resident whose port was cut off unplugs after this long
EARLY_UNPLUG_SHARE = 0.1         # residents who take the bike before the battery is full
EARLY_UNPLUG_MIN_S = 10 * 60.0
BUSY_AT_START_SHARE = 0.5        # ports that already charge when the simulator starts
# --- Meter and heat ---
NOISE = 0.01                     # relative standard deviation of a current reading
FAULT_POWER_FACTOR = 0.95
THERMAL_TAU_S = 120.0            # real seconds for a port to settle at a new temperature
HEATING_C_PER_A2 = 0.6           # temperature rise at steady state per A², °C
# --- Sensor garbage values, by kind ---
ABSURD_A = 4000.0


class VirtualPort:
    """One charging port; :meth:`advance` moves it on, :meth:`report` reads its meter.

    Args:
        number: canonical port number, from 1.
        rng: this port's own random source (seeded by the post).
        ambient_c: air temperature at the post.
        busy: start with a charger somewhere on its curve (None: by chance).
    """

    def __init__(self, number: int, rng: random.Random, *, ambient_c: float = 25.0,
                 busy: bool | None = None) -> None:
        self.number = number
        self.rng = rng
        self.rated_a = RATED_A
        self.ambient_c = ambient_c
        self.relay_on = True
        self.session: ChargeSession | None = None
        self.plugged_s = 0.0
        self.leave_after_s = math.inf
        self.idle_for_s = rng.expovariate(1 / MEAN_IDLE_S)
        self.energy_kwh = rng.uniform(5.0, 80.0)
        self.temp_c = ambient_c
        self.current_a = 0.0
        self.power_factor = 0.0
        self.load_fault: Fault | None = None
        self.load_since = 0.0
        self.stuck = False
        self.garbage: Fault | None = None
        self.device_error: str | None = None
        self._garbage_turn = 0
        self._noticed_off = False
        if busy if busy is not None else rng.random() < BUSY_AT_START_SHARE:
            spec = random_charger(rng)
            self.plug_in(spec, rng.uniform(0.0, spec.cc_s + spec.taper_s * 1.5))

    # -- residents -------------------------------------------------------------------------------

    def plug_in(self, spec: ChargerSpec | None = None, elapsed_s: float = 0.0) -> None:
        """A resident plugs a charger in (random unless given), ``elapsed_s`` into its curve."""
        spec = spec or random_charger(self.rng)
        self.session = ChargeSession(spec, elapsed_s)
        self.plugged_s = 0.0
        self._noticed_off = False
        if self.rng.random() < EARLY_UNPLUG_SHARE:
            self.leave_after_s = self.rng.uniform(EARLY_UNPLUG_MIN_S,
                                                  max(EARLY_UNPLUG_MIN_S, spec.cc_s))
        else:
            remaining = max(0.0, spec.cc_s + spec.taper_s - elapsed_s)
            self.leave_after_s = remaining + self.rng.expovariate(1 / MEAN_STAY_AFTER_FULL_S)

    def unplug(self) -> None:
        """The resident takes the bike."""
        self.session = None
        self.idle_for_s = self.rng.expovariate(1 / MEAN_IDLE_S)

    def keep_plugged(self) -> None:
        """Nobody unplugs or plugs in this port any more (tests that follow one curve)."""
        self.leave_after_s = math.inf
        self.idle_for_s = math.inf

    # -- relay -------------------------------------------------------------------------------------

    @property
    def conducting(self) -> bool:
        """Current can flow: the relay is closed, or welded shut."""
        return self.relay_on or self.stuck

    def switch(self, on: bool | None) -> bool:
        """Set the relay as commanded (None = toggle); returns whether it was on."""
        was_on = self.relay_on
        self.relay_on = (not was_on) if on is None else on
        if self.relay_on:
            self.device_error = None  # Shelly: an error clears on the next switch on
            self._noticed_off = False
        return was_on

    def trip(self, error: str) -> None:
        """The device's own protection opens the relay (a welded one stays shut)."""
        self.device_error = error
        self.relay_on = False

    # -- faults ------------------------------------------------------------------------------------

    def apply(self, fault: Fault, now: float) -> None:
        """Start a port fault at real time ``now`` (``clear`` ends every fault of the port)."""
        if fault.kind in LOAD_KINDS:
            self.load_fault, self.load_since = fault, now
        elif fault.kind is FaultKind.STUCK_RELAY:
            self.stuck = True
        elif fault.kind is FaultKind.GARBAGE:
            self.garbage, self._garbage_turn = fault, 0
        elif fault.kind is FaultKind.CLEAR:
            self.load_fault, self.stuck, self.garbage = None, False, None

    # -- time --------------------------------------------------------------------------------------

    def advance(self, sim_dt: float, real_dt: float, now: float, voltage_v: float) -> None:
        """Move on by ``sim_dt`` simulated and ``real_dt`` real seconds; ``now`` is epoch time."""
        self._residents(sim_dt)
        session = self.session
        base = session.current_a() if session is not None and self.conducting else 0.0
        current = base
        if self.load_fault is not None and self.conducting:
            current = self.load_fault.load_current_a(base, self.rated_a, now - self.load_since)
            self.power_factor = FAULT_POWER_FACTOR
        elif base > 0:
            self.power_factor = 0.985 if session and session.phase is not ChargePhase.TRICKLE \
                else 0.9
        else:
            self.power_factor = 0.0
        if current > 0:
            current = max(0.0, current * (1 + self.rng.gauss(0.0, NOISE)))
        self.current_a = current
        self.energy_kwh += voltage_v * current * self.power_factor * sim_dt / 3.6e6
        target = self.ambient_c + HEATING_C_PER_A2 * current**2
        self.temp_c += (target - self.temp_c) * (1 - math.exp(-max(0.0, real_dt) / THERMAL_TAU_S))

    def _residents(self, sim_dt: float) -> None:
        if self.session is None:
            self.idle_for_s -= sim_dt
            if self.idle_for_s <= 0:
                self.plug_in()
            return
        self.plugged_s += sim_dt
        if self.conducting:
            self.session.advance(sim_dt)
        elif not self._noticed_off:
            self._noticed_off = True
            notice = self.plugged_s + self.rng.expovariate(1 / MEAN_NOTICE_OFF_S)
            self.leave_after_s = min(self.leave_after_s, notice)
        if self.plugged_s >= self.leave_after_s:
            self.unplug()

    # -- meter -------------------------------------------------------------------------------------

    def status(self) -> str:
        """idle, charging, full, off or fault."""
        if self.device_error:
            return "fault"
        if not self.relay_on:
            return "off"
        if self.session is None:
            return "idle"
        return "full" if self.session.phase is ChargePhase.TRICKLE else "charging"

    def report(self, voltage_v: float, garbage: GarbageKind | None = None, *,
               honest: bool = False) -> PortReport:
        """The meter reading; garbage (of this port or of the whole post) replaces the current.

        ``honest`` leaves garbage out: what the device's own protection circuit measures.
        """
        current: object = round(self.current_a, 3)
        power: object = round(voltage_v * self.current_a * self.power_factor, 1)
        kind = None if honest else garbage or self._next_garbage()
        if kind is GarbageKind.NAN:
            current = math.nan
        elif kind is GarbageKind.STRING:
            current = "ERR"
        elif kind is GarbageKind.NEGATIVE:
            current, power = -abs(self.current_a or 1.7), -abs(float(power) or 370.0)  # type: ignore[arg-type]
        elif kind is GarbageKind.ABSURD:
            current = ABSURD_A
        return PortReport(port=self.number, current_a=current, power_w=power,
                          voltage_v=round(voltage_v, 1), energy_kwh=round(self.energy_kwh, 3),
                          on=self.relay_on, temp_c=round(self.temp_c, 1), status=self.status(),
                          device_error=self.device_error,
                          welded=self.stuck and not self.relay_on and self.current_a > 0,
                          power_factor=self.power_factor)

    def _next_garbage(self) -> GarbageKind | None:
        if self.garbage is None:
            return None
        kinds = self.garbage.garbage_kinds()
        kind = kinds[self._garbage_turn % len(kinds)]
        self._garbage_turn += 1
        return kind
