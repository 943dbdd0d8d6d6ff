"""Charging curves and residents over simulated time: constant current, taper, trickle, unplug."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

from edge.sim.charging import ChargePhase, ChargerSpec, ChargeSession, random_charger
from edge.sim.port import VirtualPort
from edge.sim.posts import PostSimulator, SimOptions
from tests.broker.harness import Broker
from tests.sim.simkit import RawProbe, port_values, site_with_three_vendors

SPEC = ChargerSpec(cc_a=2.0, cc_s=3600.0, taper_s=3600.0, trickle_a=0.08)
MINUTE = 60.0


def _phases(currents: list[float]) -> tuple[list[float], list[float], list[float]]:
    """Split a series into the constant part, the falling part and the flat low end."""
    cc = [c for c in currents if c > 1.9]  # noqa: PLR2004
    trickle = [c for c in currents if c < 0.1]  # noqa: PLR2004
    taper = [c for c in currents if 0.1 <= c <= 1.9]  # noqa: PLR2004
    return cc, taper, trickle


def test_a_session_goes_constant_current_then_taper_then_trickle() -> None:
    """Test that a charger's current is flat, then falls steadily, then stays at a trickle."""
    session = ChargeSession(SPEC)
    seen = []
    for _ in range(int(3 * 3600 / MINUTE)):
        seen.append((session.phase, session.current_a()))
        session.advance(MINUTE)
    phases = [p for p, _ in seen]
    assert phases == sorted(phases, key=[ChargePhase.CC, ChargePhase.TAPER,
                                         ChargePhase.TRICKLE].index)
    cc = [c for p, c in seen if p is ChargePhase.CC]
    taper = [c for p, c in seen if p is ChargePhase.TAPER]
    trickle = [c for p, c in seen if p is ChargePhase.TRICKLE]
    assert set(cc) == {2.0}
    assert all(a > b for a, b in zip(taper, taper[1:], strict=False))
    assert taper[0] > 1.9 and taper[-1] < 0.15  # noqa: PLR2004 - no jump at either end
    assert set(trickle) == {0.08}


def test_random_chargers_draw_typical_e_bike_currents_reproducibly() -> None:
    """Test that chargers draw 1.5–2.5 A and trickle under 0.15 A, the same for the same seed."""
    first = [random_charger(random.Random(f"7:{n}")) for n in range(50)]
    again = [random_charger(random.Random(f"7:{n}")) for n in range(50)]
    assert first == again
    assert all(1.5 <= c.cc_a <= 2.5 and 0.05 <= c.trickle_a <= 0.12 for c in first)  # noqa: PLR2004


def test_a_port_charges_a_bike_then_the_resident_unplugs() -> None:
    """Test that a port's meter shows CC, taper, trickle, then idle, with energy counting up."""
    port = VirtualPort(1, random.Random("seed"), busy=False)
    port.plug_in(SPEC)
    energy_before = port.energy_kwh
    currents, statuses = [], []
    for minute in range(24 * 60):
        port.advance(MINUTE, 0.0, 1_800_000_000.0 + minute * MINUTE, 220.0)
        reading = port.report(220.0)
        currents.append(reading.current_a)
        statuses.append(reading.status)
        if reading.status == "idle":
            break
    assert statuses[-1] == "idle" and "full" in statuses and statuses[0] == "charging"
    cc, taper, trickle = _phases(currents[:-1])
    assert len(cc) >= 50 and len(taper) >= 30 and trickle  # noqa: PLR2004 - about an hour each
    assert currents.index(taper[0]) > currents.index(cc[-1]) - 5  # noqa: PLR2004 - order
    # 2 A at 220 V for an hour, then the taper: a little over 0.4 kWh, well under 1 kWh.
    assert 0.4 < port.energy_kwh - energy_before < 1.0  # noqa: PLR2004


def test_relay_off_stops_the_current_and_the_curve() -> None:
    """Test that a port cut off draws nothing and its charger does not move along its curve."""
    port = VirtualPort(1, random.Random("seed"), busy=False)
    port.plug_in(SPEC)
    port.keep_plugged()
    port.advance(MINUTE, 0.0, 1_800_000_000.0, 220.0)
    assert port.switch(on=False) is True
    elapsed = port.session.elapsed_s if port.session else -1
    for _ in range(10):
        port.advance(MINUTE, 0.0, 1_800_000_000.0, 220.0)
    assert port.report(220.0).current_a == 0
    assert port.report(220.0).status == "off"
    assert port.session is not None and port.session.elapsed_s == elapsed


def test_compressed_time_shows_the_curve_over_mqtt(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that with time compressed, one port's decoded telemetry goes CC → taper → trickle."""
    site = site_with_three_vendors(broker, site_id, write_config)
    probe = RawProbe(broker, site.filters("P01"))

    def values() -> list[float]:
        return port_values(site, "P01", probe.messages, 1, "current_a")

    async def main() -> None:
        options = SimOptions(interval_s=0.05, speed=2400.0, seed=3, posts=("P01",))
        async with PostSimulator(site.config, site.profiles, options) as sim:
            port = sim.post("P01").ports[0]
            port.plug_in(SPEC)
            port.keep_plugged()
            assert await asyncio.to_thread(probe.wait_for, lambda _m: any(
                v < 0.1 for v in values()), 20)  # noqa: PLR2004

    try:
        asyncio.run(main())
    finally:
        probe.close()
    currents = values()
    cc, taper, trickle = _phases(currents)
    assert cc and taper and trickle
    assert currents.index(cc[-1]) < currents.index(taper[0]) < currents.index(trickle[0])
    assert all(a >= b * 0.97 for a, b in zip(taper, taper[1:], strict=False))  # falls, with noise
