"""Hundreds of slow HTTP clients against a real `gridedge run`: clips, health and protection go on."""

from __future__ import annotations

import hashlib
import json
import select
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from edge.sim.broker import free_port
from tests.broker.harness import Broker
from tests.conftest import gridedge_command
from tests.edge.mqtt_probe import Probe
from tests.ops.rig import until

SLOW_CLIENTS = 300
DRIPPERS = 20          # of which these send one more byte now and then, never the end
HANG_GUARD_S = 60.0    # a guard against a hang, not a speed limit
# Threads a daemon may add while busy (asyncio's worker pool, paho's connect): not one per client.
THREAD_ALLOWANCE = 40


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def _slow_socket(port: int, index: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S)
    path = "/healthz" if index % 2 else "/clips/" + "0" * 64 + ".mp3"
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: box\r\nX-Slow: ".encode())  # never finished
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except OSError:  # reset
        return True


def test_slow_clients_hold_nothing_and_stop_nothing(broker: Broker,
                                                    write_config: Callable[..., Path],
                                                    tmp_path: Path) -> None:
    """Test that 300 half-sent requests hold no thread, clips/health/cut-off go on, and all are closed."""
    port = free_port()
    config = write_config(broker, http={"bind": "127.0.0.1", "port": port, "public_url": ""})
    site = yaml.safe_load(config.read_text(encoding="utf-8"))["site"]["id"]
    root = f"gridedge/{site}"
    probe = Probe(broker, [f"{root}/speakers/east_gate/cmd", f"{root}/posts/P05/cmd"])
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen([*gridedge_command(), "--lang", "en", "run", "-c", str(config)],  # noqa: S603
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    slow: list[socket.socket] = []
    stop_drip = threading.Event()
    try:
        until(lambda: _healthy(base), HANG_GUARD_S)
        # A clip registered by the fleet: an emergency announcement to an online speaker.
        probe.publish(f"{root}/speakers/east_gate/availability", "online", retain=True)
        probe.publish(f"{root}/announce", json.dumps(
            {"id": "slow-1", "text": "请注意, 这是测试", "speakers": "east_gate",
             "priority": "emergency"}, ensure_ascii=False))
        assert probe.wait_for(lambda ms: any(t.endswith("/speakers/east_gate/cmd")
                                             for t, _, _ in ms), HANG_GUARD_S)
        play = next(json.loads(p) for t, p, _ in probe.messages if t.endswith("east_gate/cmd"))
        baseline = _threads(process.pid)

        slow = [_slow_socket(port, i) for i in range(SLOW_CLIENTS)]
        opened = time.monotonic()

        def drip() -> None:
            while not stop_drip.wait(0.5):
                for sock in slow[:DRIPPERS]:
                    try:
                        sock.send(b"x")
                    except OSError:
                        pass

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()

        # With every slow client connected: the clip, health and a cut-off.
        status, body = _get(play["url"])
        assert status == 200
        assert hashlib.sha256(body).hexdigest() == play["sha256"]
        assert _get(base + "/healthz")[0] == 200
        probe.publish(f"{root}/posts/P05/telemetry", json.dumps(
            {"ts": time.time(), "ports": [{"port": 2, "current_a": 15.0}]}))
        assert probe.wait_for(lambda ms: any(
            t.endswith("/posts/P05/cmd") and json.loads(p)["action"] == "port_off"
            and json.loads(p)["port"] == 2 for t, p, _ in ms), HANG_GUARD_S)
        served_with_slow_open = time.monotonic() - opened
        busy_threads = _threads(process.pid)
        assert busy_threads - baseline < THREAD_ALLOWANCE, (baseline, busy_threads)

        # Every half-sent request is closed by the server, drippers included.
        deadline = time.monotonic() + HANG_GUARD_S
        pending = list(slow)
        while pending and time.monotonic() < deadline:
            readable, _, _ = select.select(pending, [], [], 1.0)
            pending = [s for s in pending if not (s in readable and _closed_by_server(s))]
        closed_after = time.monotonic() - opened
        assert not pending, f"{len(pending)} of {SLOW_CLIENTS} slow connections still open"
        assert _get(base + "/healthz")[0] == 200
        print(f"\nslow clients: {SLOW_CLIENTS} ({DRIPPERS} dripping); daemon threads "
              f"{baseline} -> {busy_threads}; clip + health + cut-off done "
              f"{served_with_slow_open:.2f} s after they connected; all closed by the server "
              f"after {closed_after:.1f} s")
    finally:
        stop_drip.set()
        for sock in slow:
            sock.close()
        process.terminate()
        try:
            process.wait(HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        probe.close()


def _healthy(base: str) -> bool:
    try:
        return _get(base + "/healthz")[0] == 200
    except OSError:
        return False
