"""Per-channel lanes: a dead channel with thousands of rows waiting holds back nobody else; every
message carries a stable id a receiver can drop duplicates by."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from edge.store import Store
from tests.alerts.rig import AlertsRig, ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe

DEAD_ROWS = 5000
HANG_GUARD_S = 20.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])   # closed again when we return: connection refused


def _leave_rows_on_a_dead_channel(data_dir: Path, count: int) -> None:
    """What an earlier run leaves behind when a channel died: many pending rows on it."""
    store = Store(data_dir)
    store.open()
    now = time.time()
    with store.transaction() as db:
        for a in range(50):
            db.execute("INSERT INTO alerts (key, kind, severity, state, first_ts, last_ts, detail, "
                       "resolved_ts) VALUES (?, 'overcurrent', 'critical', 'resolved', ?, ?, '{}', "
                       "?)", (f"old:{a}", now, now, now))
        db.executemany("INSERT INTO notifications (alert_id, seq, recipient, channel, purpose, "
                       "title, body, state, created_ts, next_try_ts) VALUES (?, ?, 'duty', "
                       "'duty:0', 'all_clear', 't', 'b', 'pending', ?, ?)",
                       [(1 + i % 50, 1 + i // 50, now, 0.0) for i in range(count)])
    store.close()


def test_a_dead_channel_with_5000_rows_waiting_does_not_delay_a_new_page(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that with 5,000 rows pending on a channel whose URL refuses connections, a new page to
    a healthy phone is delivered (before: only the oldest 1,000 pending rows were ever looked at,
    so it never was)."""
    section = roster_section(receiver)
    section["workers"]["duty"]["channels"] = [f"json://127.0.0.1:{_closed_port()}/dead"]
    config = write_config(broker, alerts=section)
    _leave_rows_on_a_dead_channel(config.parent / "data", DEAD_ROWS)

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            assert rig.alerts.dispatcher.waiting("duty:0") == DEAD_ROWS
            start = time.monotonic()
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1, HANG_GUARD_S)
            print(f"new page delivered {time.monotonic() - start:.3f} s after it was raised, "  # noqa: T201
                  f"with {DEAD_ROWS} rows waiting on the dead channel")
            # the dead lane is being tried all the while, in its own lane
            assert await rig.until(lambda: rig.alerts.dispatcher.stats["retries"] >= 1)

    asyncio.run(scenario())


def test_every_message_carries_a_stable_id_and_redeliveries_are_counted(
        broker: Broker, receiver: Receiver, clock: ManualClock, site_id: str,
        write_config: Callable[..., Path]) -> None:
    """Test that a page's JSON body and header carry '<alert id>-<seq>' (as does the MQTT record),
    and that a row that was in flight when the previous run died is sent again with the same id
    and counted as a possible duplicate."""
    config = write_config(broker, alerts=roster_section(receiver))
    probe = Probe(broker, f"gridedge/{site_id}/alerts/+")

    async def first() -> int:
        async with AlertsRig(config, clock) as rig:
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            page = receiver.to("wang")[0]
            alert_id, seq = page["ref"]
            assert page["gridedge_id"] == f"{alert_id}-{seq}"
            assert page["id_header"] == f"{alert_id}-{seq}"
            assert probe.wait_for(lambda m: any(p for _t, p, _r in m), HANG_GUARD_S)
            record = json.loads(next(p for _t, p, _r in probe.messages if p))
            assert record["dedup_id"] == f"{record['id']}-{record['seq']}"
            assert rig.alerts.duplicates == 0
            rig.alerts.app.store.writer.wait()
            return int(alert_id)

    alert_id = asyncio.run(first())
    probe.close()
    # As kill -9 in the middle of a send leaves it: the row pending, marked in flight.
    store = Store(config.parent / "data")
    store.open()
    with store.transaction() as db:
        db.execute("UPDATE notifications SET state = 'pending', last_error = 'in flight' WHERE "
                   "alert_id = ? AND recipient = 'wang'", (alert_id,))
    store.close()

    async def second() -> None:
        async with AlertsRig(config, clock) as rig:
            assert await rig.until(lambda: len(receiver.to("wang")) == 2)
            again = receiver.to("wang")[1]
            assert again["gridedge_id"] == receiver.to("wang")[0]["gridedge_id"]
            assert rig.alerts.duplicates == 1

    asyncio.run(second())
