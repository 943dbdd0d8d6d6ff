"""Durations on the monotonic clock: an NTP step of the wall clock neither delays nor hurries a
page. The daemon's clocks are injected; the system clock is never touched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.alerts.rig import AlertsRig, ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker


def _paged(rig: AlertsRig, worker: str) -> int:
    return int(rig.rows("SELECT COUNT(*) FROM notifications WHERE recipient = ?",
                        (worker,))[0][0])


def test_wall_clock_steps_neither_delay_nor_hurry_escalation(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that a wall clock stepped forward by an hour does not escalate at once, a step back
    by two hours does not hold escalation back, and the duty officer is paged when 5 minutes
    have passed on the monotonic clock (before: escalation followed the wall clock)."""
    config = write_config(broker, alerts=roster_section(receiver))

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            await rig.step_wall(3600)           # NTP jumps forward an hour
            assert _paged(rig, "duty") == 0
            assert _paged(rig, "wang") == 1     # and no repeat either
            await rig.step_wall(-7200)          # then back two hours
            rig.mono.advance(4 * 60)
            rig.alerts.manager.tick()
            assert _paged(rig, "duty") == 0
            rig.mono.advance(60)                # five minutes have really passed
            rig.alerts.manager.tick()
            assert _paged(rig, "duty") == 1
            assert await rig.until(lambda: len(receiver.to("duty")) == 1)

    asyncio.run(scenario())


def test_outbox_retry_follows_the_monotonic_clock(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that a failed page is retried after its backoff on the monotonic clock even when the
    wall clock was stepped back a day in between (before: the retry waited for the wall clock to
    catch up)."""
    config = write_config(broker, alerts=roster_section(receiver))

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            receiver.status = 503
            rig.emit(trip())
            assert await rig.until(lambda: receiver.refused >= 1)
            await rig.step_wall(-86400)
            receiver.status = 200
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)

    asyncio.run(scenario())
