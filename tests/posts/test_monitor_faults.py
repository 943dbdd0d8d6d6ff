"""Post monitoring under bad input, silence and staff resets, against a real mosquitto."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.broker.harness import Broker
from tests.conftest import gridedge_command, site_config
from tests.edge.mqtt_probe import Probe
from tests.posts.harness import Daemon, Publisher, events, now_s, sections, state, wait_event

HANG_GUARD_S = 30


@dataclass
class Site:
    """The module's daemon, its probe, publisher, broker and config file."""

    daemon: Daemon
    probe: Probe
    pub: Publisher
    site_id: str
    broker: Broker
    config: Path

    def topic(self, rest: str) -> str:
        return f"gridedge/{self.site_id}/{rest}"


@pytest.fixture(scope="module")
def site(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One daemon with a garbage target, a healthy neighbour, a silent post and a post to reset."""
    site_id = f"t-faults-{secrets.token_hex(3)}"
    tmp = tmp_path_factory.mktemp("faults")
    # Only Q1 is meant to fall silent (after 10 s). The others get an hour, so that under load,
    # when earlier tests of the module run long, no silence timeout races the event a test waits
    # for (L1's first post.offline must be its will, not its silence).
    quiet = {"offline_after_s": 3600}
    devices = {
        "X1": {"name": "X1桩", "location": "垃圾数据", **quiet},
        "G2": {"name": "G2桩", "location": "邻居", **quiet},
        "Q1": {"name": "Q1桩", "location": "不说话"},
        "L1": {"name": "L1桩", "location": "遗嘱", **quiet},
        "K1": {"name": "K1桩", "location": "复位", **quiet},
    }
    data = site_config(site_id, broker, tmp / "data", **sections(devices))
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    probe = Probe(broker, f"gridedge/{site_id}/#")
    daemon = Daemon(path)
    daemon.start()
    pub = Publisher(broker)
    yield Site(daemon, probe, pub, site_id, broker, path)
    pub.close()
    daemon.stop()
    probe.close()


GARBAGE: list[bytes] = [
    b"", b"not json", b"{", b"\xff\xfe\xfd", b"[]", b"null", b"42", b'"text"',
    b'{"ports": 5}', b'{"ports": [1, 2]}', b'{"ports": [{"port": "x"}]}',
    b'{"ts": "yesterday", "ports": [{"port": 1, "current_a": 1.0}]}',
    b'{"ports": [{"port": 1, "current_a": NaN}]}',
    b'{"ports": [{"port": 1, "current_a": Infinity}]}',
    b'{"ports": [{"port": 1, "current_a": -3.0}]}',
    b'{"ports": [{"port": 1, "current_a": 1e9}]}',
    b'{"ports": [{"port": 1, "current_a": "3"}]}',
    b'{"ports": [{"port": 1, "current_a": true}]}',
    b'{"ports": [{"port": 1, "voltage_v": 10000}]}',
    b'{"ports": [{"port": 99, "current_a": 1.0}]}',
    b'{"ports": [{"port": 1, "on": "yes"}]}',
    b'{"ports": [{"port": 1, "current_a": 1e400}]}',
    b"{" * 5000, b"x" * (70 * 1024),
]

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                     max_leaves=12)
_port = st.fixed_dictionaries({"port": st.integers(-2, 12)}, optional={
    "current_a": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=3) | st.booleans() | st.none(),
    "on": st.booleans() | st.integers() | st.none(), "temp_c": st.floats(), "fault": _json})
_telemetry = st.fixed_dictionaries({}, optional={"ts": st.floats() | st.text(max_size=5) | st.integers(),
                                                 "ports": st.lists(_port, max_size=3) | _json,
                                                 "voltage_v": _json, "temp_c": _json})


def test_garbage_is_counted_and_never_stops_protection(site: Site) -> None:
    """Test that hand-made and hypothesis-made garbage is counted, raises a sensor fault, and the neighbour post still trips."""
    x1 = site.topic("posts/X1/telemetry")
    for payload in GARBAGE:
        site.pub.send(x1, payload, wait=False)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=_telemetry | _json, raw=st.binary(max_size=64))
    def blast(body: object, raw: bytes) -> None:
        text = json.dumps(body, allow_nan=True).encode()
        site.pub.send(x1, text, wait=False)
        site.pub.send(x1, raw, wait=False)

    blast()
    site.pub.send(x1, b"{}")  # QoS 1 in order: everything before it has reached the broker
    wait_event(site.probe, "post.sensor_fault", "X1/1")
    # The neighbour is still protected.
    t0 = now_s()
    site.pub.send(site.topic("posts/G2/telemetry"), {"ts": t0, "ports": [{"port": 1, "current_a": 40.0}]})
    assert wait_event(site.probe, "post.trip", "G2/1")["detail"]["cause"] == "instantaneous"
    assert site.daemon.alive
    st_topic = site.topic("posts/X1/state")
    # NaN and Infinity are not JSON: they count as not_json, never as a value.
    reasons = ("not_utf8", "not_json", "oversized", "current_a_negative", "current_a_absurd",
               "current_a_wrong_type", "on_wrong_type", "unknown_port", "bad_value")

    def all_counted(_m: object) -> bool:
        rejected = (state(site.probe, st_topic) or {}).get("rejected", {})
        return all(rejected.get(reason, 0) > 0 for reason in reasons)

    assert site.probe.wait_for(all_counted), state(site.probe, st_topic)
    # No garbage was read as a current: X1 never tripped on it (NaN, -3 and "3" are not 0 A or 3 A).
    assert all(e["detail"]["cause"] != "inverse_time" for e in events(site.probe, "post.trip", "X1/1"))


def test_will_and_silence_make_a_post_offline(site: Site) -> None:
    """Test that a post's LWT 'offline' raises post.offline at once, 'online' clears it, and a post that never speaks goes offline after offline_after_s."""
    lwt = site.topic("posts/L1/availability")
    site.pub.send(lwt, "online", retain=True)
    site.pub.send(lwt, "offline", retain=True)
    offline = wait_event(site.probe, "post.offline", "L1")
    assert offline["detail"]["how"] == "lwt" and offline["detail"]["location"] == "遗嘱"
    site.pub.send(lwt, "online", retain=True)
    wait_event(site.probe, "post.online", "L1")
    site.pub.send(lwt, b"", retain=True)  # clear the retained will for the next run
    silent = wait_event(site.probe, "post.offline", "Q1", timeout=HANG_GUARD_S)
    assert silent["detail"]["how"] == "silent" and silent["detail"]["offline_after_s"] == 10
    st_topic = site.topic("posts/Q1/state")
    assert site.probe.wait_for(lambda m: (state(site.probe, st_topic) or {}).get("online") is False)


def _latch_k1(site: Site, port: int) -> None:
    t0 = now_s()
    site.pub.send(site.topic("posts/K1/telemetry"), {"ts": t0, "ports": [{"port": port, "current_a": 40.0, "on": True}]})
    wait_event(site.probe, "post.trip", f"K1/{port}")


def test_reset_over_mqtt_releases_a_latched_port(site: Site) -> None:
    """Test that a staff reset on the reset topic releases the latch and is audited with who did it."""
    _latch_k1(site, 1)
    site.pub.send(site.topic("posts/K1/reset"), {"id": "r1", "port": 1, "by": "张三"})
    event = wait_event(site.probe, "post.reset", "K1/1")
    assert event["detail"]["by"] == "张三" and event["detail"]["latch"]["cause"] == "instantaneous"
    st_topic = site.topic("posts/K1/state")
    assert site.probe.wait_for(lambda m: ((state(site.probe, st_topic) or {}).get("last_command") or {}).get("id") == "r1")
    doc = state(site.probe, st_topic)
    assert doc["last_command"]["ok"] and 1 not in doc["latched_ports"]


def test_cli_reset_prints_the_result_in_chinese(site: Site) -> None:
    """Test that `gridedge posts reset` releases a latched port and says so in Chinese, and refuses a port that is not latched."""
    _latch_k1(site, 2)
    cmd = [*gridedge_command(), "posts", "reset", "K1桩", "2", "--by", "李四", "-c", str(site.config)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    assert done.returncode == 0, done.stderr
    assert "K1桩" in done.stdout and "李四" in done.stdout and "复位" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    assert again.returncode == 1
    assert "没有锁定" in again.stderr
    status = subprocess.run([*gridedge_command(), "posts", "status", "-c", str(site.config)],
                            capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    assert status.returncode == 0 and "K1桩" in status.stdout
