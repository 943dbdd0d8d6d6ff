"""Benchmark: the daemon's post ingest path against a bare paho subscriber, and trip-to-cut-off latency.

Run: .venv/bin/python bench/ingest.py [--messages N] [--trips N]

One run, one mosquitto (started here with ``set_tcp_nodelay true`` and raised queue limits):
  (a) a bare paho subscriber that only ``json.loads`` each message;
  (b) the daemon's post monitoring (store, MQTT client, event bus, PostsComponent: decode,
      validate, protect, state publish on change) for 10 posts x 10 ports.
Both get the same canonical telemetry stream. To measure the consumer and not the publisher
(paho publishes ~22 k msg/s, slower than a subscriber reads), the consumer process is paused
(SIGSTOP) while the broker queues the whole stream, then resumed; the clock runs from SIGCONT
until the consumer has handled the last message: the bare client answers on a topic, the
daemon cuts off a port that the last message overloads.
  (c) with 1,000 msg/s of background telemetry, the time from publishing an instantaneous-trip
      reading to the cut-off command arriving back (>= 200 trips, each port reset over MQTT
      afterwards), beside a bare paho echo client's publish-to-republish round trip.
Prints msg/s of (a) and (b), b/a, latency p50/p99 of both, and the daemon's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SITE = "bench"
# Both consumers speak the same MQTT version, so the ratio compares our work, not the protocol:
# paho parses an MQTT 5 property block on every PUBLISH. GRIDEDGE_BENCH_MQTT=5 measures v5 (both).
PROTOCOL = os.environ.get("GRIDEDGE_BENCH_MQTT", "3.1.1")
POSTS = [f"P{n:02d}" for n in range(1, 11)]
PORTS = 10
TRIP_POSTS = POSTS[:5]  # (c): trips here, background load on the other five
MARKER_A = 50.0  # an instantaneous-level current (the profile's instantaneous_a is 10 A)
MOSQUITTO_CONF = """allow_anonymous true
persistence false
set_tcp_nodelay true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
listener {port} 127.0.0.1
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(port: int, name: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name,
                         protocol=paho.MQTTv5 if PROTOCOL == "5" else paho.MQTTv311)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port, keepalive=120)
    # The bench's own senders must not hold a small publish back for an ACK (Nagle): the
    # publisher sends a QoS 1 reset right before each echo probe.
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _telemetry_topic(post: str) -> str:
    return f"gridedge/{SITE}/posts/{post}/telemetry"


