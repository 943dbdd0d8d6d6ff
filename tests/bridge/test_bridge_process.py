"""`gridedge bridge` as a process, alone and end to end with `gridedge run` tripping a port."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bridge.conftest import NO_SCHEDULES, modbus_section
from tests.bridge.peers import MutableLine, fill_post
from tests.broker.harness import Broker
from tests.conftest import gridedge_command
from tests.edge.mqtt_probe import Probe
from tests.firmware_bridge.fb_peers import ModbusPeer

HANG_GUARD_S = 30  # a guard against a hung process, not a performance limit

try:
    import edge.posts.component  # noqa: F401

    POSTS_MISSING = ""
except Exception as err:  # noqa: BLE001 - any failure to import means the daemon side is absent
    POSTS_MISSING = f"the daemon's post monitoring (edge.posts.component) is not importable: {err}"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*gridedge_command(), "--lang", "en", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(HANG_GUARD_S)
    finally:
        process.kill()
    return code, process.stdout.read() if process.stdout else ""


def _wait(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_bridge_process_publishes_and_says_offline_on_sigterm(
        line: MutableLine, peer: ModbusPeer, broker: Broker, probe: Probe, site_id: str,
        write_config: Callable[..., Path]) -> None:
    """Test that `gridedge bridge` publishes telemetry and availability, and on SIGTERM marks
    itself and its posts offline and exits 0."""
    fill_post(peer, 1, [1.5] * 10)
    fill_post(peer, 2, [0.5] * 10)
    prefix = f"gridedge/{site_id}"
    bridge = _start("bridge", "-c", str(write_config(
        broker, schedules=NO_SCHEDULES, bridge=modbus_section(line.path))))
    try:
        online = probe.wait_for(lambda _m: probe.last(f"{prefix}/posts/P02/availability")
                                == "online", timeout=HANG_GUARD_S)
        published = probe.wait_for(lambda _m: probe.last(f"{prefix}/posts/P01/telemetry")
                                   is not None, timeout=HANG_GUARD_S)
    finally:
        code, output = _stop(bridge)
    assert online, output
    assert published, output
    assert code == 0, output
    assert "Traceback" not in output
    assert probe.wait_for(lambda _m: probe.last(f"{prefix}/bridge/availability") == "offline",
                          timeout=HANG_GUARD_S)
    assert probe.last(f"{prefix}/posts/P01/availability") == "offline"
    assert probe.last(f"{prefix}/posts/P02/availability") == "offline"
    telemetry = json.loads(probe.last(f"{prefix}/posts/P01/telemetry") or "{}")
    assert [p["current_a"] for p in telemetry["ports"]] == [1.5] * 10


@pytest.mark.skipif(bool(POSTS_MISSING), reason=POSTS_MISSING or "-")
def test_daemon_trips_a_port_and_the_bridge_switches_the_coil_off(
        line: MutableLine, peer: ModbusPeer, broker: Broker, probe: Probe, site_id: str,
        write_config: Callable[..., Path]) -> None:
    """Test that an overcurrent read over Modbus makes the daemon cut the port, the bridge
    writes the relay coil off on the device, and the daemon confirms the cut-off."""
    # 0.3 A on every port: with 12 A on one the post total (14.7 A) stays below its 16 A limit.
    fill_post(peer, 1, [0.3] * 10)
    fill_post(peer, 2, [0.3] * 10)
    prefix = f"gridedge/{site_id}"
    config = write_config(
        broker, schedules=NO_SCHEDULES, bridge=modbus_section(line.path))
    daemon = _start("run", "-c", str(config))
    bridge = _start("bridge", "-c", str(config))
    try:
        assert probe.wait_for(lambda _m: probe.last(f"{prefix}/daemon/availability") == "online",
                              timeout=HANG_GUARD_S)
        assert probe.wait_for(lambda _m: probe.last(f"{prefix}/posts/P01/availability") == "online",
                              timeout=HANG_GUARD_S)
        # Port 4 of P01 now draws 12 A: far above the instantaneous limit of the post profile.
        peer.set_registers(1, 3, 0x0013, [1200])
        peer.set_registers(1, 3, 0x0023, [2640])
        assert _wait(lambda: peer.coils(1, 3, 1) == [False]), "the coil was never switched off"
        # The relay opened, so the post now reads no current on that port.
        peer.set_registers(1, 3, 0x0013, [0])
        peer.set_registers(1, 3, 0x0023, [0])

        def events() -> list[dict]:
            return [json.loads(p) for t, p, _r in list(probe.messages) if t == f"{prefix}/events"]

        assert probe.wait_for(lambda _m: any(e.get("kind") == "post.cutoff_confirmed"
                                             for e in events()), timeout=HANG_GUARD_S)
        trip = next(e for e in events() if e.get("kind") == "post.trip")
        assert trip["subject"] == "P01/4"
        assert peer.coils(1, 0, 10) == [True, True, True, False, True, True, True, True, True, True]
        assert peer.coils(2, 0, 10) == [True] * 10
    finally:
        bridge_code, bridge_out = _stop(bridge)
        daemon_code, daemon_out = _stop(daemon)
    assert bridge_code == 0, bridge_out
    assert daemon_code == 0, daemon_out
    assert "Traceback" not in bridge_out
