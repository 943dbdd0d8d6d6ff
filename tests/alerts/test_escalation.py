"""Escalation, repeats, acknowledgement and the all-clear, on a clock moved by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from edge.events import Event, Severity
from tests.alerts.rig import AlertsRig, ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe


def _purposes(receiver: Receiver, name: str) -> list[str]:
    return [p["title"] for p in receiver.to(name)]


def test_critical_alert_escalates_repeats_and_stops_on_ack(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that a trip pages the area's grid worker, then the duty officer at +5 min, the cadre
    at +15 min, repeats in between, and that an ack stops every further message."""
    config = write_config(broker, alerts=roster_section(receiver))

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            first = receiver.to("wang")[0]
            assert "3号充电桩 4号口" in first["title"] and "紧急" in first["title"]
            assert "建院1号小区" in first["message"] and "3号楼西侧车棚" in first["message"]
            assert "18.2 A" in first["message"] and "已自动断开" in first["message"]
            assert receiver.to("zhao") == []  # P03 is in 第一网格, not his
            await rig.advance(5)
            assert await rig.until(lambda: len(receiver.to("duty")) == 1)
            assert "转给您" in receiver.to("duty")[0]["message"]
            assert receiver.to("chen") == []
            await rig.advance(5)   # +10: a repeat to the current level (the duty officer)
            assert await rig.until(lambda: len(receiver.to("duty")) == 2)
            assert "提醒" in receiver.to("duty")[1]["message"]
            await rig.advance(5)   # +15: the cadre
            assert await rig.until(lambda: len(receiver.to("chen")) == 1)
            alert_id = receiver.to("chen")[0]["ref"][0]
            rig.alerts.manager.acknowledge(alert_id, "王芳", "on my way")
            # Everyone paged but the acknowledger hears who took it, each on their own lane:
            # wait for both notices before counting, or a late one counts as a message too many.
            assert await rig.until(lambda: len(receiver.to("chen")) == 2
                                   and len(receiver.to("duty")) == 3)
            assert "王芳" in receiver.to("chen")[1]["message"]
            assert "王芳" in receiver.to("duty")[2]["message"]
            before = len(receiver.posts)
            for _ in range(6):
                await rig.advance(10)
            await asyncio.sleep(0.5)
            assert len(receiver.posts) == before
            refs = [p["ref"] for p in receiver.posts]
            assert all(r is not None and r[0] == alert_id for r in refs)

    asyncio.run(scenario())
