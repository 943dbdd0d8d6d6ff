"""Soak: a day of a community compressed into minutes, with a broker restart and a full disk in the middle.

Run: .venv/bin/python bench/soak.py [--duration 600]

A real `gridedge run` (a subprocess) against a real mosquitto, virtual speakers (the simulator),
a loopback phone receiver (Apprise ``json://``) for every worker, and a telemetry generator:
  * 10 posts x 20 messages/s of canonical telemetry (10 ports each);
  * an announcement to every speaker every minute;
  * an overload (15 A, above the instantaneous element) on a fresh port every duration/24 s;
    the generator plays the post: once the daemon's ``port_off`` arrives, that port reads 0 A;
  * at 45 % of the run the broker is stopped for 5 s and started again;
  * at 55 % the data directory's filesystem (a small tmpfs, when run as root) is filled for
    duration/20 s, then freed.
At the end the daemon is killed (-9) and started again, and the figures are printed:
  RSS growth over the last half, pages lost (an overload alert whose page never reached the
  receiver), latches lost (a cut port not latched after the restart), overloads cut, and the
  worst time from an overload to its cut-off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.config import load_config  # noqa: E402
from edge.profiles import load_registry  # noqa: E402
from edge.sim.broker import free_port  # noqa: E402
from edge.sim.speakers import simulator_for  # noqa: E402
from tests.alerts.rig import Receiver, roster_section  # noqa: E402
from tests.broker.harness import Broker  # noqa: E402
from tests.conftest import gridedge_command, site_config  # noqa: E402

POSTS = [f"P{n:02d}" for n in range(1, 11)]
PORTS = 10
RATE_PER_POST = 20          # messages per second
NORMAL_A, OVERLOAD_A = 1.5, 15.0
TOKEN = "soak-token"
TMPFS_MB = 64
BROKER_GAP_S = 5.0
GUARD_S = 60.0


class Generator(threading.Thread):
    """Telemetry of 10 posts at 20 msg/s each; overloaded ports read 0 A once cut."""

    def __init__(self, broker: Broker, root: str) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.overloads: dict[tuple[str, int], float] = {}   # (post, port) → monotonic start
        self.cuts: dict[tuple[str, int], float] = {}        # (post, port) → seconds to cut
        self.sent = 0
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="soak-posts")
        self.client.reconnect_delay_set(0.2, 1.0)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{root}/posts/+/cmd", qos=1)
        self.client.on_message = self._command
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def overload(self, post: str, port: int) -> None:
        with self.lock:
            self.overloads[(post, port)] = time.monotonic()

    def _command(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            doc = json.loads(msg.payload)
            key = (msg.topic.split("/")[-2], int(doc["port"]))
            with self.lock:
                if doc["action"] == "port_off" and key in self.overloads and key not in self.cuts:
                    self.cuts[key] = time.monotonic() - self.overloads[key]

    def run(self) -> None:
        period = 1.0 / RATE_PER_POST
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            now = time.time()
            with self.lock:
                cut, hot = set(self.cuts), set(self.overloads)
            for post in POSTS:
                ports = []
                for port in range(1, PORTS + 1):
                    if (post, port) in cut:
                        ports.append({"port": port, "current_a": 0.0, "on": False})
                    else:
                        amps = OVERLOAD_A if (post, port) in hot else NORMAL_A
                        ports.append({"port": port, "current_a": amps, "power_w": amps * 220,
                                      "on": True})
                self.client.publish(f"{self.root}/posts/{post}/telemetry",
                                    json.dumps({"ts": now, "ports": ports}), qos=0)
                self.sent += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))

    def close(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def http_get(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def wait_healthy(base: str, guard: float = GUARD_S) -> bool:
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        if http_get(base + "/healthz")[0] == 200:  # noqa: PLR2004
            return True
        time.sleep(0.2)
    return False


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` until it is full; the filler file to remove later."""
    filler = folder / "filler.bin"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb") as file:
        try:
            while True:
                file.write(chunk)
                file.flush()
        except OSError:
            pass
    return filler


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*gridedge_command(), "run", "-c", str(config)],  # noqa: S603
                                stdout=out, stderr=subprocess.STDOUT)


