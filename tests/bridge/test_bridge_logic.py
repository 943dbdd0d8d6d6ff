"""The bridge's turn-taking and post availability rules, and its command payloads."""

from __future__ import annotations

import pytest

from edge.bridge import CommandError, PollSchedule, PostAvailability, parse_command


def test_overloaded_line_serves_devices_round_robin() -> None:
    """Test that when every device is overdue the line polls them in turn, none starved."""
    schedule = PollSchedule([0.1, 0.1, 5.0], now=0.0)
    order = []
    now = 0.0
    for _ in range(7):
        index, _due = schedule.next()
        order.append(index)
        now += 0.2  # each poll takes longer than the fast devices' interval
        schedule.done(index, now)
    assert order[:3] == [0, 1, 2]
    assert order[3:] == [0, 1, 0, 1]  # the 5 s device waits for its own interval


def test_post_is_offline_only_when_all_its_devices_fail() -> None:
    """Test that a post with a board and a meter stays online while one of them answers."""
    state = PostAvailability({"P01": ["board", "meter"]}, offline_after=2)
    assert state.success("board") == ("P01", True)
    assert state.failure("meter") is None
    assert state.failure("meter") is None
    assert state.failure("board") is None
    assert state.failure("board") == ("P01", False)
    assert state.success("meter") == ("P01", True)


def test_daemon_command_with_numeric_id_is_accepted() -> None:
    """Test that the daemon's rendered command (numeric id) parses, and a bad one is refused."""
    command = parse_command("P01", b'{"id": 894165602, "action": "port_off", "port": 4,'
                                   b' "reason": "instantaneous"}')
    assert (command.request_id, command.port, command.on) == ("894165602", 4, False)
    with pytest.raises(CommandError, match="port"):
        parse_command("P01", b'{"action": "port_on", "port": 0}')
