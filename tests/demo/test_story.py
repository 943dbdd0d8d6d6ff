"""`gridedge demo --no-tty`: the compressed story, printed as a plain event log."""

from __future__ import annotations

import pytest

import os
import signal
import subprocess
from datetime import datetime

from tests.conftest import REPO, gridedge_command

# The story ends with the all-clear about 40 s in; the demo's own duration is the hang guard.
GUARD_S = "100"
MOMENTS = (
    "★ clip played:",
    "★ overload injected: a faulty charger on 3号充电桩 port 4",
    "★ protection trips: 3号充电桩 port 4",
    "★ alert #1 raised (overcurrent:P03/4)",
    "★ cut-off confirmed by telemetry: 3号充电桩 port 4",
    "★ alert #1 escalates to level 2",
    "★ phone of 刘敏 (liu_min): [URGENT]",
    "acknowledges from the command line: gridedge alerts ack 1 --by",
    "★ alert #1 acknowledged by",
    "gridedge posts reset P03 4 --by",
    "★ alert #1 resolved; all-clear sent to everyone notified",
)


@pytest.mark.long
def test_demo_tells_the_overload_story_in_the_plain_log() -> None:
    """Test that the demo shows a clip, a trip, the cut-off, phone alerts, escalation, ack and
    all-clear, and that Ctrl-C then stops it without a page or a broker error."""
    proc = subprocess.Popen(
        [*gridedge_command(), "--lang", "en", "demo", "--duration", GUARD_S, "--no-tty"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own process group, like a terminal's foreground job
    assert proc.stdout is not None
    lines: list[str] = []
    stopping = False
    stopped_at = "9999"
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        # Under load the first clip may still be playing at the all-clear: wait for both.
        told = [any(m in seen for seen in lines) for m in (MOMENTS[0], MOMENTS[-1])]
        if all(told) and not stopping:
            stopped_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches every process of the group
            stopping = True
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    story = [line for line in lines if line.startswith("★")]
    positions = []
    for moment in MOMENTS:
        found = [i for i, line in enumerate(story) if moment in line]
        assert found, f"missing {moment!r} in:\n" + "\n".join(story)
        positions.append(found[0])
    # The escalation event and the duty officer's page travel different paths (the events topic,
    # a loopback phone): either may be printed first. Everything else follows in story order.
    phone = MOMENTS.index("★ phone of 刘敏 (liu_min): [URGENT]")
    chain = [pos for i, pos in enumerate(positions) if i not in (0, phone)]
    assert chain == sorted(chain), "\n".join(story)
    raised, acked = (positions[MOMENTS.index(m)] for m in ("★ alert #1 raised (overcurrent:P03/4)",
                                                          "★ alert #1 acknowledged by"))
    assert raised < positions[phone] < acked, "\n".join(story)
    first_phone = next(line for line in story if "★ phone of" in line)
    assert "[URGENT] Overcurrent while charging · 3号充电桩 port 4" in first_phone
    resolved = [line for line in story if "★ phone of" in line and "[Resolved]" in line]
    assert len(resolved) >= 2  # the grid worker and the duty officer both hear the all-clear
    assert "Demo stopped." in lines
    # The plain log is the story and a summary, not every raw MQTT message.
    assert not [line for line in lines if "gridedge/jianyuan1/" in line]
    assert [line for line in lines if "speakers online 4/4" in line and "] daemon " in line]
    assert "Traceback" not in err
    # Ctrl-C stops the daemon before the broker: no post "goes offline", no broker is lost.
    assert not [line for line in lines if "Charging post offline" in line]
    after_stop = [line for line in err.splitlines() if line[:19] >= stopped_at]
    assert not [line for line in after_stop if "lost the MQTT broker" in line
                or "cannot reach the MQTT broker" in line], after_stop
