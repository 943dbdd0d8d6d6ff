"""`gridedge run` killed with -9 and started again: latches survive, pending cut-offs go out again."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe
from tests.posts.harness import Publisher, now_s, sections, state, wait_event
from tests.processes import start_gridedge

HANG_GUARD_S = 30


def _start(config: Path) -> subprocess.Popen[str]:
    return start_gridedge(["run", "-c", str(config)], lang="en")


def test_latched_port_stays_latched_after_kill_9(broker: Broker, site_id: str,
                                                  write_config: Callable[..., Path]) -> None:
    """Test that a port latched before `kill -9` is still latched after a restart, its cut-off is sent again, and a retained reset waiting on the broker is ignored."""
    config = write_config(broker, **sections({"P1": {"name": "1号桩", "location": "车棚"}}))
    base = f"gridedge/{site_id}/posts/P1"
    probe = Probe(broker, f"gridedge/{site_id}/#")
    pub = Publisher(broker)
    process = _start(config)
    try:
        assert probe.wait_for(lambda m: state(probe, f"{base}/state") is not None, HANG_GUARD_S)
        pub.send(f"{base}/telemetry", {"ts": now_s(), "ports": [{"port": 3, "current_a": 40.0, "on": True}]})
        wait_event(probe, "post.trip", "P1/3", HANG_GUARD_S)
        # The state goes out at once with "saved": false (the cut-off must not wait for the disk),
        # and again once the latch is durable: kill only then. A kill inside that window of a few
        # milliseconds loses the latch, not the cut-off (the device has already switched off).
        assert probe.wait_for(lambda m: (state(probe, f"{base}/state") or {}).get("latched_ports") == [3]
                              and state(probe, f"{base}/state")["saved"], HANG_GUARD_S)
        process.send_signal(signal.SIGKILL)
        process.wait(HANG_GUARD_S)
        pub.send(f"{base}/state", b"", retain=True)
        pub.send(f"{base}/reset", {"id": "stale", "port": 3, "by": "nobody"}, retain=True)
        commands_before = sum(1 for t, _p, _r in probe.messages if t == f"{base}/cmd")
        probe.messages.clear()
        process = _start(config)
        assert probe.wait_for(lambda m: state(probe, f"{base}/state") is not None, HANG_GUARD_S)
        doc = state(probe, f"{base}/state")
        assert doc["latched_ports"] == [3]
        assert doc["ports"]["3"]["latch"]["cause"] == "instantaneous"
        assert commands_before >= 1
        # The cut-off was never confirmed before the kill: the restarted daemon sends it again.
        assert probe.wait_for(lambda m: any(t == f"{base}/cmd" and json.loads(p)["port"] == 3
                                            for t, p, _r in m), HANG_GUARD_S)
        assert not any(t.endswith("/events") and json.loads(p)["kind"] == "post.reset"
                       for t, p, _r in probe.messages)
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        process.kill()
        pub.send(f"{base}/reset", b"", retain=True)
        pub.close()
        probe.close()
    output = process.stdout.read() if process.stdout else ""
    assert "Traceback" not in output
