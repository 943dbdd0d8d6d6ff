"""Benchmark: an alert storm through the real outbox, beside a bare SQLite insert loop.

Run: .venv/bin/python bench/alerts.py [--alerts N]

Against a real mosquitto (started like tests/broker/harness.py does) and a loopback HTTP
receiver (Apprise ``json://``), in one process with the daemon's Store, MqttClient, EventBus and
alerts component:
  * raise N alerts (N ``post.trip`` events on distinct ports, one per loop turn, as MQTT
    callbacks would deliver them), then resolve them all;
  * the storm ratio: alerts made durable per second (from the first raise until the store's
    writer has committed every change the storm caused: alert, history, outbox rows) beside a
    bare loop of one-row INSERT transactions with the same durability (WAL, synchronous=FULL);
  * the time from each raise to that alert's first page at the receiver, p50/p99, during the
    storm;
  * time until every notification (phone message + retained MQTT record, then the all-clears
    and the record clears) is confirmed by its channel.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import statistics
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
    logging.disable(logging.CRITICAL)   # a terminal's speed is not what is measured
    app = App(config, load_registry())
    alerts = AlertsComponent(app)
    await app.store.start()
    await alerts.start()
    await app.mqtt.start()
    assert await app.mqtt.wait_connected(10)
    store = app.store
    working = alerts.working
    assert working is not None and alerts.dispatcher is not None

    def unsent() -> int:
        return int(working.query("SELECT COUNT(*) AS n FROM notifications WHERE state != "
                                 "'sent'")[0]["n"])

    async def drained() -> None:
        while unsent():
            await asyncio.sleep(0.01)

    subjects = [f"P{1 + i % 10:02d}/{1 + i // 10}" for i in range(count)]
    out: dict[str, float] = {}
    raised_at: list[float] = []
    start = time.perf_counter()
    for subject in subjects:
        raised_at.append(time.monotonic())
        app.events.emit(Event("post.trip", subject, Severity.CRITICAL, {
            "cause": "inverse_time", "measured": 20.0, "limit": 16.0, "unit": "A"}))
        await asyncio.sleep(0)
    raised = time.perf_counter()
    last = store.writer.last_ticket
    while store.writer.durable < last:
        await asyncio.sleep(0.002)
    durable = time.perf_counter()
    rows = int(working.query("SELECT COUNT(*) AS n FROM notifications")[0]["n"])
    await drained()
    done = time.perf_counter()
    first_page: dict[int, float] = {}
    for post in receiver.posts:
        if post["ref"] is not None:
            first_page.setdefault(post["ref"][0], post["arrived"])
    latencies = [first_page[i + 1] - t for i, t in enumerate(raised_at) if i + 1 in first_page]
    out["raise_s"] = raised - start
    out["durable_s"] = durable - start
    out["alerts_durable_per_s"] = count / (durable - start)
    out["raise_rows"] = rows
    out["raise_confirmed_s"] = done - start
    out["phone_msgs"] = len(receiver.posts)
    out["paged"] = len(latencies)
    out["page_p50_s"] = statistics.median(latencies) if latencies else float("nan")
    out["page_p99_s"] = (sorted(latencies)[min(len(latencies) - 1, int(0.99 * len(latencies)))]
                         if latencies else float("nan"))
    start = time.perf_counter()
    for subject in subjects:
        app.events.emit(Event("post.reset", subject, Severity.INFO, {"by": "bench"}))
        await asyncio.sleep(0)
    resolved = time.perf_counter()
    await drained()
    done = time.perf_counter()
    out["resolve_s"] = resolved - start
    out["resolve_confirmed_s"] = done - start
    out["all_rows"] = int(working.query("SELECT COUNT(*) AS n FROM notifications")[0]["n"])
    out["phone_msgs_total"] = len(receiver.posts)
    out["mqtt_peak_in_flight"] = alerts.dispatcher.channels["mqtt"].peak_in_flight  # type: ignore[attr-defined]
    out["commits"] = store.writer.stats["commits"]
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
    print(f"alert storm: {n} alerts raised one per loop turn, then resolved "
          "(mosquitto + loopback json://)")
    print(f"  raise: {figures['raise_s']:.2f} s to raise {n} alerts; every change durable on disk "
          f"after {figures['durable_s']:.2f} s ({figures['alerts_durable_per_s']:.0f} alerts/s, "
          f"{figures['raise_rows']:.0f} outbox rows, {figures['commits']:.0f} commits in all)")
    print(f"  raise -> first page at the receiver: p50 {figures['page_p50_s'] * 1000:.0f} ms, "
          f"p99 {figures['page_p99_s'] * 1000:.0f} ms ({figures['paged']:.0f} of {n} alerts)")
    print(f"  every raise notification confirmed after {figures['raise_confirmed_s']:.2f} s "
          f"({figures['phone_msgs']:.0f} phone messages)")
    print(f"  resolve: {figures['resolve_s']:.2f} s to resolve, all-clears and record clears "
          f"confirmed after {figures['resolve_confirmed_s']:.2f} s")
    print(f"  outbox rows in all: {figures['all_rows']:.0f}; phone messages: "
          f"{figures['phone_msgs_total']:.0f}; MQTT QoS 1 peak in flight: "
          f"{figures['mqtt_peak_in_flight']:.0f}")
    print(f"bare SQLite one-row transactions (WAL, synchronous=FULL): {bare:.0f}/s")
    print(f"storm ratio (alerts made durable per second / bare transactions per second): "
          f"{figures['alerts_durable_per_s'] / bare:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
