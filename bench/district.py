"""Benchmark: how many sites one `gridedge district run` follows on this machine, and at what cost.

Run: .venv/bin/python bench/district.py [--sites 10,100,300,1000] [--seconds 20] [--warmup 8]

A 3-node NATS cluster (JetStream, MQTT gateway) on loopback, as in the tests. For each number
of sites N, in three processes:
  - a publisher sends the traffic N communities' bridges send up, with QoS 1: per site, the
    retained state of 10 charging posts (a real-sized document with 10 ports) every 5 s, of 4
    speakers every 60 s, the daemon's availability, and one audit event every 2 s;
  - the district service (``DistrictService``, as ``gridedge district run`` starts it) follows
    them; its view is wrapped to record, for every post state, the lag from the publisher's
    ``updated`` timestamp to the service reading it;
  - this process runs the cluster and collects the figures.
After ``--warmup`` s, it measures for ``--seconds`` s: state lag p50/p99, the service's CPU
(its own process time) and RSS growth over an idle service, each per site. The baseline is the
smallest N of the same run: the cost per site at larger N is printed as a ratio to it.
Everything shares this machine's cores (cluster, publisher, service): the figures are for one box.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

POSTS = 10
PORTS = 10
SPEAKERS = 4
POST_EVERY_S = 5.0
SPEAKER_EVERY_S = 60.0
EVENT_EVERY_S = 2.0
SITES_PER_CLIENT = 100


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- the publisher: N sites' uplinks ---------------------------------------------------------


def _post_state(site: str, post: str, now: float) -> bytes:
    ports = [{"port": p, "current_a": 1.8, "power_w": 396.0, "energy_kwh": 1.234, "on": True,
              "temp_c": 31.0, "status": "charging", "fault": None, "state": "normal",
              "latched": False, "latch": None, "overload_accumulated": 0.0}
             for p in range(1, PORTS + 1)]
    return json.dumps({"version": 1, "post": post, "name": f"{post}号充电桩", "location": "车棚",
                       "profile": "gridedge-post", "online": True, "offline_since": None,
                       "updated": now, "voltage_v": 221.4, "ports": ports, "latched_ports": [],
                       "sensor_faults": [], "rejected": {}, "dropped": 0,
                       "last_command": None}, ensure_ascii=False).encode()


def publish(port: int, root: str, sites: int, seconds: float) -> None:
    """Publish N sites' traffic to one node for ``seconds`` (run in its own process)."""
    import paho.mqtt.client as paho  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    clients = []
    for i in range(max(1, (sites + SITES_PER_CLIENT - 1) // SITES_PER_CLIENT)):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{root}-{i}",
                             protocol=paho.MQTTv311)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        clients.append(client)
    site_ids = [f"s{n:04d}" for n in range(sites)]
    # (period, offset within the period, kind, site, device), spread evenly over time.
    jobs: list[tuple[float, float, str, str, str]] = []
    for n, site in enumerate(site_ids):
        phase = n / sites
        jobs += [(POST_EVERY_S, (phase + p / POSTS / sites) * POST_EVERY_S, "post", site,
                  f"P{p + 1:02d}") for p in range(POSTS)]
        jobs += [(SPEAKER_EVERY_S, phase * SPEAKER_EVERY_S, "speaker", site, f"spk{s}")
                 for s in range(SPEAKERS)]
        jobs.append((EVENT_EVERY_S, phase * EVENT_EVERY_S, "event", site, ""))
    start = time.time()
    for site_n, site in enumerate(site_ids):
        clients[site_n // SITES_PER_CLIENT].publish(f"{root}/{site}/daemon/availability",
                                                    "online", qos=1, retain=True)
    due = sorted((start + offset, period, kind, site, dev)
                 for period, offset, kind, site, dev in jobs)
    import heapq  # noqa: PLC0415

    heapq.heapify(due)
    sent = 0
    while due:
        at, period, kind, site, dev = due[0]
        now = time.time()
        if now - start > seconds:
            break
        if at > now:
            time.sleep(min(at - now, 0.05))
            continue
        heapq.heapreplace(due, (at + period, period, kind, site, dev))
        client = clients[int(site[1:]) // SITES_PER_CLIENT]
        if kind == "post":
            client.publish(f"{root}/{site}/posts/{dev}/state", _post_state(site, dev, now),
                           qos=1, retain=True)
        elif kind == "speaker":
            client.publish(f"{root}/{site}/speakers/{dev}/state", json.dumps(
                {"online": True, "playing": None, "key": None, "queued": 0}), qos=1, retain=True)
        else:
            client.publish(f"{root}/{site}/events", json.dumps(
                {"kind": "play.done", "subject": "east_gate", "severity": "info",
                 "detail": {}, "ts": now}), qos=1)
        sent += 1
    for client in clients:
        client.loop_stop()
        client.disconnect()
    print(json.dumps({"sent": sent}), flush=True)


# -- the follower: the district service, measured ---------------------------------------------


def follow(port: int, root: str, warmup: float, seconds: float, sites: int) -> None:
    """Run the district service against one node; print the figures as JSON."""
    from edge.district.config import DistrictConfig  # noqa: PLC0415
    from edge.district.service import DistrictService  # noqa: PLC0415
    from edge.district.view import DistrictView  # noqa: PLC0415

    class MeasuredView(DistrictView):
        """The service's view, recording the lag of every post state it reads."""

        measuring = False
        lags: list[float] = []  # noqa: RUF012

        def on_message(self, topic: str, payload: bytes, received_at: float = 0.0) -> None:
            super().on_message(topic, payload, received_at)
            if self.measuring and topic.endswith("/state") and "/posts/" in topic:
                updated = json.loads(payload).get("updated")
                if isinstance(updated, float):
                    self.lags.append(time.time() - updated)

    config = DistrictConfig.model_validate({
        "name": "bench", "broker": {"host": "127.0.0.1", "port": port, "protocol": "3.1.1",
                                    "topic_root": root, "keepalive_s": 30},
        "http": {"bind": "127.0.0.1", "port": 0, "token": "bench"}})

    async def main() -> dict[str, Any]:
        service = DistrictService(config)
        view = MeasuredView(root)
        service.view = view
        await service.start()
        await service.mqtt.wait_connected(30)
        await asyncio.sleep(1.0)
        rss_idle = _rss_kb()
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.sleep(warmup)
        view.measuring = True
        cpu0, wall0, got0 = time.process_time(), time.monotonic(), view.received
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        got = view.received - got0
        view.measuring = False
        result = {"sites_seen": len(view.sites), "posts_seen": sum(len(s.posts) for s in
                                                                    view.sites.values()),
                  "lag_p50_ms": _pct(view.lags, 0.5) * 1000, "lag_p99_ms":
                  _pct(view.lags, 0.99) * 1000, "states": len(view.lags),
                  "msgs_per_s": got / wall, "cpu_pct": 100 * cpu / wall,
                  "rss_kb": _rss_kb(), "rss_growth_kb": _rss_kb() - rss_idle}
        await service.stop()
        return result

    print(json.dumps(asyncio.run(main())), flush=True)


# -- the orchestra ---------------------------------------------------------------------------------


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,  # noqa: S603
                            text=True, cwd=REPO)


def run_level(cluster: Any, sites: int, warmup: float, seconds: float) -> dict[str, Any]:
    """One measurement: N sites published to node 1, the service on node 2."""
    root = f"bench{sites}x{os.getpid()}"
    follower = _child("--follow", str(cluster.nodes[1].mqtt_port), root, str(warmup),
                      str(seconds), str(sites))
    assert follower.stdout is not None
    json.loads(follower.stdout.readline())  # ready
    publisher = _child("--publish", str(cluster.nodes[0].mqtt_port), root, str(sites),
                       str(warmup + seconds + 2))
    result = json.loads(follower.stdout.readline())
    out, _ = publisher.communicate(timeout=warmup + seconds + 120)
    follower.wait(60)
    result["published_per_s"] = json.loads(out.strip().splitlines()[-1])["sent"] / (
        warmup + seconds + 2)
    result["sites"] = sites
    return result


def main() -> None:
    """Parse arguments, run every level, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", default="10,100,300,1000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    args = parser.parse_args()
    from tests.district.cluster import NatsCluster  # noqa: PLC0415

    levels = [int(n) for n in args.sites.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        cluster = NatsCluster(Path(tmp))
        cluster.start()
        try:
            results = [run_level(cluster, n, args.warmup, args.seconds) for n in levels]
        finally:
            cluster.stop()
    base = results[0]
    base_cpu = base["cpu_pct"] / base["sites"]
    base_rss = max(base["rss_growth_kb"], 1) / base["sites"]
    print(f"district service on {os.cpu_count()} cores, 3-node NATS cluster on the same box; "
          f"per site: {POSTS} post states/{POST_EVERY_S:.0f} s, {SPEAKERS} speaker states/"
          f"{SPEAKER_EVERY_S:.0f} s, 1 event/{EVENT_EVERY_S:.0f} s, QoS 1; baseline = "
          f"{base['sites']} sites")
    print(f"{'sites':>6} {'seen':>6} {'pub msg/s':>9} {'msg/s in':>9} {'state p50':>10} {'state p99':>10} "
          f"{'CPU %':>6} {'CPU %/site':>10} {'x base':>7} {'RSS MB':>7} {'KB/site':>8} "
          f"{'x base':>7}")
    for r in results:
        cpu_site = r["cpu_pct"] / r["sites"]
        rss_site = r["rss_growth_kb"] / r["sites"]
        print(f"{r['sites']:>6} {r['sites_seen']:>6} {r['published_per_s']:>9.0f} "
              f"{r['msgs_per_s']:>9.0f} "
              f"{r['lag_p50_ms']:>8.0f}ms {r['lag_p99_ms']:>8.0f}ms {r['cpu_pct']:>6.1f} "
              f"{cpu_site:>10.3f} {cpu_site / base_cpu:>7.2f} {r['rss_kb'] / 1024:>7.1f} "
              f"{rss_site:>8.1f} {rss_site / base_rss:>7.2f}")
    under = [r["sites"] for r in results if r["lag_p99_ms"] < 1000 and r["sites_seen"] == r["sites"]]
    print(f"largest measured level with state p99 lag under 1 s: "
          f"{max(under) if under else 'none'} sites")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--publish":
        publish(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--follow":
        follow(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]),
               int(sys.argv[6]))
    else:
        main()
