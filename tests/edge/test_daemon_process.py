"""`gridedge run` as a real process: availability online, offline on SIGTERM, the will on kill -9."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.broker.harness import Broker
from tests.conftest import gridedge_command
from tests.edge.mqtt_probe import Probe

HANG_GUARD_S = 20  # generous: a guard against a hung process, not a performance limit


def _start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*gridedge_command(), "--lang", "en", "run", "-c", str(config)],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


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
