"""`gridedge bridge` on a Modbus line: pymodbus's server on a pty → the bridge → mosquitto."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_bridge import FaultReason
from tests.bridge.conftest import NO_SCHEDULES, OFFLINE_AFTER, modbus_section
from tests.bridge.peers import BridgeThread, MutableLine, fill_post
from tests.broker.harness import NEEDS_MOSQUITTO, Broker
from tests.edge.mqtt_probe import Probe
from tests.firmware_bridge.fb_peers import ModbusPeer

P01 = [0.0, 1.25, 2.5, 3.0, 0.5, 4.75, 0.0, 1.0, 2.0, 3.33]
P02 = [2.2, 0.0, 0.0, 1.1, 0.0, 0.0, 0.0, 0.0, 0.0, 4.4]


def _telemetry(probe: Probe, site: str, post: str) -> list[dict]:
    topic = f"gridedge/{site}/posts/{post}/telemetry"
    return [json.loads(p) for t, p, _ in list(probe.messages) if t == topic]


def _currents(payload: dict) -> list[float | None]:
    return [p.get("current_a") for p in payload["ports"]]


def _has_currents(probe: Probe, site: str, post: str, currents: list[float]) -> bool:
    return any(_currents(t) == pytest.approx(currents) for t in _telemetry(probe, site, post))


def _availability(probe: Probe, site: str, post: str) -> str | None:
    return probe.last(f"gridedge/{site}/posts/{post}/availability")


@pytest.fixture
def bridge(line: MutableLine, peer: ModbusPeer, broker: Broker,
           write_config: Callable[..., Path],
           start_bridge: Callable[[Path], BridgeThread]) -> BridgeThread:
    fill_post(peer, 1, P01)
    fill_post(peer, 2, P02)
    return start_bridge(write_config(
        broker, schedules=NO_SCHEDULES, bridge=modbus_section(line.path)))


def test_two_posts_on_one_line_publish_the_currents_they_hold(
        bridge: BridgeThread, peer: ModbusPeer, probe: Probe, site_id: str) -> None:
    """Test that two posts at slave 1 and 2 on one line each publish their own port currents."""
    assert probe.wait_for(lambda _m: _has_currents(probe, site_id, "P01", P01))
    assert probe.wait_for(lambda _m: _has_currents(probe, site_id, "P02", P02))
    first = _telemetry(probe, site_id, "P01")[-1]
    assert first["voltage_v"] == pytest.approx(220.4)
    assert first["temp_c"] == pytest.approx(31.5)
    assert first["ports"][5] == {"port": 6, "current_a": 4.75, "power_w": 1045.0,
                                 "energy_kwh": 0.0, "on": True, "temp_c": 0.0}
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P01") == "online")
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P02") == "online")
    assert probe.last(f"gridedge/{site_id}/bridge/availability") == "online"

    peer.set_registers(2, 3, 0x0019, [77])  # port 10 of P02 now draws 0.77 A
    assert probe.wait_for(lambda _m: _has_currents(probe, site_id, "P02", [*P02[:9], 0.77]))


@NEEDS_MOSQUITTO
def test_cutoff_command_turns_the_relay_coil_off(
        line: MutableLine, peer: ModbusPeer, broker: Broker, probe: Probe, site_id: str,
        write_config: Callable[..., Path], start_bridge: Callable[[Path], BridgeThread]) -> None:
    """Test that port_off on posts/P01/cmd switches the coil off on the device, the next
    telemetry shows the port off, and a stale retained command is not executed."""
    fill_post(peer, 1, P01)
    fill_post(peer, 2, P02)
    cmd = f"gridedge/{site_id}/posts/P01/cmd"
    probe.publish(cmd, json.dumps({"id": "old", "action": "port_off", "port": 5,
                                   "reason": "stale"}), retain=True)
    bridge = start_bridge(write_config(
        broker, schedules=NO_SCHEDULES, bridge=modbus_section(line.path)))
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P01") == "online")

    probe.publish(cmd, json.dumps({"id": "c1", "action": "port_off", "port": 3,
                                   "reason": "inverse_time"}))

    def port3_off(_m: object) -> bool:
        return any(t["ports"][2].get("on") is False for t in _telemetry(probe, site_id, "P01"))

    assert probe.wait_for(port3_off)
    assert peer.coils(1, 2, 1) == [False]
    assert peer.coils(1, 4, 1) == [True]  # the retained command was ignored
    assert bridge.runner.mqtt is not None
    assert bridge.runner.mqtt.stats["ignored_retained_commands"] == 1
    assert peer.coils(2, 0, 10) == [True] * 10  # the other post was not touched

    probe.publish(cmd, json.dumps({"id": "c2", "action": "port_on", "port": 3, "reason": "reset"}))
    # Telemetry keeps arriving, so the probe re-checks the coil after each message.
    assert probe.wait_for(lambda _m: peer.coils(1, 2, 1) == [True])
    probe.publish(cmd, "", retain=True)


def test_bad_commands_are_refused_and_counted(
        bridge: BridgeThread, peer: ModbusPeer, probe: Probe, site_id: str) -> None:
    """Test that malformed commands and ports without a relay change no coil and are counted."""
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P01") == "online")
    cmd = f"gridedge/{site_id}/posts/P01/cmd"
    for payload in ("not json", "[1]", '{"action": "port_off"}', '{"action": "explode", "port": 1}',
                    '{"action": "port_off", "port": true}', '{"action": "port_off", "port": 11}',
                    '{"action": "port_off", "port": 40}'):
        probe.publish(cmd, payload)
    probe.publish(cmd, json.dumps({"id": "ok", "action": "port_off", "port": 1}))
    assert probe.wait_for(lambda _m: peer.coils(1, 0, 1) == [False])
    assert peer.coils(1, 1, 9) == [True] * 9
    assert bridge.runner.stats["rejected_commands"] == 7
    assert bridge.runner.stats["commands"] == 1


@NEEDS_MOSQUITTO
def test_post_that_stops_answering_goes_offline_and_comes_back(
        bridge: BridgeThread, line: MutableLine, probe: Probe, site_id: str) -> None:
    """Test that a silent post is marked offline after N failed polls, the other post keeps
    publishing, and it is online again with telemetry as soon as it answers."""
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P02") == "online")
    line.muted.add(2)
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P02") == "offline")
    seen = len(_telemetry(probe, site_id, "P01"))
    assert probe.wait_for(lambda _m: len(_telemetry(probe, site_id, "P01")) > seen + 3)
    assert _availability(probe, site_id, "P01") == "online"
    assert bridge.runner.counters.get("rs485/p02_board", FaultReason.TIMEOUT) >= OFFLINE_AFTER

    line.muted.clear()
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P02") == "online")
    count = len(_telemetry(probe, site_id, "P02"))
    assert probe.wait_for(lambda _m: len(_telemetry(probe, site_id, "P02")) > count)
    retained = [m for m in probe.messages if m[0].endswith("/P02/availability")]
    assert [p for _t, p, _r in retained] == ["online", "offline", "online"]
    assert bridge.alive()


def test_unplugged_adapter_marks_posts_offline_and_polling_resumes_when_replugged(
        bridge: BridgeThread, line: MutableLine, probe: Probe, site_id: str) -> None:
    """Test that when the USB adapter vanishes the bridge keeps running, its posts go offline,
    and after replugging it reopens the port and publishes again."""
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P01") == "online")
    line.unplug()
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P01") == "offline")
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P02") == "offline")
    line.replug()
    # The library reopens with backoff (1 s, then doubling): a guard, not a speed limit.
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P01") == "online", timeout=30)
    assert probe.wait_for(lambda _m: _availability(probe, site_id, "P02") == "online", timeout=30)
    count = len(_telemetry(probe, site_id, "P01"))
    assert probe.wait_for(lambda _m: len(_telemetry(probe, site_id, "P01")) > count)
    assert bridge.alive()
    assert bridge.runner.counters.total(FaultReason.PORT_GONE) >= 1


def test_garbage_on_the_line_never_becomes_a_published_reading(
        bridge: BridgeThread, line: MutableLine, probe: Probe, site_id: str) -> None:
    """Test that under noise, cut frames and flipped bytes every published reading is exact."""
    assert probe.wait_for(lambda _m: _has_currents(probe, site_id, "P01", P01))
    rng = random.Random(7)
    for _ in range(30):
        fault = rng.choice(["garbage", "truncate", "corrupt"])
        if fault == "garbage":
            line.inject(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))))
        elif fault == "truncate":
            line.truncate_next(rng.randrange(1, 40))
        else:
            line.corrupt_next()
        time.sleep(0.03)
    count = len(_telemetry(probe, site_id, "P01"))
    assert probe.wait_for(lambda _m: len(_telemetry(probe, site_id, "P01")) > count + 2)
    faults = bridge.runner.counters.snapshot()
    assert sum(sum(per.values()) for per in faults.values()) > 0
    for post, currents in (("P01", P01), ("P02", P02)):
        for payload in _telemetry(probe, site_id, post):
            assert _currents(payload) == pytest.approx(currents)
            assert payload["voltage_v"] == pytest.approx(220.4)
            assert all(p["on"] is True for p in payload["ports"])
    assert bridge.alive()
