"""`gridedge alerts list | ack | silence` against a running alert manager."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from tests.alerts.rig import AlertsRig, ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker
from tests.conftest import gridedge_command


async def _gridedge(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *gridedge_command(), "--lang", "zh", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), out.decode()


def test_ack_from_the_command_line_stops_escalation(
        broker: Broker, receiver: Receiver, write_config: Callable[..., Path]) -> None:
    """Test that `gridedge alerts list` shows the open alert, a misspelt name is refused with a
    suggestion, and `gridedge alerts ack ID --by 王芳` acknowledges it so nobody else is paged."""
    config = write_config(broker, alerts=roster_section(receiver))
    clock = ManualClock(time.time())

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            alert_id = receiver.to("wang")[0]["ref"][0]
            code, out = await _gridedge("alerts", "-c", str(config), "list")
            assert code == 0 and f"#{alert_id}" in out and "overcurrent" in out
            code, out = await _gridedge("alerts", "-c", str(config), "ack", str(alert_id),
                                        "--by", "王方")
            assert code == 2 and "您是不是想写“王芳”" in out
            code, out = await _gridedge("alerts", "-c", str(config), "ack", str(alert_id),
                                        "--by", "王芳")
            assert code == 0, out
            assert rig.rows("SELECT state, acked_by FROM alerts")[0]["acked_by"] == "wang"
            await rig.advance(20)
            await asyncio.sleep(0.3)
            assert receiver.to("duty") == [] and receiver.to("chen") == []

    asyncio.run(scenario())


def test_silence_from_the_command_line_is_picked_up_by_the_daemon(
        broker: Broker, receiver: Receiver, write_config: Callable[..., Path]) -> None:
    """Test that `gridedge alerts silence --post 3号充电桩 --for 1h` holds a new alert of that
    post, and `--end` lets it go out."""
    config = write_config(broker, alerts=roster_section(receiver))
    clock = ManualClock(time.time())

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            code, out = await _gridedge("alerts", "-c", str(config), "silence", "--post",
                                        "3号充电桩", "--for", "1h", "--by", "duty")
            assert code == 0, out
            clock.now = time.time() + 1  # the hand clock catches up with the silence's start
            await rig.advance(0)         # (the CLI may take seconds to start on a busy box)
            rig.emit(trip())
            await asyncio.sleep(0.5)
            assert receiver.to("wang") == []
            code, out = await _gridedge("alerts", "-c", str(config), "silence", "--end", "1")
            assert code == 0, out
            clock.now = time.time() + 1
            await rig.advance(0)
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)

    asyncio.run(scenario())
