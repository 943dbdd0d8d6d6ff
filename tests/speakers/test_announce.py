"""The ``announce`` payload: what is accepted, and what staff are told when it is not."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from edge.config import GridedgeConfig
from edge.speakers import AnnounceError, Priority, parse_announce
from tests.speakers.rig import load


def _at(config: GridedgeConfig, hour: int, minute: int) -> float:
    return datetime(2026, 12, 1, hour, minute, tzinfo=config.site.tz).timestamp()


def test_quiet_hours_hold_for_all_but_emergency(speaker_config: Path) -> None:
    """Test that at 23:00 a routine announcement is refused and an emergency one is accepted."""
    config, _ = load(speaker_config)
    payload = {"id": "night-1", "text": "请注意", "speakers": "all", "priority": "routine"}
    with pytest.raises(AnnounceError) as caught:
        parse_announce(config, json.dumps(payload).encode(), _at(config, 23, 0))
    assert caught.value.msgid.startswith("it is quiet hours")
    assert str(caught.value) == ("it is quiet hours (21:30-07:00): only emergency announcements "
                                 "play now")
    payload["priority"] = "emergency"
    request = parse_announce(config, json.dumps(payload).encode(), _at(config, 23, 0))
    assert request.priority is Priority.EMERGENCY
    assert set(request.speakers) == {"east_gate", "south_gate", "west_gate", "north_gate"}
    payload["priority"] = "routine"
    assert parse_announce(config, json.dumps(payload).encode(), _at(config, 8, 0)).key == \
        "announce:night-1"


def test_speaker_names_and_ids_both_work(speaker_config: Path) -> None:
    """Test that speakers may be named in Chinese or by id, in one comma-separated string too."""
    config, _ = load(speaker_config)
    payload = {"text": "请注意", "speakers": "东门，west_gate、南门", "priority": "emergency"}
    request = parse_announce(config, json.dumps(payload, ensure_ascii=False).encode())
    assert request.speakers == ("east_gate", "west_gate", "south_gate")
    assert request.source == "announce"
