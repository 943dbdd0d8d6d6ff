"""Protection in the field (issue 11): reset, vendor quirks, device clocks, empty and absurd readings.

One daemon (the harness: store, MQTT client, events, posts component) against a real mosquitto;
each test plays the device, the staff and the installer with a plain paho client.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.posts import Curve, operate_time
from tests.broker.harness import Broker
from tests.conftest import site_config
from tests.edge.mqtt_probe import Probe
from tests.posts.harness import Daemon, Publisher, events, now_s, sections, state, wait_event

HANG_GUARD_S = 20.0
IS = 2.0  # tests.posts.harness.TEST_LIMITS: SI, TMS 0.1, instantaneous 30 A


@dataclass
class Site:
    """The module's daemon, its probe, a publisher and the broker."""

    daemon: Daemon
    probe: Probe
    pub: Publisher
    site_id: str
    broker: Broker

    def topic(self, rest: str) -> str:
        return f"gridedge/{self.site_id}/{rest}"

    def telemetry(self, post: str, body: dict[str, Any]) -> None:
        self.pub.send(self.topic(f"posts/{post}/telemetry"), body)

    def state(self, post: str) -> dict[str, Any]:
        return state(self.probe, self.topic(f"posts/{post}/state")) or {}

    def settle(self, post: str) -> dict[str, Any]:
        """Everything sent for ``post`` so far has been handled: returns its state after it.

        A reset of a port that is not latched is answered at once in the state document; it is
        handled after every message sent before it (one connection, QoS 1, in order).
        """
        marker = secrets.token_hex(4)
        self.pub.send(self.topic(f"posts/{post}/reset"), {"id": marker, "port": 4, "by": "测试"})
        assert self.probe.wait_for(lambda _m: (self.state(post).get("last_command") or {})
                                   .get("id") == marker, HANG_GUARD_S), self.state(post)
        return self.state(post)


