"""Plays the daemon did not send raise a security warning; retained commands are cleared at start."""

from __future__ import annotations

import json

from tests.broker.harness import NEEDS_MOSQUITTO
from tests.edge.mqtt_probe import Probe
from tests.ops.rig import Daemon, http_section, until

HANG_GUARD_S = 40.0


def _events(probe: Probe, kind: str) -> list[dict]:
    return [doc for t, p, _ in list(probe.messages) if t.endswith("/events")
            and (doc := json.loads(p))["kind"] == kind]


@NEEDS_MOSQUITTO
def test_retained_commands_are_cleared_and_foreign_plays_warned(broker, write_config,
                                                               site_id) -> None:
    """Test that retained play/announce commands are cleared at start and a foreign play raises a warning."""
    root = f"gridedge/{site_id}"
    cmd, announce = f"{root}/speakers/east_gate/cmd", f"{root}/announce"
    poison = json.dumps({"id": "evil-0", "action": "play", "url": "http://203.0.113.9/x.mp3"})
    setup = Probe(broker, [cmd, announce])
    setup.publish(cmd, poison, retain=True)
    setup.publish(announce, json.dumps({"id": "evil-a", "text": "假通知", "speakers": "all",
                                        "priority": "emergency"}, ensure_ascii=False),
                  retain=True)
    setup.close()
    probe = Probe(broker, [cmd, announce, f"{root}/events", f"{root}/alerts/+"])
    assert probe.wait_for(lambda ms: sum(1 for _t, _p, r in ms if r) == 2)  # both retained
    daemon = Daemon(write_config(broker, http=http_section())).start()
    try:
        # The daemon removes both from the broker: their empty "cleared" notices arrive.
        assert probe.wait_for(lambda ms: {t for t, p, _ in ms if p == ""} == {cmd, announce},
                              HANG_GUARD_S)
        fresh = Probe(broker, [cmd, announce])
        fresh.publish(cmd, "marker")
        assert fresh.wait_for(lambda ms: any(p == "marker" for _t, p, _r in ms))
        assert not any(r for _t, _p, r in fresh.messages), fresh.messages
        fresh.close()
        assert not _events(probe, "announce.accepted")
        assert daemon.app.mqtt.stats["ignored_retained_commands"] == 2

        # A play the daemon sent, reported back by the speaker: no warning.
        status = f"{root}/speakers/east_gate/status"
        probe.publish(f"{root}/speakers/east_gate/availability", "online", retain=True)
        probe.publish(announce, json.dumps({"id": "real-1", "text": "请注意", "speakers":
                                            "east_gate", "priority": "emergency"},
                                           ensure_ascii=False))
        def plays(ms: list[tuple[str, str, bool]]) -> list[str]:
            return [json.loads(p)["id"] for t, p, r in ms if t == cmd and p.startswith("{")
                    and not r and json.loads(p).get("action") == "play"]

        assert probe.wait_for(plays, HANG_GUARD_S)
        ours = plays(probe.messages)[0]
        for state in ("playing", "done"):
            probe.publish(status, json.dumps({"id": ours, "state": state}))
        assert probe.wait_for(lambda ms: _events(probe, "play.done"), HANG_GUARD_S)
        assert not _events(probe, "speaker.unsolicited_play")

        # A play someone else started on the speaker: one warning event and one alert.
        for state in ("playing", "done"):
            probe.publish(status, json.dumps({"id": "evil-1", "state": state}))
        assert probe.wait_for(lambda ms: _events(probe, "speaker.unsolicited_play"), HANG_GUARD_S)
        warning = _events(probe, "speaker.unsolicited_play")
        assert len(warning) == 1
        assert (warning[0]["subject"], warning[0]["severity"]) == ("east_gate", "warning")
        assert warning[0]["detail"]["command_id"] == "evil-1"
        rows = until(lambda: daemon.app.store.query(
            "SELECT kind, severity, speaker FROM alerts WHERE kind = 'unsolicited_play'"),
            HANG_GUARD_S)
        assert [tuple(r) for r in rows] == [("unsolicited_play", "warning", "east_gate")]
    finally:
        daemon.stop()
        probe.publish(f"{root}/speakers/east_gate/availability", "", retain=True)
        probe.close()
