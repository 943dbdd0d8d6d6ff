"""Benchmark: an alert storm through the real outbox, beside a bare SQLite insert loop.

Run: .venv/bin/python bench/alerts.py [--alerts N]

Against a real mosquitto (started like tests/broker/harness.py does) and a loopback HTTP
receiver (Apprise ``json://``), in one process with the daemon's Store, MqttClient, EventBus and
alerts component:
  * raise N alerts at once (N ``post.trip`` events on distinct ports), then resolve them all;
  * time until every notification (phone message + retained MQTT record, then the all-clears
    and the record clears) is confirmed by its channel;
  * outbox transactions and rows per second while raising, beside a bare loop of one-row
    INSERT transactions with the same durability (WAL, synchronous=FULL): the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.alerts import AlertsComponent  # noqa: E402
from edge.app import App  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.events import Event, Severity  # noqa: E402
from edge.profiles import load_registry  # noqa: E402
from tests.alerts.rig import Receiver  # noqa: E402
from tests.broker.harness import Broker  # noqa: E402
from tests.conftest import site_config  # noqa: E402


def bare_inserts(folder: Path, count: int) -> float:
    """One-row INSERT transactions per second, WAL + synchronous=FULL."""
    db = sqlite3.connect(folder / "bare.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b REAL)")
    start = time.perf_counter()
    for i in range(count):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (a, b) VALUES (?, ?)", (f"row {i}", time.time()))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed


async def storm(config_path: Path, receiver: Receiver, count: int) -> dict[str, float]:
    """Raise and resolve ``count`` alerts; the figures of both phases."""
    config = load_config(config_path)
    app = App(config, load_registry())
    alerts = AlertsComponent(app)
    await app.store.start()
    await alerts.start()
    await app.mqtt.start()
    assert await app.mqtt.wait_connected(10)
    store = app.store

    def unsent() -> int:
        return int(store.query("SELECT COUNT(*) AS n FROM notifications WHERE state != 'sent'")[0]
                   ["n"])

    async def drained() -> None:
        while unsent():
            await asyncio.sleep(0.02)

    subjects = [f"P{1 + i % 10:02d}/{1 + i // 10}" for i in range(count)]
    out: dict[str, float] = {}
    start = time.perf_counter()
    for subject in subjects:
        app.events.emit(Event("post.trip", subject, Severity.CRITICAL, {
            "cause": "inverse_time", "measured": 20.0, "limit": 16.0, "unit": "A"}))
    raised = time.perf_counter()
    rows = int(store.query("SELECT COUNT(*) AS n FROM notifications")[0]["n"])
    await drained()
    done = time.perf_counter()
    out["raise_s"] = raised - start
    out["raise_tx_per_s"] = count / (raised - start)
    out["raise_rows"] = rows
    out["raise_rows_per_s"] = rows / (raised - start)
    out["raise_confirmed_s"] = done - start
    out["phone_msgs"] = len(receiver.posts)
    start = time.perf_counter()
    for subject in subjects:
        app.events.emit(Event("post.reset", subject, Severity.INFO, {"by": "bench"}))
    resolved = time.perf_counter()
    await drained()
    done = time.perf_counter()
    out["resolve_s"] = resolved - start
    out["resolve_confirmed_s"] = done - start
    out["all_rows"] = int(store.query("SELECT COUNT(*) AS n FROM notifications")[0]["n"])
    out["phone_msgs_total"] = len(receiver.posts)
    out["mqtt_peak_in_flight"] = alerts.dispatcher.channels["mqtt"].peak_in_flight  # type: ignore[union-attr,attr-defined]
    await alerts.stop()
    await app.mqtt.stop()
    await app.store.stop()
    return out


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "broker").mkdir()
        broker = Broker(folder / "broker")
        broker.start()
        receiver = Receiver()
        try:
            data = site_config("bench", broker, folder / "data")
            data["alerts"] = {"workers": {"wang": {"name": "王芳", "role": "grid_worker",
                                                   "channels": [receiver.url("wang")]}}}
            path = folder / "config.yaml"
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            figures = asyncio.run(storm(path, receiver, args.alerts))
            bare = bare_inserts(folder, 2000)
        finally:
            receiver.close()
            broker.stop()
    n = args.alerts
    print(f"alert storm: {n} alerts raised at once, then resolved (mosquitto + loopback json://)")
    print(f"  raise: {figures['raise_s']:.2f} s to record {n} alerts "
          f"({figures['raise_tx_per_s']:.0f} alert transactions/s, "
          f"{figures['raise_rows']:.0f} outbox rows = {figures['raise_rows_per_s']:.0f} rows/s)")
    print(f"  every raise notification confirmed after {figures['raise_confirmed_s']:.2f} s "
          f"({figures['phone_msgs']:.0f} phone messages)")
    print(f"  resolve: {figures['resolve_s']:.2f} s to record, all-clears and record clears "
          f"confirmed after {figures['resolve_confirmed_s']:.2f} s")
    print(f"  outbox rows in all: {figures['all_rows']:.0f}; phone messages: "
          f"{figures['phone_msgs_total']:.0f}; MQTT QoS 1 peak in flight: "
          f"{figures['mqtt_peak_in_flight']:.0f}")
    print(f"bare SQLite one-row transactions (WAL, synchronous=FULL): {bare:.0f}/s")
    print(f"ratio alert transactions / bare transactions: {figures['raise_tx_per_s'] / bare:.2f}")


if __name__ == "__main__":
    main()