def _stream(count: int) -> list[tuple[str, bytes]]:
    """Ordinary charging readings (0.5-1.4 A, under every pickup), then the marker overload."""
    t0 = time.time()
    out = []
    for i in range(count):
        post = POSTS[i % len(POSTS)]
        port = (i // len(POSTS)) % PORTS + 1
        current = 0.5 + (i % 10) * 0.1  # ten ports at most 1.4 A: under the 16 A post total
        payload = {"ts": t0 + i * 1e-4, "voltage_v": 221.5, "ports": [
            {"port": port, "current_a": round(current, 2), "power_w": round(current * 220, 1),
             "energy_kwh": 1.25, "on": True, "status": "charging"}]}
        out.append((_telemetry_topic(post), json.dumps(payload).encode()))
    marker = {"ts": t0 + count * 1e-4 + 1, "ports": [{"port": PORTS, "current_a": MARKER_A,
                                                      "on": True}]}
    out.append((_telemetry_topic(POSTS[0]), json.dumps(marker).encode()))
    return out


# -- consumer processes ------------------------------------------------------------------------

def run_bare(port: int, expected: int) -> None:
    """(a): json.loads every message; after ``expected`` messages say so on bench/done."""
    client = _client(port, "bench-bare")
    count = 0

    def on_message(c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        nonlocal count
        json.loads(msg.payload)
        count += 1
        if count == expected:
            c.publish("bench/done", b"1", qos=0)

    client.on_message = on_message
    client.subscribe(f"gridedge/{SITE}/posts/+/telemetry", qos=1)
    client.publish("bench/ready", b"bare", qos=1)
    client.loop_forever()


def run_echo(port: int) -> None:
    """A bare echo: republish every message of bench/echo/in on bench/echo/out."""
    client = _client(port, "bench-echo")
    client.on_message = lambda c, _u, msg: c.publish("bench/echo/out", msg.payload, qos=0)
    client.subscribe("bench/echo/in", qos=0)
    client.publish("bench/ready", b"echo", qos=1)
    client.loop_forever()


def run_daemon(config_path: str) -> None:
    """(b)/(c): the daemon's post monitoring, as `gridedge run` builds it, without the rest."""
    from edge.app import App
    from edge.config import load_config
    from edge.posts.component import create
    from edge.profiles import load_registry

    async def main() -> None:
        profiles = load_registry()
        config = load_config(Path(config_path), profiles=profiles)
        app = App(config, profiles)
        await app.store.start()
        component = create(app)
        await component.start()
        await app.mqtt.start()
        await app.mqtt.wait_connected(10)
        app.mqtt.publish("bench/ready", "daemon", qos=1)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the parent ------------------------------------------------------------------------------

class Watcher:
    """A paho client in the parent that records arrival times of messages per topic."""

    def __init__(self, port: int, filters: list[str]) -> None:
        self.arrivals: dict[str, list[tuple[float, bytes]]] = {}
        self.cond = threading.Condition()
        self.client = _client(port, "bench-watch")
        self.client.on_message = self._on_message
        for f in filters:
            self.client.subscribe(f, qos=0)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        with self.cond:
            self.arrivals.setdefault(msg.topic, []).append((now, msg.payload))
            self.cond.notify_all()

    def wait(self, check, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def count(self, topic: str) -> int:
        return len(self.arrivals.get(topic, []))


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=REPO)


def _flood(pub: paho.Client, stream: list[tuple[str, bytes]]) -> None:
    infos = [pub.publish(topic, payload, qos=0) for topic, payload in stream]
    infos[-1].wait_for_publish(120)
    time.sleep(0.5)  # let the broker take the tail from its socket


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _consume(proc: subprocess.Popen[bytes], pub: paho.Client, stream: list[tuple[str, bytes]],
             watcher: Watcher, done_topic: str) -> tuple[float, float]:
    """Pause the consumer, queue the stream at the broker, resume; (wall s, CPU s) until done."""
    before = watcher.count(done_topic)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        _flood(pub, stream)
    finally:
        cpu0 = _cpu_s(proc.pid)
        start = time.perf_counter()
        os.kill(proc.pid, signal.SIGCONT)
    assert watcher.wait(lambda: watcher.count(done_topic) > before), "consumer never finished"
    return watcher.arrivals[done_topic][before][0] - start, _cpu_s(proc.pid) - cpu0


def _config(tmp: Path, port: int) -> Path:
    import yaml

    devices = {p: {"name": f"{int(p[1:])}号充电桩", "location": "bench"} for p in POSTS}
    data = {"site": {"id": SITE, "name": "基准", "timezone": "Asia/Shanghai"},
            "mqtt": {"host": "127.0.0.1", "port": port, "protocol": PROTOCOL},
            "storage": {"data_dir": str(tmp / "data")},
            "logging": {"level": "warning", "levels": {"edge.events": "error"}},
            "posts": {"defaults": {"profile": "gridedge-post", "ports": PORTS,
                                   "offline_after_s": 600}, "devices": devices}}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _latency(args: argparse.Namespace, port: int, watcher: Watcher) -> tuple[list[float], list[float]]:
    """(c): trip → cut-off command latencies, and echo round trips, under background load."""
    pub = _client(port, "bench-trips")
    pub.loop_start()
    stop = threading.Event()

    def background() -> None:
        bg = _client(port, "bench-background")
        bg.loop_start()
        n, start = 0, time.perf_counter()
        while not stop.is_set():
            post = POSTS[5 + n % 5]
            payload = {"ts": time.time(), "ports": [{"port": n // 5 % PORTS + 1,
                                                     "current_a": 1.5, "on": True}]}
            bg.publish(_telemetry_topic(post), json.dumps(payload), qos=0)
            n += 1
            delay = start + n / 1000.0 - time.perf_counter()  # 1,000 msg/s
            if delay > 0:
                time.sleep(delay)
        bg.loop_stop()

    # (b)'s marker latched P01 port 10: the device obeyed, staff reset it.
    off = {"ts": time.time(), "ports": [{"port": PORTS, "current_a": 0.0, "on": False}]}
    pub.publish(_telemetry_topic(POSTS[0]), json.dumps(off), qos=1).wait_for_publish(10)
    pub.publish(f"gridedge/{SITE}/posts/{POSTS[0]}/reset",
                json.dumps({"id": "marker", "port": PORTS, "by": "bench"}), qos=1)
    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    time.sleep(1.0)
    trips, echoes = [], []
    for i in range(args.trips):
        post = TRIP_POSTS[i % len(TRIP_POSTS)]
        p = i // len(TRIP_POSTS) % PORTS + 1
        cmd = f"gridedge/{SITE}/posts/{post}/cmd"
        before = watcher.count(cmd)
        reading = {"ts": time.time(), "ports": [{"port": p, "current_a": MARKER_A, "on": True}]}
        sent = time.perf_counter()
        pub.publish(_telemetry_topic(post), json.dumps(reading), qos=0)
        assert watcher.wait(lambda cmd=cmd, before=before: watcher.count(cmd) > before, 10)
        trips.append(watcher.arrivals[cmd][before][0] - sent)
        # The device obeys, then staff reset the port for the next round.
        off = {"ts": time.time(), "ports": [{"port": p, "current_a": 0.0, "on": False}]}
        pub.publish(_telemetry_topic(post), json.dumps(off), qos=0)
        pub.publish(f"gridedge/{SITE}/posts/{post}/reset",
                    json.dumps({"id": f"b{i}", "port": p, "by": "bench"}), qos=1)
        before_echo = watcher.count("bench/echo/out")
        sent = time.perf_counter()
        pub.publish("bench/echo/in", b"x" * 120, qos=0)
        assert watcher.wait(lambda b=before_echo: watcher.count("bench/echo/out") > b, 10)
        echoes.append(watcher.arrivals["bench/echo/out"][before_echo][0] - sent)
        time.sleep(0.02)
    stop.set()
    thread.join()
    pub.loop_stop()
    return trips, echoes


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> int:
    """Run the whole benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("role", nargs="?", default="parent")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.role == "bare":
        run_bare(int(args.rest[0]), int(args.rest[1]))
        return 0
    if args.role == "echo":
        run_echo(int(args.rest[0]))
        return 0
    if args.role == "daemon":
        run_daemon(args.rest[0])
        return 0

    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if mosquitto is None:
        print("mosquitto not found", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="gridedge-bench-"))
    port = _free_port()
    (tmp / "mosquitto.conf").write_text(MOSQUITTO_CONF.format(port=port))
    broker = subprocess.Popen([mosquitto, "-c", str(tmp / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        time.sleep(0.5)
        watcher = Watcher(port, ["bench/#", f"gridedge/{SITE}/posts/+/cmd"])
        stream = _stream(args.messages)
        pub = _client(port, "bench-publisher")
        pub.loop_start()
        print(f"stream: {len(stream)} canonical telemetry messages, 10 posts x 10 ports, QoS 0, "
              f"MQTT {PROTOCOL} for both consumers")

        bare = _spawn("bare", str(port), str(len(stream)))
        procs.append(bare)
        assert watcher.wait(lambda: watcher.count("bench/ready") >= 1, 30)
        a_s, a_cpu = _consume(bare, pub, stream, watcher, "bench/done")
        bare.kill()

        daemon = _spawn("daemon", str(_config(tmp, port)))
        procs.append(daemon)
        assert watcher.wait(lambda: watcher.count("bench/ready") >= 2, 60)
        time.sleep(1.0)
        b_s, b_cpu = _consume(daemon, pub, stream, watcher, f"gridedge/{SITE}/posts/{POSTS[0]}/cmd")
        n = len(stream)
        a_rate, b_rate = n / a_s, n / b_s
        print(f"(a) bare paho + json.loads : {a_rate:9.0f} msg/s ({a_s:.2f} s wall, "
              f"{a_cpu / n * 1e6:.1f} µs CPU per message)")
        print(f"(b) daemon post ingest     : {b_rate:9.0f} msg/s ({b_s:.2f} s wall, "
              f"{b_cpu / n * 1e6:.1f} µs CPU per message)")
        print(f"    ratio b/a              : {b_rate / a_rate:.2f} (wall clock); "
              f"{a_cpu / b_cpu:.2f} (CPU per message)")
        print(f"    load average now       : {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

        echo = _spawn("echo", str(port))
        procs.append(echo)
        assert watcher.wait(lambda: watcher.count("bench/ready") >= 3, 30)
        trips, echoes = _latency(args, port, watcher)
        print(f"(c) trip -> cut-off command, {len(trips)} trips at 1,000 msg/s background: "
              f"p50 {_pct(trips, 50):.2f} ms, p99 {_pct(trips, 99):.2f} ms, "
              f"max {max(trips) * 1000:.2f} ms")
        print(f"    bare paho echo round trip, same run: p50 {_pct(echoes, 50):.2f} ms, "
              f"p99 {_pct(echoes, 99):.2f} ms")
        print(f"daemon peak RSS: {_peak_rss_mib(daemon.pid):.1f} MiB")
        pub.loop_stop()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        broker.terminate()
        broker.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
