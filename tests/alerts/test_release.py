"""An alert held back (inhibited by its post going offline) keeps its reminder schedule when
released: no burst of reminders the moment a broker restart's wills are undone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from edge.events import Event, Severity
from tests.alerts.rig import AlertsRig, ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker


def _pages(rig: AlertsRig, alert_id: int) -> int:
    return int(rig.rows("SELECT COUNT(*) FROM notifications WHERE alert_id = ? AND purpose IN "
                        "('firing', 'repeat', 'escalation')", (alert_id,))[0][0])


def test_released_alert_keeps_its_original_reminder_schedule(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that an overcurrent alert inhibited while its post was offline and released when the
    post is back pages again at its next slot (+5 min, the escalation), not at once (before: released alerts
    were reminded immediately, 40 of them after one broker restart)."""
    config = write_config(broker, alerts=roster_section(receiver))

    async def scenario() -> None:
        async with AlertsRig(config, clock) as rig:
            rig.emit(trip())
            assert await rig.until(lambda: len(receiver.to("wang")) == 1)
            alert_id = receiver.to("wang")[0]["ref"][0]
            await rig.advance(1)
            rig.emit(Event("post.offline", "P03", Severity.WARNING,
                           {"how": "silent", "silent_s": 200}))
            await rig.advance(0)        # the offline alert is raised; overcurrent is held back
            assert rig.rows("SELECT held FROM alerts WHERE id = ?", (alert_id,))[0][0] \
                == "inhibited"
            await rig.advance(2)
            rig.emit(Event("post.online", "P03", Severity.INFO, {"how": "lwt"}))
            await rig.advance(0)        # released at +3 min
            assert rig.rows("SELECT held FROM alerts WHERE id = ?", (alert_id,))[0][0] == ""
            assert _pages(rig, alert_id) == 1          # no reminder the moment it is released
            await rig.advance(1.5)      # +4.5 min
            assert _pages(rig, alert_id) == 1
            await rig.advance(1)        # +5.5 min: what was due at +5 min (the duty officer)
            assert _pages(rig, alert_id) == 2
            assert await rig.until(lambda: len(receiver.to("duty")) == 1)

    asyncio.run(scenario())
