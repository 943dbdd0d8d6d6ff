"""The fleet with real mosquitto, real clips and virtual speakers: plays, priorities, outages, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.speakers import Priority
from tests.speakers.rig import Daemon, final, load, request, simulator, until

LONG_TEXT = "请各位居民不要把电动自行车推进楼道充电，谢谢配合"


def test_request_plays_on_its_speakers_one_at_a_time(speaker_config: Path) -> None:
    """Test that requests play on exactly their speakers, and one speaker never plays two at once."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            first = request("fee-notice@0800", ("east_gate", "south_gate"))
            second = request("fire-safety@0800", ("east_gate",), text="注意防火")
            await daemon.fleet.prepare(first)
            await daemon.fleet.submit(first)
            await daemon.fleet.submit(second)
            await until(final(daemon, first.key, first.speakers))
            await until(final(daemon, second.key, second.speakers))
        finally:
            await daemon.stop()
            await sim.stop()
        assert daemon.outcomes(first.key) == {"east_gate": "played", "south_gate": "played"}
        assert daemon.outcomes(second.key) == {"east_gate": "played"}
        assert daemon.row(first.key, "east_gate")["confirmation"] == "confirmed"
        east = [p for p in sim.plays if p.speaker == "east_gate"]
        assert [p.outcome for p in east] == ["done", "done"]
        assert east[1].started >= east[0].ended  # no overlap
        assert [p.speaker for p in sim.plays if p.speaker not in ("east_gate", "south_gate")] == []
        assert sum(1 for e in daemon.events if e.kind == "play.done") == 3

    asyncio.run(scenario())


def test_emergency_interrupts_a_routine_clip(speaker_config: Path) -> None:
    """Test that an emergency stops the routine clip playing (logged interrupted) and then plays."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            routine = request("routine@0900", ("east_gate",), text=LONG_TEXT)
            emergency = request("fire@0901", ("east_gate",), text="紧急通知，请立即撤离",
                                priority=Priority.EMERGENCY)
            await daemon.fleet.prepare(emergency)
            await daemon.fleet.submit(routine)
            await until(lambda: any(p.started for p in sim.speakers["east_gate"].plays))
            await daemon.fleet.submit(emergency)
            await until(final(daemon, emergency.key, ("east_gate",)))
        finally:
            await daemon.stop()
            await sim.stop()
        assert daemon.outcomes(routine.key) == {"east_gate": "interrupted"}
        assert daemon.outcomes(emergency.key) == {"east_gate": "played"}
        assert "fire@0901 (emergency)" in daemon.row(routine.key, "east_gate")["detail"]
        plays = sim.speakers["east_gate"].plays
        assert [p.outcome for p in plays] == ["interrupted", "done"]
        assert plays[1].started >= plays[0].ended

    asyncio.run(scenario())


def test_offline_speaker_across_its_slot_is_missed(speaker_config: Path) -> None:
    """Test that a speaker offline for the whole grace window ends as missed, with an offline event."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            await until(lambda: daemon.fleet.channels["south_gate"].online)
            await sim.set_online("south_gate", False)
            await until(lambda: any(e.kind == "speaker.offline" for e in daemon.events))
            slot = request("notice@1000", ("south_gate", "east_gate"), grace_s=2.0)
            await daemon.fleet.submit(slot)
            await until(final(daemon, slot.key, slot.speakers))
        finally:
            await daemon.stop()
            await sim.stop()
        assert daemon.outcomes(slot.key) == {"south_gate": "missed", "east_gate": "played"}
        row = daemon.row(slot.key, "south_gate")
        assert row["reason"] == "the speaker was offline until the grace window ended"
        assert row["ended_at"] >= slot.due + slot.grace_s
        assert sim.speakers["south_gate"].plays == []
        offline = next(e for e in daemon.events if e.kind == "speaker.offline")
        assert (offline.subject, offline.detail["speaker_name"]) == ("south_gate", "南门")

    asyncio.run(scenario())


def test_speaker_back_within_grace_plays_late(speaker_config: Path) -> None:
    """Test that a speaker offline at its slot but back inside the grace window still plays."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            await until(lambda: daemon.fleet.channels["south_gate"].online)
            await sim.set_online("south_gate", False)
            slot = request("notice@1100", ("south_gate",), grace_s=30.0)
            await daemon.fleet.submit(slot)
            await asyncio.sleep(1.0)
            await sim.set_online("south_gate", True)
            await until(final(daemon, slot.key, slot.speakers))
        finally:
            await daemon.stop()
            await sim.stop()
        assert daemon.outcomes(slot.key) == {"south_gate": "played"}
        assert [p.outcome for p in sim.speakers["south_gate"].plays] == ["done"]

    asyncio.run(scenario())


def test_restart_after_dispatch_does_not_play_twice(speaker_config: Path) -> None:
    """Test that a new daemon on the same database, a second after a dispatch, never plays it again."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim = simulator(config, profiles)
        await sim.start()
        slot = request("notice@1200", ("east_gate",), text=LONG_TEXT)
        first = Daemon(config, profiles)
        await first.start()
        try:
            await first.fleet.submit(slot)
            await until(lambda: first.outcomes(slot.key).get("east_gate") == "dispatched")
            await asyncio.sleep(1.0)
        finally:
            await first.stop()
        second = Daemon(config, profiles)
        await second.start()
        try:
            await second.fleet.submit(slot)  # the scheduler submits again after its restart
            await until(final(second, slot.key, slot.speakers))
        finally:
            await second.stop()
            await sim.stop()
        plays = sim.speakers["east_gate"].plays
        assert len(plays) == 1
        assert plays[0].outcome == "done"
        assert second.outcomes(slot.key) == {"east_gate": "played"}
        assert second.row(slot.key, "east_gate")["attempts"] == 1

    asyncio.run(scenario())


def test_tasmota_completion_is_inferred_from_duration(speaker_config: Path) -> None:
    """Test that a Tasmota speaker gets I2SGain then I2SWr, and its play is logged as inferred."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            slot = request("notice@1300", ("west_gate",))
            await daemon.fleet.submit(slot)
            await until(final(daemon, slot.key, slot.speakers))
            await until(lambda: sim.speakers["west_gate"].plays[0].outcome == "done")
        finally:
            await daemon.stop()
            await sim.stop()
        row = daemon.row(slot.key, "west_gate")
        assert (row["state"], row["confirmation"]) == ("played", "inferred")
        assert row["ended_at"] - row["dispatched_at"] >= row["duration_s"]
        west = sim.speakers["west_gate"]
        assert west.volume == 70
        assert west.plays[0].duration_s is not None
        assert abs(west.plays[0].duration_s - row["duration_s"]) < 0.1

    asyncio.run(scenario())


def test_tts_speaker_gets_the_text(speaker_config: Path) -> None:
    """Test that an on-device TTS speaker is sent the text itself and confirms the play."""
    config, profiles = load(speaker_config)

    async def scenario() -> None:
        sim, daemon = simulator(config, profiles), Daemon(config, profiles)
        await sim.start()
        await daemon.start()
        try:
            slot = request("notice@1400", ("north_gate",), text="请勿在楼道充电")
            await daemon.fleet.submit(slot)
            await until(final(daemon, slot.key, slot.speakers))
        finally:
            await daemon.stop()
            await sim.stop()
        assert daemon.row(slot.key, "north_gate")["confirmation"] == "confirmed"
        north = sim.speakers["north_gate"]
        assert [(p.what, p.outcome) for p in north.plays] == [("请勿在楼道充电", "done")]
        assert north.volume == 60

    asyncio.run(scenario())