@pytest.fixture(scope="module")
def site(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One daemon with a post per field case."""
    site_id = f"t-field-{secrets.token_hex(3)}"
    tmp = tmp_path_factory.mktemp("field")
    devices: dict[str, dict[str, Any]] = {
        "R1": {"name": "R1桩"}, "C1": {"name": "C1桩"}, "C2": {"name": "C2桩"},
        "A1": {"name": "A1桩"}, "E1": {"name": "E1桩"}, "K9": {"name": "K9桩"},
        "B1": {"name": "B1桩"},
        "D1": {"name": "D1桩", "profile": "tasmota-energy", "topic_id": "tas-d1"},
        "E2": {"name": "E2桩", "profile": "tasmota-energy", "topic_id": "tas-e2"},
        "P07": {"name": "P07桩", "profile": "tasmota-energy", "topic_id": "pow07"},
        "F1": {"name": "F1桩", "profile": "shelly-gen2", "topic_id": "shelly-f1"},
        "F2": {"name": "F2桩", "profile": "shelly-gen2", "topic_id": "shelly-f2"},
        "F3": {"name": "F3桩", "profile": "shelly-gen2", "topic_id": "shelly-f3"},
    }
    data = site_config(site_id, broker, tmp / "data", **sections(devices))
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    probe = Probe(broker, f"gridedge/{site_id}/#")
    daemon = Daemon(path)
    daemon.start()
    pub = Publisher(broker)
    yield Site(daemon, probe, pub, site_id, broker)
    pub.close()
    daemon.stop()
    probe.close()


def _reset(site: Site, post: str, port: int) -> None:
    rid = secrets.token_hex(4)
    site.pub.send(site.topic(f"posts/{post}/reset"), {"id": rid, "port": port, "by": "张三"})
    assert site.probe.wait_for(lambda _m: any(
        e["detail"].get("request_id") == rid for e in events(site.probe, "post.reset", f"{post}/{port}")),
        HANG_GUARD_S)


# -- 1. a staff reset starts the port afresh -------------------------------------------------

def test_reset_after_a_late_overload_sample_and_a_report_without_current_never_retrips(site: Site) -> None:
    """Test that after trip → overload sample → {"on": false} → reset, a normal current does not trip again."""
    site.telemetry("R1", {"ts": now_s(), "ports": [{"port": 1, "current_a": 40.0, "on": True}]})
    wait_event(site.probe, "post.trip", "R1/1")
    site.telemetry("R1", {"ts": now_s() + 1, "ports": [{"port": 1, "current_a": 40.0, "on": True}]})
    site.telemetry("R1", {"ts": now_s() + 2, "ports": [{"port": 1, "on": False}]})
    _reset(site, "R1", 1)
    site.telemetry("R1", {"ts": now_s() + 3, "ports": [{"port": 1, "current_a": 1.0, "on": True}]})
    doc = site.settle("R1")
    assert len(events(site.probe, "post.trip", "R1/1")) == 1, events(site.probe, "post.trip", "R1/1")
    assert 1 not in doc["latched_ports"]


# -- 2. Shelly: the device's own cut, and a silent device asked for its status ----------------

def test_shelly_status_reporting_its_own_cut_confirms_the_cutoff(site: Site) -> None:
    """Test that a Shelly status with source limit, output false and errors overcurrent confirms the cut at once."""
    site.pub.send("shelly-f1/status/switch:0", {"id": 0, "source": "limit", "output": False,
                                                "apower": 0.0, "voltage": 221.0, "current": 0.0,
                                                "errors": ["overcurrent"]})
    trip = wait_event(site.probe, "post.trip", "F1/1")
    assert trip["detail"]["cause"] == "device_fault"
    confirmed = wait_event(site.probe, "post.cutoff_confirmed", "F1/1")
    assert confirmed["detail"]["by"] == "relay_off"
    assert events(site.probe, "post.cutoff_failed", "F1/1") == []


class _SilentShelly:
    """A Shelly that ignores Switch.Set (its telemetry is lost) but answers status_update."""

    def __init__(self, broker: Broker, device: str) -> None:
        self.device = device
        self.queries = 0
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{device}/command", qos=1)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.payload == b"status_update":
            self.queries += 1
            client.publish(f"{self.device}/status/switch:0", json.dumps(
                {"id": 0, "source": "MQTT", "output": False, "apower": 0.0, "current": 0.0}), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_silent_shelly_is_asked_for_its_status_before_cutoff_failed(site: Site) -> None:
    """Test that when no status follows Switch.Set, the daemon asks with status_update and the answer confirms the cut (no "cut-off failed")."""
    device = _SilentShelly(site.broker, "shelly-f2")
    try:
        site.pub.send("shelly-f2/status/switch:0", {"id": 0, "source": "init", "output": True,
                                                    "apower": 8800.0, "current": 40.0})
        wait_event(site.probe, "post.trip", "F2/1")
        confirmed = wait_event(site.probe, "post.cutoff_confirmed", "F2/1")
        assert confirmed["detail"]["by"] == "relay_off" and device.queries >= 1
        assert events(site.probe, "post.cutoff_failed", "F2/1") == []
    finally:
        device.close()


# -- 3. device clocks that step -------------------------------------------------------------

SI_6X = operate_time(Curve.SI, 0.1, 6.0)  # 12 A at Is = 2 A: 0.384 s


def _assert_on_curve(trip: dict[str, Any], expected: float) -> None:
    evidence = trip["detail"]["evidence"]
    assert evidence["operated_at"] - evidence["overload_since"] == pytest.approx(expected, abs=0.1)


def test_overload_after_the_device_clock_steps_back_60_s_is_cut_on_the_curve(site: Site) -> None:
    """Test that a post whose clock stepped back 60 s is cut within the curve time, and the step is reported."""
    t0 = now_s()
    site.telemetry("C1", {"ts": t0, "ports": [{"port": 1, "current_a": 1.0, "on": True}]})
    site.telemetry("C1", {"ts": t0 - 60, "ports": [{"port": 1, "current_a": 12.0, "on": True}]})
    _assert_on_curve(wait_event(site.probe, "post.trip", "C1/1"), SI_6X)
    step = wait_event(site.probe, "post.clock_step", "C1")
    assert step["severity"] == "warning" and step["detail"]["step_s"] < -50


def test_clock_an_hour_fast_then_corrected_still_trips(site: Site) -> None:
    """Test that a post (or its bridge) stamping an hour ahead, then corrected by NTP, is still protected."""
    t0 = now_s()
    site.telemetry("C2", {"ts": t0 + 3600, "ports": [{"port": 1, "current_a": 1.0, "on": True}]})
    site.telemetry("C2", {"ts": t0, "ports": [{"port": 1, "current_a": 12.0, "on": True}]})
    _assert_on_curve(wait_event(site.probe, "post.trip", "C2/1"), SI_6X)
    assert wait_event(site.probe, "post.clock_step", "C2")["detail"]["step_s"] < -3000


# -- 4. an absurd current is a sensor fault and still cuts -----------------------------------

def test_current_above_the_ceiling_cuts_the_port_and_raises_a_sensor_fault(site: Site) -> None:
    """Test that 150 A (above the 100 A ceiling and the 30 A instantaneous setting) cuts the port and says why."""
    site.telemetry("A1", {"ts": now_s(), "ports": [{"port": 1, "current_a": 150.0, "on": True}]})
    trip = wait_event(site.probe, "post.trip", "A1/1")
    assert trip["detail"]["cause"] == "instantaneous" and trip["detail"]["evidence"]["implausible"]
    fault = wait_event(site.probe, "post.sensor_fault", "A1/1")
    assert "100" in fault["detail"]["reason"] and "gridedge-post" in fault["detail"]["reason"]


# -- 5. empty payloads are no sign of life -------------------------------------------------

def test_empty_payloads_are_counted_and_never_bring_a_post_online(site: Site) -> None:
    """Test that [], {}, null and {"ENERGY": []} are counted as no_readings and do not end an offline."""
    site.pub.send(site.topic("posts/E1/availability"), "offline")
    wait_event(site.probe, "post.offline", "E1")
    for payload in (b"[]", b"{}", b"null", b'{"ports": []}'):
        site.pub.send(site.topic("posts/E1/telemetry"), payload)
    doc = site.settle("E1")
    assert events(site.probe, "post.online", "E1") == []
    assert doc["online"] is False and doc["rejected"].get("no_readings") == 4
    site.pub.send("tele/tas-e2/SENSOR", {"Time": "2026-01-01T00:00:00", "ENERGY": []})
    assert site.settle("E2")["rejected"].get("no_readings") == 1
    site.telemetry("E1", {"ts": now_s(), "ports": [{"port": 1, "current_a": 1.0}]})
    wait_event(site.probe, "post.online", "E1")


# -- 6. a duplicate is the same values, not the same second ---------------------------------

def _site_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo("Asia/Shanghai")).replace(tzinfo=None).isoformat()


def test_same_second_with_different_values_is_not_a_duplicate(site: Site) -> None:
    """Test that two Tasmota SENSOR messages in the same second, 0 A then 25 A, trip on the second; a true repeat is dropped."""
    stamp = _site_time(now_s())
    quiet = {"Time": stamp, "ENERGY": {"Current": 0.0, "Power": 0, "Voltage": 220}}
    site.pub.send("tele/tas-d1/SENSOR", quiet)
    site.pub.send("tele/tas-d1/SENSOR", quiet)  # QoS 1 redelivery: a real duplicate
    site.pub.send("tele/tas-d1/SENSOR", {"Time": stamp, "ENERGY": {
        "Current": 25.0, "Power": 5500, "Voltage": 220}})
    _assert_on_curve(wait_event(site.probe, "post.trip", "D1/1"), operate_time(Curve.SI, 0.1, 12.5))
    assert site.settle("D1")["dropped"].get("duplicate") == 1


# -- 7. a clean Shelly status clears the fault; the page names it ----------------------------

def test_clean_shelly_status_clears_the_fault_and_the_trip_names_it_in_chinese(site: Site) -> None:
    """Test that the trip on errors ["overcurrent"] names 过流, and a later status without errors clears the fault."""
    site.pub.send("shelly-f3/status/switch:0", {"id": 0, "output": False, "current": 0.0,
                                                "errors": ["overcurrent"]})
    trip = wait_event(site.probe, "post.trip", "F3/1")
    assert "过流" in trip["detail"]["reason"] and "measured" not in trip["detail"]
    assert site.settle("F3")["ports"]["1"]["fault"] == "overcurrent"
    _reset(site, "F3", 1)
    site.pub.send("shelly-f3/status/switch:0", {"id": 0, "output": True, "current": 1.0,
                                                "apower": 220.0})
    doc = site.settle("F3")
    assert doc["ports"]["1"]["fault"] is None and doc["ports"]["1"]["current_a"] == 1.0
    assert doc["latched_ports"] == []


# -- 8. a device id nobody configured ---------------------------------------------------------

def test_telemetry_from_an_unknown_device_id_is_counted_and_logged_with_a_suggestion(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """Test that tele/pow7/SENSOR (a typo for pow07) is counted per id and logged once with "did you mean P07 (pow07)"."""
    caplog.set_level(logging.WARNING, logger="edge.posts.router")
    for _ in range(3):
        site.pub.send("tele/pow7/SENSOR", {"Time": "2026-01-01T00:00:00", "ENERGY": {"Current": 1.0}})
    component = site.daemon.component
    assert component is not None
    assert site.probe.wait_for(lambda _m: site.daemon.call(lambda: component.router.counts["pow7"]) == 3,
                               HANG_GUARD_S)
    lines = [r.getMessage() for r in caplog.records if "pow7" in r.getMessage()]
    assert len(lines) == 1 and "tele/pow7/SENSOR" in lines[0] and "P07 (pow07)" in lines[0]
    assert site.daemon.call(lambda: component.router.counts["pow07"]) == 0


# -- 9. command topics and deep JSON ---------------------------------------------------------

def test_deeply_nested_reset_is_a_counted_bad_command_without_a_traceback(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """Test that 5,000 levels of JSON, NaN and oversized payloads on a reset topic are refused, counted and logged, never a traceback."""
    caplog.set_level(logging.WARNING)
    reset = site.topic("posts/K9/reset")
    for payload in (b"[" * 5000 + b"]" * 5000, b'{"port": NaN, "by": "x"}',
                    b'{"a":' * 40 + b"1" + b"}" * 40, b" " * (70 * 1024)):
        site.pub.send(reset, payload)
    doc = site.settle("K9")
    assert doc["rejected"].get("bad_command") == 4
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("refused a reset command" in r.getMessage() for r in caplog.records)


# -- 7 (same class, the serial bridge): a clean poll clears the fault a bad one reported -------

def _bridged(current_a: float) -> dict[str, Any]:
    """One poll of a post's meter as `gridedge bridge` publishes it (the bridge's own builder)."""
    from firmware_bridge.const import CanonicalKey  # noqa: PLC0415
    from firmware_bridge.decode import ReadingBuilder  # noqa: PLC0415

    builder = ReadingBuilder(post="B1", device="b1_board", ts=now_s())
    builder.add(CanonicalKey.CURRENT_A, 1, current_a)
    builder.add(CanonicalKey.ON, 1, True)  # noqa: FBT003
    return builder.build().to_telemetry()


def test_a_clean_bridged_poll_clears_the_sensor_fault_of_a_bad_one(site: Site) -> None:
    """Test that after a poll with an implausible current (the bridge marks the port
    ``sensor_invalid``, which cuts it) and a reset, a clean poll shows the port without a fault."""
    site.telemetry("B1", _bridged(float("nan")))
    wait_event(site.probe, "post.trip", "B1/1")
    assert site.settle("B1")["ports"]["1"]["fault"] == "sensor_invalid"
    _reset(site, "B1", 1)
    site.telemetry("B1", _bridged(1.0))
    doc = site.settle("B1")
    assert doc["ports"]["1"]["fault"] is None and doc["ports"]["1"]["current_a"] == 1.0
    assert doc["latched_ports"] == []
