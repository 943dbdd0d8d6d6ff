"""Benchmark: the daemon's post ingest against a bare paho + json.loads subscriber, and trip → cut-off latency.

Run: .venv/bin/python bench/ingest.py [--mode realistic|light] [--messages N] [--trips N] [--repeat N]

Everything is measured in one run on one mosquitto (started here), each figure beside the bare
paho + ``json.loads`` subscriber, with the MQTT protocol of the shipped config.yaml and the
daemon at the production log level of that file (events logged, audit log written):

  (a) ingest: the same prepared stream is queued at the broker while the consumer is paused
      (SIGSTOP), then the consumer is resumed; msg/s from SIGCONT until the consumer handled
      the last message, and CPU µs per message from /proc. The realistic stream (default) is
      what charging posts report: every message carries all 10 ports of a post, currents near
      the limits (post totals close to 16 A, ports near their 3 A rating), and about 1 % of
      messages overload a port, so trips, cut-offs, confirmations (the port reported off) and
      staff resets (over MQTT) happen inside the stream. ``--mode light`` is the old stream:
      one port per message, far below every setting.
  (b) latency: with 1,000 msg/s of realistic background telemetry, the time from publishing an
      overload to the cut-off command arriving back, each port confirmed off and reset after;
      beside a bare paho echo client's round trip. Once with the 10 posts of (a), once with
      1,000 posts configured (background spread over all of them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
import yaml
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SITE = "bench"
SHIPPED = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
PROTOCOL = str(SHIPPED["mqtt"].get("protocol", "5"))
LOG_LEVEL = SHIPPED.get("logging", {}).get("level", "info")
PORTS = 10
OVERLOAD_A = 12.0  # above the profile's 10 A instantaneous setting
TOTAL_MAX_A = 15.9  # the profile's post limit is 16 A
MOSQUITTO_CONF = """allow_anonymous true
persistence false
set_tcp_nodelay true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
listener {port} 127.0.0.1
"""


def posts_of(count: int) -> list[str]:
    """Post ids P0001... (P01... for the usual ten)."""
    width = 2 if count <= 99 else 4
    return [f"P{n:0{width}d}" for n in range(1, count + 1)]


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
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _topic(post: str, what: str = "telemetry") -> str:
    return f"gridedge/{SITE}/posts/{post}/{what}"


def _ports(rng: random.Random) -> list[dict[str, object]]:
    """Ten ports of a busy evening post: chargers at 0.8-1.5 A, three near their 3 A rating
    (2.5-2.9 A), 13-16 A in all against the 16 A post limit; nothing above a pickup."""
    out = []
    for p in range(1, PORTS + 1):
        current = round(rng.uniform(2.5, 2.9) if p % 4 == 0 else rng.uniform(0.8, 1.5), 2)
        out.append({"port": p, "current_a": current, "power_w": round(current * 221.0, 1),
                    "voltage_v": 221.0, "energy_kwh": round(rng.uniform(0, 9), 3), "on": True,
                    "status": "charging"})
    total = sum(float(p["current_a"]) for p in out)  # type: ignore[arg-type]
    if total > TOTAL_MAX_A:  # keep the post just under its limit, as its owner would
        scale = TOTAL_MAX_A / total
        for p in out:
            p["current_a"] = round(float(p["current_a"]) * scale - 0.01, 2)  # type: ignore[arg-type]
            p["power_w"] = round(float(p["current_a"]) * 221.0, 1)  # type: ignore[arg-type]
    return out


def realistic_stream(count: int, posts: list[str], seed: int = 11) -> list[tuple[str, bytes]]:
    """10-port messages near the limits; ~1 % overload a port, then it is seen off and reset."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    follow: dict[str, tuple[int, int]] = {}  # post → (port to confirm and reset, message number)
    i = 0
    while len(out) < count or follow:
        post = posts[i % len(posts)]
        i += 1
        pending = follow.pop(post, None)
        if pending is not None:  # the device obeyed the cut, then a grid worker reset the port
            port, number = pending
            off = _ports(rng)
            off[port - 1].update(current_a=0.0, power_w=0.0, on=False, status="idle")
            out.append((_topic(post), json.dumps({"ts": time.time(), "voltage_v": 221.0,
                                                  "ports": off}).encode()))
            out.append((_topic(post, "reset"), json.dumps(
                {"id": f"s{number}", "port": port, "by": "bench"}).encode()))
            continue
        if len(out) >= count:
            continue
        ports = _ports(rng)
        if rng.random() < 0.01:
            port = rng.randrange(PORTS) + 1
            ports[port - 1]["current_a"] = OVERLOAD_A
            follow[post] = (port, i)
        out.append((_topic(post), json.dumps({"ts": time.time(), "voltage_v": 221.0,
                                              "temp_c": 31.0, "ports": ports}).encode()))
    return out