async def soak(duration: float, folder: Path) -> dict[str, object]:
    """Run the soak for ``duration`` seconds; the figures."""
    broker = Broker(folder / "broker")
    broker.workdir.mkdir()
    broker.start()
    data = folder / "data"
    data.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(  # noqa: S603
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(data)],  # noqa: S607
        check=False, capture_output=True).returncode == 0
    receiver = Receiver()
    site = f"soak-{random.randrange(1 << 24):06x}"  # noqa: S311 - a name, not a secret
    port = free_port()
    doc = site_config(site, broker, data, alerts=roster_section(receiver),
                      http={"bind": "127.0.0.1", "port": port, "public_url": "", "token": TOKEN})
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    shutil.copytree(REPO / "schedules", folder / "schedules", dirs_exist_ok=True)
    profiles = load_registry()
    config = load_config(config_path, profiles=profiles)
    root = f"gridedge/{site}"
    base = f"http://127.0.0.1:{port}"
    log = folder / "daemon.log"
    speakers = simulator_for(config, profiles, tts_seconds_per_char=0.05)
    await speakers.start()
    daemon = start_daemon(config_path, log)
    generator: Generator | None = None
    figures: dict[str, object] = {"disk_full_episode": mounted}
    try:
        if not await asyncio.to_thread(wait_healthy, base):
            raise RuntimeError(f"the daemon did not become healthy; see {log}")
        generator = Generator(broker, root)
        generator.start()
        announcer = paho.Client(CallbackAPIVersion.VERSION2, client_id="soak-office")
        announcer.connect(broker.host, broker.port)
        announcer.loop_start()
        free_ports = [(p, n) for p in POSTS for n in range(1, PORTS + 1)]
        random.shuffle(free_ports)
        overload_every = duration / 24
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        next_announce = next_overload = next_sample = 0.0
        restarted = filled = False
        filler: Path | None = None
        announcements = 0
        special: dict[str, tuple[str, int]] = {}
        while (elapsed := time.monotonic() - started) < duration:
            if elapsed >= next_sample:
                samples.append((elapsed, rss_mb(daemon.pid)))
                next_sample += 5.0
            if elapsed >= next_announce:
                announcements += 1
                announcer.publish(f"{root}/announce", json.dumps(
                    {"id": f"soak-{announcements}", "text": f"第{announcements}次测试广播",
                     "speakers": "all", "priority": "emergency"}, ensure_ascii=False), qos=1)
                next_announce += 60.0
            if elapsed >= next_overload and free_ports and elapsed < duration - 30:
                generator.overload(*free_ports.pop())
                next_overload += overload_every
            if not restarted and elapsed >= duration * 0.45:
                restarted = True
                await asyncio.to_thread(broker.stop)
                # An overload that begins while the broker is away: cut once it is back.
                special["outage"] = free_ports.pop()
                generator.overload(*special["outage"])
                await asyncio.sleep(BROKER_GAP_S)
                await asyncio.to_thread(broker.start)
            if mounted and not filled and elapsed >= duration * 0.55:
                filled = True
                filler = await asyncio.to_thread(fill, data)
                # An overload while the disk is full: cut, latched and paged all the same.
                special["disk full"] = free_ports.pop()
                generator.overload(*special["disk full"])
            if filler is not None and elapsed >= duration * 0.55 + duration / 20:
                filler.unlink()
                filler = None
            await asyncio.sleep(0.2)
        if filler is not None:
            filler.unlink()
        figures["telemetry_sent"] = generator.sent
        figures["announcements"] = announcements
        # Let the last overloads be cut, then the hard restart.
        await asyncio.sleep(10)
        half = [(t, r) for t, r in samples if t >= duration / 2]
        figures["rss_start_mb"] = samples[0][1]
        figures["rss_end_mb"] = samples[-1][1]
        figures["rss_growth_last_half_mb"] = (half[-1][1] - half[0][1]) if len(half) > 1 else 0.0
        with generator.lock:
            overloads, cuts = dict(generator.overloads), dict(generator.cuts)
        figures["overloads"] = len(overloads)
        figures["overloads_cut"] = len(cuts)
        figures["worst_cut_s"] = max(cuts.values(), default=0.0)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(GUARD_S)
        generator.close()
        generator = None
        daemon = start_daemon(config_path, log)
        if not await asyncio.to_thread(wait_healthy, base):
            raise RuntimeError(f"the daemon did not come back after kill -9; see {log}")
        status = json.loads((await asyncio.to_thread(http_get, base + "/api/status"))[1])
        latched = {(p["post"], latch["port"]) for p in status.get("posts", [])
                   for latch in p["latches"]}
        figures["latches_lost"] = sorted(set(cuts) - latched)
        # Every overload alert paged someone (give the outbox a minute after the restart).
        deadline = time.monotonic() + GUARD_S
        while True:
            with contextlib.closing(sqlite3.connect(f"file:{data / 'gridedge.sqlite3'}?mode=ro",
                                                    uri=True)) as db:
                rows = {(row[1], row[2]): row[0] for row in db.execute(
                    "SELECT id, post, port FROM alerts WHERE kind IN ('overcurrent', 'recut')")}
            paged = {p["ref"][0] for p in receiver.posts if p.get("ref")}
            if set(rows.values()) <= paged or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        figures["overcurrent_alerts"] = len(rows)
        figures["special"] = {
            name: {"port": f"{key[0]}/{key[1]}", "cut_s": cuts.get(key),
                   "latched": key in latched, "paged": rows.get(key) in paged}
            for name, key in special.items()}
        # Lost: a cut overload with no alert at all, or an alert whose page never arrived.
        figures["pages_lost"] = sorted(
            [f"{post}/{port}: no alert" for post, port in cuts if (post, port) not in rows]
            + [f"alert #{ident}: no page" for ident in rows.values() if ident not in paged])
        figures["pages_received"] = len(receiver.posts)
        announcer.loop_stop()
        announcer.disconnect()
    finally:
        if generator is not None:
            generator.close()
        with contextlib.suppress(ProcessLookupError):
            daemon.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(15)
        daemon.kill()
        await speakers.stop()
        broker.stop()
        receiver.close()
        if mounted:
            subprocess.run(["umount", str(data)], check=False)  # noqa: S603, S607
    figures["plays"] = len(speakers.plays)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridedge-soak-") as tmp:
        figures = asyncio.run(soak(args.duration, Path(tmp)))
    print(f"soak of {args.duration:.0f} s (a day compressed), 10 posts x {RATE_PER_POST} msg/s, "
          f"broker restart at 45 %, disk full at 55 % "
          f"({'done' if figures['disk_full_episode'] else 'skipped: needs root for a tmpfs'})")
    print(f"  telemetry sent          {figures['telemetry_sent']}")
    print(f"  announcements / plays   {figures['announcements']} / {figures['plays']}")
    print(f"  RSS start / end         {figures['rss_start_mb']:.1f} / "
          f"{figures['rss_end_mb']:.1f} MB")
    print(f"  RSS growth, last half   {figures['rss_growth_last_half_mb']:+.1f} MB (goal < 5)")
    print(f"  overloads cut           {figures['overloads_cut']} of {figures['overloads']}, "
          f"worst {figures['worst_cut_s']:.2f} s")
    print(f"  latches lost            {len(figures['latches_lost'])} {figures['latches_lost']}")
    for name, seen in figures["special"].items():
        cut = "never cut" if seen["cut_s"] is None else f"cut after {seen['cut_s']:.2f} s"
        print(f"  overload during {name:<8} {seen['port']}: {cut}, "
              f"{'latched' if seen['latched'] else 'NOT latched'} after kill -9, "
              f"{'paged' if seen['paged'] else 'NOT paged'}")
    print(f"  pages lost              {len(figures['pages_lost'])} "
          f"({figures['overcurrent_alerts']} overload alerts, {figures['pages_received']} pages "
          f"received) {figures['pages_lost']}")


if __name__ == "__main__":
    main()
