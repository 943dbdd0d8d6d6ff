"""Benchmark: event-loop lag of the whole daemon during telemetry ingest and a 1,000-alert storm.

Run: .venv/bin/python bench/loop_lag.py [--baseline REF] [--alerts N] [--seconds S]

In one process, the daemon as ``gridedge run`` builds it (``App.start()``: store, MQTT, every
component) against a real mosquitto, with one grid worker paged on a loopback HTTP receiver
(Apprise ``json://``). A probe task sleeps 1 ms in a loop and records how late it wakes: that is
the lag every other post's telemetry would wait. Two phases:
  (a) ingest: 10 posts x 20 msg/s of charging telemetry for S seconds, with one port of one post
      overloaded every second (trip, cut-off, latch save, alert, page);
  (b) storm: N ``post.trip`` events on distinct ports as fast as the loop takes them, until every
      page reached the receiver.
With ``--baseline REF`` the same measurement also runs on that commit's code (``git archive``
into a temporary folder, in a child process) and both are printed with their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
import logging
from typing import Any

REPO = Path(__file__).resolve().parents[1]
POSTS = [f"P{n:02d}" for n in range(1, 11)]
PORTS = 10


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(lags: list[float]) -> dict[str, float]:
    return {"p50_ms": _pct(lags, 0.5) * 1000, "p99_ms": _pct(lags, 0.99) * 1000,
            "max_ms": max(lags, default=float("nan")) * 1000, "samples": len(lags)}


class LagProbe:
    """Records how late a 1 ms sleep wakes up, per phase."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append(max(0.0, time.perf_counter() - start - 0.001))

    def start(self) -> None:
        self.lags = []
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[float]:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.lags


def _config(folder: Path, broker: Any, receiver: Any) -> Path:
    import yaml

    from tests.conftest import site_config

    data = site_config("bench", broker, folder / "data")
    data["posts"] = {"defaults": {"profile": "gridedge-post", "ports": PORTS,
                                  "offline_after_s": 600},
                     "devices": {p: {"name": f"{int(p[1:])}号充电桩", "location": "bench"}
                                 for p in POSTS}}
    data["areas"] = {name: {**area, "posts": []} for name, area in (data.get("areas") or {}).items()}
    data["alerts"] = {"workers": {"wang": {"name": "王芳", "role": "grid_worker",
                                           "channels": [receiver.url("wang")]}}}
    data["logging"] = {"level": "error"}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _publisher(broker: Any, seconds: float, stop: threading.Event) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    start = time.monotonic()
    tick = 0
    trips = 0
    while not stop.is_set() and time.monotonic() - start < seconds:
        for n, post in enumerate(POSTS):
            port = tick % PORTS + 1
            current = 0.5 + (tick % 10) * 0.1
            payload = {"ts": time.time(), "ports": [{"port": port, "current_a": current,
                                                     "on": True}]}
            if tick % 20 == 0 and n == trips % len(POSTS):
                payload = {"ts": time.time(), "ports": [{"port": PORTS, "current_a": 50.0,
                                                         "on": True}]}
            client.publish(f"gridedge/bench/posts/{post}/telemetry", json.dumps(payload), qos=0)
        if tick % 20 == 0:
            trips += 1
        tick += 1
        time.sleep(max(0.0, start + tick / 20 - time.monotonic()))
    client.loop_stop()
    client.disconnect()


async def _measure(config_path: Path, broker: Any, receiver: Any, alerts: int,
                   seconds: float) -> dict[str, Any]:
    from edge.app import App
    from edge.config import load_config
    from edge.events import Event, Severity
    from edge.profiles import load_registry

    logging.disable(logging.CRITICAL)   # the daemon's log lines are not what is measured
    app = App(load_config(config_path), load_registry())
    await app.start()
    assert await app.mqtt.wait_connected(10)
    await asyncio.sleep(1.0)   # start-up work settles
    probe = LagProbe()
    out: dict[str, Any] = {}

    probe.start()
    stop = threading.Event()
    thread = threading.Thread(target=_publisher, args=(broker, seconds, stop), daemon=True)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.05)
    out["ingest"] = _summary(await probe.stop())
    out["ingest"]["pages"] = len(receiver.posts)

    before = len(receiver.posts)
    probe.start()
    start = time.perf_counter()
    for i in range(alerts):
        app.events.emit(Event("post.trip", f"X{1 + i % 10:02d}/{1 + i // 10}", Severity.CRITICAL,
                              {"cause": "inverse_time", "measured": 20.0, "limit": 16.0,
                               "unit": "A"}))
        await asyncio.sleep(0)
    raised = time.perf_counter()
    deadline = time.monotonic() + 300
    while len(receiver.posts) - before < alerts and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    out["storm"] = _summary(await probe.stop())
    out["storm"].update(raise_s=raised - start, pages=len(receiver.posts) - before,
                        all_paged_s=time.perf_counter() - start)
    await app.stop()
    return out


def measure(code: Path, alerts: int, seconds: float) -> dict[str, Any]:
    """Run both phases against the code in ``code`` (its ``edge`` package)."""
    sys.path.insert(0, str(code))
    sys.path.insert(1, str(REPO))   # the test harness (broker, receiver) of this tree
    from tests.alerts.rig import Receiver
    from tests.broker.harness import Broker

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "broker").mkdir()
        broker = Broker(folder / "broker")
        broker.start()
        receiver = Receiver()
        try:
            return asyncio.run(_measure(_config(folder, broker, receiver), broker, receiver,
                                        alerts, seconds))
        finally:
            receiver.close()
            broker.stop()


def _baseline(ref: str, alerts: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref],  # noqa: S603, S607
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)  # noqa: S603, S607
        result = subprocess.run([sys.executable, __file__, "--code", tmp, "--json",  # noqa: S603
                                 "--alerts", str(alerts), "--seconds", str(seconds)],
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def _line(name: str, phase: dict[str, Any]) -> str:
    return (f"  {name:<9} lag p50 {phase['p50_ms']:7.2f} ms   p99 {phase['p99_ms']:8.2f} ms   "
            f"max {phase['max_ms']:8.1f} ms   ({phase['samples']} samples)")


def main() -> None:
    """Measure, print, compare."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--baseline", help="git ref to measure too (e.g. the commit before)")
    parser.add_argument("--code", type=Path, default=REPO, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.code, args.alerts, args.seconds)))
        return
    runs = {}
    if args.baseline:
        runs[f"before ({args.baseline})"] = _baseline(args.baseline, args.alerts, args.seconds)
    runs["after (this tree)"] = measure(args.code, args.alerts, args.seconds)
    print(f"event-loop lag of the daemon (1 ms probe): ingest = 10 posts x 20 msg/s for "
          f"{args.seconds:.0f} s with a trip every second; storm = {args.alerts} alerts raised "
          "at once until all paged")
    for name, figures in runs.items():
        print(name)
        print(_line("ingest", figures["ingest"]))
        print(_line("storm", figures["storm"]) + f"   raise {figures['storm']['raise_s']:.2f} s, "
              f"all {figures['storm']['pages']} paged after {figures['storm']['all_paged_s']:.2f} s")
    if len(runs) == 2:  # noqa: PLR2004
        before, after = runs.values()
        for phase in ("ingest", "storm"):
            print(f"{phase}: p99 before/after = {before[phase]['p99_ms'] / after[phase]['p99_ms']:.1f}x, "
                  f"max before/after = {before[phase]['max_ms'] / after[phase]['max_ms']:.1f}x")


if __name__ == "__main__":
    main()
