"""Acknowledgement over MQTT, the retained record, the all-clear, silences and inhibition."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from edge.events import Event, Severity
from tests.alerts.rig import AlertsRig, ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe


def test_mqtt_ack_refuses_strangers_then_resolve_clears_and_sends_all_clear(
        broker: Broker, receiver: Receiver, clock: ManualClock, site_id: str,
        write_config: Callable[..., Path]) -> None:
    """Test that an ack from someone not on the roster is refused, a worker's ack is recorded in
    the retained record, and a port reset sends the all-clear and clears the record."""
    config = write_config(broker, alerts=roster_section(receiver))
    records = Probe(broker, f"gridedge/{site_id}/alerts/#")

    def record(alert_id: int) -> dict | None:
        payloads = [p for t, p, _ in records.messages if t.endswith(f"/alerts/{alert_id}")]
        return json.loads(payloads[-1]) if payloads and payloads[-1] else None

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            alert_id = receiver.to("wang")[0]["ref"][0]
            assert await rig.until(lambda: (record(alert_id) or {}).get("state") == "firing")
            topic = f"gridedge/{site_id}/alerts/{alert_id}/ack"
            records.publish(topic, json.dumps({"by": "stranger"}))
            await asyncio.sleep(0.3)
            assert rig.alerts.manager.stats["ack_refused"] == 1
            assert rig.rows("SELECT state FROM alerts")[0]["state"] == "firing"
            records.publish(topic, json.dumps({"by": "wang", "note": "到了"}))
            assert await rig.until(lambda: (record(alert_id) or {}).get("state")
                                   == "acknowledged")
            assert record(alert_id)["acked_by"] == "wang"
            rig.emit(Event("post.cutoff_confirmed", "P03/4", Severity.INFO, {}))
            rig.emit(Event("post.reset", "P03/4", Severity.INFO, {"by": "wang"}))
            assert await rig.until(lambda: any("已解除" in p["title"]
                                               for p in receiver.to("wang")))
            clear = receiver.to("wang")[-1]
            assert "工作人员已复位该端口" in clear["message"]
            assert await rig.until(lambda: records.messages[-1][1] == ""
                                   and records.messages[-1][0].endswith(f"/alerts/{alert_id}"))
            assert receiver.to("duty") == []  # acked before escalation: never bothered

    asyncio.run(scenario())
    fresh = Probe(broker, f"gridedge/{site_id}/alerts/+")
    assert not fresh.wait_for(lambda m: bool(m), timeout=1.0)  # no retained record is left
    fresh.close()
    records.close()


def test_silence_holds_notifications_and_they_go_out_when_it_ends(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that during a silence of a grid area nobody is paged, and the held alert is sent
    as soon as the silence ends."""
    config = write_config(broker, alerts=roster_section(receiver))

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            with rig.app.store.transaction() as db:
                db.execute("INSERT INTO silences (scope, target, start_ts, end_ts, by, reason) "
                           "VALUES ('area', '第一网格', ?, ?, 'duty', '检修')",
                           (clock.now, clock.now + 3600))
            await rig.advance(0)
            rig.emit(trip())
            rig.emit(trip(post="P07", port=2))    # 第二网格: not silenced
            assert await rig.until(lambda: len(receiver.to("zhao")) == 1)
            await rig.advance(30)
            await asyncio.sleep(0.3)
            assert receiver.to("wang") == []
            assert rig.rows("SELECT held FROM alerts WHERE post = 'P03'")[0]["held"] == "silenced"
            await rig.advance(31)                 # the silence is over
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            assert "3号充电桩" in receiver.to("wang")[0]["title"]

    asyncio.run(scenario())


def test_offline_post_inhibits_its_other_alerts_until_online(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that while a post is offline its sensor faults page nobody, and paging starts once
    the post is back online (and the offline alert gets its all-clear)."""
    config = write_config(broker, alerts=roster_section(receiver))

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            rig.emit(Event("post.offline", "P03", Severity.WARNING, {"how": "silent", "silent_s": 200}))
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            rig.emit(Event("post.sensor_fault", "P03/2", Severity.WARNING, {"reason": "NaN"}))
            await asyncio.sleep(0.3)
            await rig.advance(0)
            assert len(receiver.to("wang")) == 1
            rig.emit(Event("post.online", "P03", Severity.INFO, {}))
            await rig.advance(0)
            assert await rig.until(lambda: len(receiver.to("wang")) == 3)
            titles = sorted(p["title"] for p in receiver.to("wang"))
            assert any("电流采集故障" in t for t in titles)
            assert any("已解除" in t and "离线" in t for t in titles)

    asyncio.run(scenario())
