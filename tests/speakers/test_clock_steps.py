"""The wall clock steps (NTP) while plays wait: queued plays neither expire early nor wait for the step."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from edge.speakers.clock import SpeakerClock
from tests.speakers.rig import Daemon, final, load, request, simulator, until

HOUR_S = 3600.0


class SteppedWall:
    """A wall clock the test can step; the monotonic clock stays the system's."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _clock(wall: SteppedWall) -> SpeakerClock:
    return SpeakerClock(wall=wall)


def test_a_step_forward_does_not_expire_a_queued_play(speaker_config: Path) -> None:
    """Test that a play queued for an offline speaker still plays after the wall clock jumps 1 h ahead."""
    config, profiles = load(speaker_config)
    wall = SteppedWall()
    slot = request("step-forward", ("south_gate",), grace_s=30.0, due=wall())

    async def scenario() -> dict[str, str]:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles, _clock(wall))
        await sim.start()
        await daemon.start()
        try:
            await sim.set_online("south_gate", False)
            await until(lambda: daemon.fleet.channels["south_gate"].online is False)
            await daemon.fleet.submit(slot)
            wall.offset += HOUR_S          # NTP steps the clock an hour ahead
            daemon.fleet.channels["south_gate"].wake()
            await asyncio.sleep(0)
            await sim.set_online("south_gate", True)
            await until(final(daemon, slot.key, slot.speakers))
            return daemon.outcomes(slot.key)
        finally:
            await daemon.stop()
            await sim.stop()

    assert asyncio.run(scenario()) == {"south_gate": "played"}


def test_a_step_back_does_not_hold_a_due_play_for_an_hour(speaker_config: Path) -> None:
    """Test that a play due in 2 s plays then, although the wall clock steps back an hour meanwhile."""
    config, profiles = load(speaker_config)
    wall = SteppedWall()
    slot = request("step-back", ("east_gate",), grace_s=30.0, due=wall() + 2.0)

    async def scenario() -> dict[str, str]:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles, _clock(wall))
        await sim.start()
        await daemon.start()
        try:
            await until(lambda: daemon.fleet.channels["east_gate"].online)
            await daemon.fleet.submit(slot)
            wall.offset -= HOUR_S          # NTP steps the clock an hour back
            daemon.fleet.channels["east_gate"].wake()
            await until(final(daemon, slot.key, slot.speakers))
            return daemon.outcomes(slot.key)
        finally:
            await daemon.stop()
            await sim.stop()

    assert asyncio.run(scenario()) == {"east_gate": "played"}
