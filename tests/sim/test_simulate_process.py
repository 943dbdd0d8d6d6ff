"""`gridedge simulate` as a real process: availability per vendor, --fault flags, kill -9 → LWT."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.broker.harness import Broker
from tests.conftest import gridedge_command
from tests.sim.simkit import RawProbe, port_values, site_with_three_vendors

HANG_GUARD_S = 20  # a guard against a hung process, not a performance limit


def test_simulate_goes_online_obeys_fault_flags_and_kill_9_sends_each_will(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that each vendor's LWT says online, a --fault flag applies, and kill -9 says offline."""
    site = site_with_three_vendors(broker, site_id, write_config)
    availability = {f"gridedge/{site_id}/posts/P01/availability": ("online", "offline"),
                    f"tele/{site.device('P02')}/LWT": ("Online", "Offline"),
                    f"{site.device('P03')}/online": ("true", "false")}
    probe = RawProbe(broker, [f for post in ("P01", "P02", "P03") for f in site.filters(post)])
    process = subprocess.Popen(  # noqa: S603
        [*gridedge_command(), "--lang", "en", "simulate", "-c", str(site.path), "--posts",
         "P01,P02,P03", "--post-interval", "0.2", "--fault", "P02:3:step:amps=12"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert probe.wait_for(lambda _m: all(probe.last(t) == on
                                             for t, (on, _) in availability.items()),
                              HANG_GUARD_S), process.stdout
        assert probe.wait_for(lambda m: any(
            v > 11 for v in port_values(site, "P02", m, 3, "current_a")), HANG_GUARD_S)  # noqa: PLR2004
        process.send_signal(signal.SIGKILL)
        process.wait(HANG_GUARD_S)
    finally:
        process.kill()
        probe.close()
    probe = RawProbe(broker, list(availability))  # retained: the will is what stays
    try:
        assert probe.wait_for(lambda _m: all(probe.last(t) == off
                                             for t, (_, off) in availability.items()),
                              HANG_GUARD_S)
    finally:
        probe.close()


def test_simulate_stops_cleanly_and_says_offline(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that SIGTERM ends `gridedge simulate` with exit 0 after each post said offline."""
    site = site_with_three_vendors(broker, site_id, write_config)
    topic = f"tele/{site.device('P02')}/LWT"
    probe = RawProbe(broker, [topic])
    process = subprocess.Popen(  # noqa: S603
        [*gridedge_command(), "--lang", "en", "simulate", "-c", str(site.path), "--posts", "P02"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert probe.wait_for(lambda _m: probe.last(topic) == "Online", HANG_GUARD_S)
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
        assert probe.wait_for(lambda _m: probe.last(topic) == "Offline", HANG_GUARD_S)
    finally:
        process.kill()
        probe.close()
    output = process.stdout.read() if process.stdout else ""
    assert "Simulating 1 charging posts" in output
    assert "Traceback" not in output


def test_simulate_refuses_bad_faults_with_exit_2(
        broker: Broker, site_id: str, write_config: Callable[..., Path]) -> None:
    """Test that a fault naming a missing post, or a load fault without a port, exits 2 with why."""
    site = site_with_three_vendors(broker, site_id, write_config)
    base = [*gridedge_command(), "--lang", "en", "simulate", "-c", str(site.path), "--fault"]
    missing = subprocess.run([*base, "P42:1:step"], capture_output=True, text=True,  # noqa: S603
                             timeout=HANG_GUARD_S, check=False)
    assert missing.returncode == 2
    assert "there is no post 'P42' in config.yaml" in missing.stderr
    no_port = subprocess.run([*base, "P03:overload-ramp"], capture_output=True, text=True,  # noqa: S603
                             timeout=HANG_GUARD_S, check=False)
    assert no_port.returncode == 2
    assert ("fault 'P03:overload-ramp': overload_ramp needs a port number, "
            "e.g. P03:4:overload-ramp") in no_port.stderr
