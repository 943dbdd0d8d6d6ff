"""`gridedge run` as a real process: availability online, offline on SIGTERM, the will on kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.broker.harness import Broker
from tests.conftest import gridedge_command
from tests.edge.mqtt_probe import Probe
from tests.processes import start_gridedge

HANG_GUARD_S = 20  # generous: a guard against a hung process, not a performance limit


def _start(config: Path) -> subprocess.Popen[str]:
    return start_gridedge(["run", "-c", str(config)], lang="en")


def test_run_online_then_offline_after_sigterm(broker: Broker, site_id: str,
                                               write_config: Callable[..., Path]) -> None:
    """Test that the daemon says online, and on SIGTERM says offline and exits with 0."""
    topic = f"gridedge/{site_id}/daemon/availability"
    probe = Probe(broker, topic)
    process = _start(write_config(broker))
    try:
        assert probe.wait_for(lambda m: probe.last(topic) == "online"), process.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        process.kill()
    output = process.stdout.read() if process.stdout else ""
    assert probe.wait_for(lambda m: probe.last(topic) == "offline")
    assert "Traceback" not in output
    assert "disconnected from MQTT broker" in output
    probe.close()


def test_kill_9_makes_the_broker_publish_offline(broker: Broker, site_id: str,
                                                 write_config: Callable[..., Path]) -> None:
    """Test that when the daemon dies without a goodbye, its will marks it offline."""
    topic = f"gridedge/{site_id}/daemon/availability"
    probe = Probe(broker, topic)
    process = _start(write_config(broker))
    try:
        assert probe.wait_for(lambda m: probe.last(topic) == "online")
        process.send_signal(signal.SIGKILL)
        process.wait(HANG_GUARD_S)
    finally:
        process.kill()
    # keepalive is 5 s in the test config: the broker notices within 1.5 × keepalive.
    assert probe.wait_for(lambda m: probe.last(topic) == "offline", timeout=30)
    probe.close()


def test_run_refuses_invalid_config_with_exit_2(tmp_path: Path) -> None:
    """Test that `gridedge run` with a broken config prints the problem, exits 2, starts nothing."""
    path = tmp_path / "config.yaml"
    path.write_text("site:\n  id: x\n  name: 测试\nmqtt:\n  prot: 1883\n", encoding="utf-8")
    result = subprocess.run([*gridedge_command(), "--lang", "en", "run", "-c", str(path)],  # noqa: S603
                            capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    assert result.returncode == 2
    assert "config.yaml:5: mqtt.prot: unknown setting 'prot'; did you mean 'port'?" in result.stderr


def test_run_keeps_retrying_while_broker_is_down(own_broker: Broker, site_id: str,
                                                 write_config: Callable[..., Path]) -> None:
    """Test that a daemon started before its broker connects once the broker comes up."""
    topic = f"gridedge/{site_id}/daemon/availability"
    own_broker.stop()
    process = _start(write_config(own_broker))
    try:
        own_broker.start()
        probe = Probe(own_broker, topic)
        assert probe.wait_for(lambda m: probe.last(topic) == "online", timeout=40)
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
        probe.close()
    finally:
        process.kill()


OUTAGE_S = 8.0   # long enough that a doubling backoff (1, 2, 4, 8 … s) has stretched its gaps
# Requirement: connected within 2 s of the broker accepting; then one telemetry period (0.2 s
# here) and the instantaneous element.
CUT_WITHIN_S = 3.0


def test_an_overload_is_cut_within_seconds_of_a_broker_restart(own_broker: Broker, site_id: str,
                                                                write_config: Callable[..., Path],
                                                                ) -> None:
    """Test that after an 8 s broker outage an overload is cut within 3 s of the broker accepting again."""
    root = f"gridedge/{site_id}"
    probe = Probe(own_broker, f"{root}/daemon/availability")
    process = _start(write_config(own_broker))
    try:
        assert probe.wait_for(lambda m: probe.last(f"{root}/daemon/availability") == "online")
        probe.close()
        own_broker.stop()
        time.sleep(OUTAGE_S)  # the outage itself, not a wait for a condition
        own_broker.start()    # returns once the broker accepts connections
        back = time.monotonic()
        watch = Probe(own_broker, f"{root}/posts/P05/cmd")
        post = paho.Client(CallbackAPIVersion.VERSION2)
        post.connect(own_broker.host, own_broker.port)
        post.loop_start()
        cut_after = None
        while time.monotonic() - back < HANG_GUARD_S * 3:
            post.publish(f"{root}/posts/P05/telemetry", json.dumps(
                {"ts": time.time(), "ports": [{"port": 2, "current_a": 15.0}]}), qos=1)
            if watch.wait_for(lambda m: any(json.loads(p).get("action") == "port_off"
                                            for _t, p, _r in m), timeout=0.2):
                cut_after = time.monotonic() - back
                break
        post.loop_stop()
        post.disconnect()
        watch.close()
        print(f"\noverload cut {cut_after:.2f} s after the broker accepted again "
              f"(outage {OUTAGE_S:.0f} s)" if cut_after is not None else "\nnever cut")
        assert cut_after is not None
        assert cut_after < CUT_WITHIN_S, cut_after
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        process.kill()