def light_stream(count: int, posts: list[str]) -> list[tuple[str, bytes]]:
    """The old stream: one port per message, 0.5-1.4 A, far below every setting."""
    t0 = time.time()
    out = []
    for i in range(count):
        post = posts[i % len(posts)]
        port = (i // len(posts)) % PORTS + 1
        current = 0.5 + (i % 10) * 0.1
        payload = {"ts": t0 + i * 1e-4, "voltage_v": 221.5, "ports": [
            {"port": port, "current_a": round(current, 2), "power_w": round(current * 220, 1),
             "energy_kwh": 1.25, "on": True, "status": "charging"}]}
        out.append((_topic(post), json.dumps(payload).encode()))
    return out


def done_marker(post: str) -> tuple[str, bytes]:
    """The stream's last message: a reset of a port that is not latched, answered in the state."""
    return _topic(post, "reset"), json.dumps({"id": "bench-done", "port": PORTS, "by": "bench"}).encode()


# -- consumer processes ------------------------------------------------------------------------

def run_bare(port: int, expected: int) -> None:
    """json.loads every message; after ``expected`` messages say so on bench/done."""
    client = _client(port, "bench-bare")
    count = 0

    def on_message(c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        nonlocal count
        json.loads(msg.payload)
        count += 1
        if count == expected:
            c.publish("bench/done", b"1", qos=0)

    client.on_message = on_message
    client.subscribe([(f"gridedge/{SITE}/posts/+/telemetry", 1), (f"gridedge/{SITE}/posts/+/reset", 1)])
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
    """The daemon's post monitoring as `gridedge run` builds it (store, MQTT, events, logging)."""
    from edge.app import App, configure_logging, prefer_the_loop, settle_heap
    from edge.config import load_config
    from edge.posts.component import create
    from edge.profiles import load_registry

    async def main() -> None:
        profiles = load_registry()
        config = load_config(Path(config_path), profiles=profiles)
        configure_logging(config)
        app = App(config, profiles)
        await app.store.start()
        component = create(app)
        await component.start()
        settle_heap()
        prefer_the_loop()
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

    def wait(self, check, timeout: float = 300.0) -> bool:  # noqa: ANN001
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

    def first_with(self, topic: str, needle: bytes, after: int) -> float | None:
        for at, payload in self.arrivals.get(topic, [])[after:]:
            if needle in payload:
                return at
        return None


def _spawn(*args: str, quiet: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=REPO,
                            stderr=subprocess.DEVNULL if quiet else None)


def _flood(pub: paho.Client, stream: list[tuple[str, bytes]]) -> None:
    infos = [pub.publish(topic, payload, qos=0) for topic, payload in stream]
    infos[-1].wait_for_publish(300)
    time.sleep(0.5)  # let the broker take the tail from its socket


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _consume(proc: subprocess.Popen[bytes], pub: paho.Client, stream: list[tuple[str, bytes]],
             done) -> tuple[float, float]:  # noqa: ANN001
    """Pause the consumer, queue the stream at the broker, resume; (wall s, CPU s) until done()."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        _flood(pub, stream)
    finally:
        cpu0 = _cpu_s(proc.pid)
        start = time.perf_counter()
        os.kill(proc.pid, signal.SIGCONT)
    finished = done()
    assert finished is not None, "consumer never finished"
    return finished - start, _cpu_s(proc.pid) - cpu0


def _config(tmp: Path, port: int, posts: list[str], name: str) -> Path:
    devices = {p: {"name": f"{p}号充电桩", "location": "bench"} for p in posts}
    data = {"site": {"id": SITE, "name": "基准", "timezone": "Asia/Shanghai"},
            "mqtt": {"host": "127.0.0.1", "port": port, "protocol": PROTOCOL},
            "storage": {"data_dir": str(tmp / f"data-{name}")},
            "logging": {"level": LOG_LEVEL},
            "posts": {"defaults": {"profile": "gridedge-post", "ports": PORTS,
                                   "offline_after_s": 600}, "devices": devices}}
    path = tmp / f"config-{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _latency(port: int, watcher: Watcher, posts: list[str], trips: int) -> tuple[list[float], list[float]]:
    """Trip → cut-off command latencies, and echo round trips, under 1,000 msg/s background."""
    pub = _client(port, "bench-trips")
    pub.loop_start()
    stop = threading.Event()
    trip_posts = posts[:5]
    background_posts = posts[5:] if len(posts) > 10 else posts[5:10]

    def background() -> None:
        bg = _client(port, "bench-background")
        bg.loop_start()
        rng = random.Random(5)
        n, start = 0, time.perf_counter()
        while not stop.is_set():
            post = background_posts[n % len(background_posts)]
            body = {"ts": time.time(), "voltage_v": 221.0, "ports": _ports(rng)}
            bg.publish(_topic(post), json.dumps(body), qos=0)
            n += 1
            delay = start + n / 1000.0 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        bg.loop_stop()

    for post in trip_posts:  # nothing left latched from an earlier phase
        for p in range(1, PORTS + 1):
            pub.publish(_topic(post, "reset"), json.dumps({"id": "clear", "port": p, "by": "bench"}), qos=1)
    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    time.sleep(2.0)
    latencies, echoes = [], []
    for i in range(trips):
        post = trip_posts[i % len(trip_posts)]
        p = i // len(trip_posts) % PORTS + 1
        cmd = _topic(post, "cmd")
        before = watcher.count(cmd)
        reading = {"ts": time.time(), "ports": [{"port": p, "current_a": OVERLOAD_A, "on": True}]}
        sent = time.perf_counter()
        pub.publish(_topic(post), json.dumps(reading), qos=0)
        assert watcher.wait(lambda cmd=cmd, before=before: watcher.count(cmd) > before, 10)
        latencies.append(watcher.arrivals[cmd][before][0] - sent)
        off = {"ts": time.time(), "ports": [{"port": p, "current_a": 0.0, "on": False}]}
        pub.publish(_topic(post), json.dumps(off), qos=0)
        pub.publish(_topic(post, "reset"), json.dumps({"id": f"b{i}", "port": p, "by": "bench"}), qos=1)
        before_echo = watcher.count("bench/echo/out")
        sent = time.perf_counter()
        pub.publish("bench/echo/in", b"x" * 120, qos=0)
        assert watcher.wait(lambda b=before_echo: watcher.count("bench/echo/out") > b, 10)
        echoes.append(watcher.arrivals["bench/echo/out"][before_echo][0] - sent)
        time.sleep(0.05)
    stop.set()
    thread.join()
    pub.loop_stop()
    return latencies, echoes


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def _start_daemon(watcher: Watcher, config: Path, ready: int) -> subprocess.Popen[bytes]:
    proc = _spawn("daemon", str(config), quiet=True)
    assert watcher.wait(lambda: watcher.count("bench/ready") >= ready, 120), "daemon did not start"
    time.sleep(1.0)
    return proc


def main() -> int:  # noqa: PLR0915 - one run, printed in order
    """Run the whole benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("realistic", "light"), default="realistic")
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds of (a), bare and daemon in turn (the machine's noise shows)")
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
    ten = posts_of(10)
    try:
        time.sleep(0.5)
        watcher = Watcher(port, ["bench/#", f"gridedge/{SITE}/posts/+/cmd",
                                 f"gridedge/{SITE}/posts/{ten[0]}/state"])
        make = realistic_stream if args.mode == "realistic" else light_stream

        def fresh_stream() -> list[tuple[str, bytes]]:
            # Timestamps are taken now: a replayed stream would look like a device clock step.
            stream = make(args.messages, ten)
            stream.append(done_marker(ten[0]))
            return stream

        stream = fresh_stream()
        trips_in_stream = sum(1 for t, _p in stream if t.endswith("/reset")) - 1
        pub = _client(port, "bench-publisher")
        pub.loop_start()
        size = statistics.mean(len(p) for _t, p in stream)
        print(f"stream ({args.mode}): {len(stream)} messages for 10 posts of {PORTS} ports, "
              f"{size:.0f} bytes on average, {trips_in_stream} overloads (each cut, seen off, "
              f"reset), QoS 0; MQTT {PROTOCOL} and log level {LOG_LEVEL} as in config.yaml; "
              f"{args.repeat} rounds, bare and daemon in turn")

        state_topic = _topic(ten[0], "state")
        rates: list[tuple[float, float]] = []  # (daemon/bare msg/s, bare/daemon CPU) per round
        for round_no in range(1, args.repeat + 1):
            n = len(stream)
            bare = _spawn("bare", str(port), str(n))
            ready = watcher.count("bench/ready")
            assert watcher.wait(lambda ready=ready: watcher.count("bench/ready") > ready, 30)
            before = watcher.count("bench/done")
            a_s, a_cpu = _consume(bare, pub, stream, lambda before=before: watcher.wait(
                lambda: watcher.count("bench/done") > before) and watcher.arrivals["bench/done"][before][0])
            bare.kill()
            bare.wait()

            # Each consumer runs alone: a daemon left running would take the bare's stream too.
            daemon = _start_daemon(watcher, _config(tmp, port, ten, "10"),
                                   watcher.count("bench/ready") + 1)
            procs.append(daemon)
            stream = fresh_stream()
            seen = watcher.count(state_topic)
            cmds_before = sum(watcher.count(_topic(p, "cmd")) for p in ten)

            def daemon_done(seen: int = seen) -> float | None:
                box: dict[str, float] = {}

                def check() -> bool:
                    at = watcher.first_with(state_topic, b'"bench-done"', seen)
                    if at is not None:
                        box["at"] = at
                    return at is not None

                return box["at"] if watcher.wait(check) else None

            b_s, b_cpu = _consume(daemon, pub, stream, daemon_done)
            cuts = sum(watcher.count(_topic(p, "cmd")) for p in ten) - cmds_before
            a_rate, b_rate = n / a_s, n / b_s
            rates.append((b_rate / a_rate, a_cpu / b_cpu))
            print(f"(a) round {round_no}: bare paho + json.loads {a_rate:7.0f} msg/s "
                  f"{a_cpu / n * 1e6:6.1f} µs CPU/msg; daemon post ingest {b_rate:7.0f} msg/s "
                  f"{b_cpu / n * 1e6:6.1f} µs CPU/msg ({cuts} cut-off commands); daemon / bare "
                  f"{b_rate / a_rate:.2f} (msg/s), {a_cpu / b_cpu:.2f} (CPU per message)")
            stream = fresh_stream()
            if round_no < args.repeat:
                daemon.kill()
                daemon.wait()
        print(f"    daemon / bare, median of {len(rates)} rounds: "
              f"{statistics.median(r for r, _c in rates):.2f} (msg/s); "
              f"{statistics.median(c for _r, c in rates):.2f} (CPU per message, bare / daemon); "
              f"range {min(r for r, _c in rates):.2f}-{max(r for r, _c in rates):.2f}")

        ready = watcher.count("bench/ready")
        echo = _spawn("echo", str(port))
        procs.append(echo)
        assert watcher.wait(lambda: watcher.count("bench/ready") > ready, 30)
        lat, echoes = _latency(port, watcher, ten, args.trips)
        print(f"(b) trip -> cut-off, 10 posts, {len(lat)} trips, 1,000 msg/s background: "
              f"p50 {_pct(lat, 50):.2f} ms, p99 {_pct(lat, 99):.2f} ms, max {max(lat) * 1000:.2f} ms")
        print(f"    bare paho echo round trip, same run: p50 {_pct(echoes, 50):.2f} ms, "
              f"p99 {_pct(echoes, 99):.2f} ms")
        daemon.kill()
        daemon.wait()

        many = posts_of(1000)
        big = _start_daemon(watcher, _config(tmp, port, many, "1000"),
                            watcher.count("bench/ready") + 1)
        procs.append(big)
        lat, echoes = _latency(port, watcher, many, args.trips)
        print(f"    trip -> cut-off, 1,000 posts, {len(lat)} trips, 1,000 msg/s background: "
              f"p50 {_pct(lat, 50):.2f} ms, p99 {_pct(lat, 99):.2f} ms, max {max(lat) * 1000:.2f} ms")
        print(f"    bare paho echo round trip, same run: p50 {_pct(echoes, 50):.2f} ms, "
              f"p99 {_pct(echoes, 99):.2f} ms")
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
