"""`gridedge demo`: embedded broker + daemon on the real site's config, printing what happens."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO, gridedge_command


def test_demo_runs_and_stops_cleanly() -> None:
    """Test that the demo starts its own broker, shows the daemon online, and stops with exit 0."""
    result = subprocess.run(  # noqa: S603
        [*gridedge_command(), "--lang", "en", "demo", "--duration", "4", "--no-tty"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "embedded MQTT broker on 127.0.0.1:" in result.stdout
    # The plain log's summary lines: the daemon online, and offline after the stop.
    lines = [line for line in result.stdout.splitlines() if "] daemon " in line]
    assert any("] daemon online ·" in line for line in lines)
    assert "] daemon OFFLINE ·" in lines[-1]
    assert "Demo stopped." in result.stdout
    assert "Traceback" not in result.stderr
