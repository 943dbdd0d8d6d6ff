"""The live view of `gridedge demo`, drawn from a recorded sequence of MQTT messages."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from rich.console import Console

from edge.config import GridedgeConfig, load_config
from edge.demo_view import DemoView
from edge.i18n import set_language
from edge.mqtt import Message
from tests.conftest import REPO

P = "gridedge/jianyuan1"


@pytest.fixture
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("zh")


@pytest.fixture
def config() -> GridedgeConfig:
    return load_config(REPO / "config.yaml")


def _port(current: float, state: str = "normal", *, latched: bool = False) -> dict[str, object]:
    return {"current_a": current, "power_w": round(current * 220, 1), "on": not latched,
            "state": state, "latched": latched,
            "latch": {"cause": "inverse_time", "at": 1795897246.9} if latched else None}


def _recorded() -> list[tuple[str, object]]:
    ports = {str(n): _port(1.2 + n / 10) for n in range(1, 11)}
    ports["4"] = _port(7.46, "overload")
    tripped = dict(ports, **{"4": _port(0.0, "cut_off", latched=True)})
    return [
        (f"{P}/daemon/availability", "online"),
        *[(f"{P}/speakers/{s}/availability", "online")
          for s in ("east_gate", "south_gate", "west_gate", "north_gate")],
        (f"{P}/speakers/west_gate/availability", "offline"),
        (f"{P}/events", {"kind": "announce.accepted", "subject": "demo-1", "severity": "info",
                         "detail": {"speakers": ["east_gate"], "text": "演示开始。电动车充电"},
                         "ts": 1795897220.0}),
        (f"{P}/speakers/east_gate/cmd", {"id": "c1", "action": "play", "url": "http://x/a.mp3"}),
        (f"{P}/speakers/east_gate/status", {"id": "c1", "state": "playing"}),
        (f"{P}/posts/P03/state", {"post": "P03", "online": True, "ports": ports,
                                  "latched_ports": []}),
        (f"{P}/posts/P03/state", {"post": "P03", "online": True, "ports": tripped,
                                  "latched_ports": [4]}),
        (f"{P}/posts/P05/availability", "offline"),
        (f"{P}/alerts/1", {"id": 1, "severity": "critical", "state": "firing", "level": 1,
                           "title": "[URGENT] Overcurrent while charging · 3号充电桩 port 4",
                           "acked_by": None}),
        (f"{P}/alerts/2", {"id": 2, "severity": "warning", "state": "firing", "level": 0,
                           "title": "speaker offline"}),
        (f"{P}/alerts/2", ""),
        (f"{P}/posts/P07/state", "not json at all"),
    ]


def _draw(view: DemoView) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(view.render())
    return console.export_text()


def test_live_view_shows_currents_latch_speakers_and_open_alert(english: None,
                                                                config: GridedgeConfig) -> None:
    """Test that the dashboard shows port currents, the latched port, speaker states and the open alert."""
    view = DemoView(config, schedule=False)
    for topic, payload in _recorded():
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        view.on_message(Message(topic, data.encode(), False, 1, 0.0))
    text = _draw(view)
    p03 = next(line for line in text.splitlines() if "3号充电桩" in line)
    assert "1.3" in p03 and "0.0" in p03  # port 1 draws 1.3 A, port 4 is off
    assert "port 4: latched (overload too long)" in p03
    assert "5号充电桩 offline" in text
    east = next(line for line in text.splitlines() if "东门" in line)
    assert "playing" in east and "演示开始。电动车充电" in east
    west = next(line for line in text.splitlines() if "西门" in line)
    assert "offline" in west
    assert "Overcurrent while charging · 3号充电桩 port 4" in text
    assert "urgent" in text and "level 2" in text and "not acknowledged" in text
    assert "speaker offline" not in text  # cleared record: no longer open
    assert "announcement accepted demo-1" in text


def test_live_view_follows_the_play_to_its_end(english: None, config: GridedgeConfig) -> None:
    """Test that a speaker goes back to idle and shows the clip as last played when it reports done."""
    view = DemoView(config, schedule=False)
    for topic, payload in _recorded():
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        view.on_message(Message(topic, data.encode(), False, 1, 0.0))
    view.on_message(Message(f"{P}/speakers/east_gate/status",
                            b'{"id": "c1", "state": "done"}', False, 1, 0.0))
    east = next(line for line in _draw(view).splitlines() if "东门" in line)
    assert "idle" in east and "playing" not in east
    assert "演示开始。电动车充电" in east


def test_live_view_shows_the_next_slot_of_the_schedule(english: None,
                                                      config: GridedgeConfig) -> None:
    """Test that each speaker shows its next slot from the site's schedule files."""
    text = _draw(DemoView(config))
    north = next(line for line in text.splitlines() if "北门" in line)
    assert any(name in north for name in ("防范电信诈骗", "医保缴费提醒", "冬季消防安全",
                                          "节假日安全提示"))


def _fed(config: GridedgeConfig) -> DemoView:
    view = DemoView(config, schedule=False)
    for topic, payload in _recorded():
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        view.on_message(Message(topic, data.encode(), False, 1, 0.0))
    return view


def test_chinese_view_has_no_wire_words(config: GridedgeConfig) -> None:
    """Test that the Chinese view shows causes, severities, alert states, levels and events in
    Chinese, none of the wire format's English words."""
    text = _draw(_fed(config))
    for word in ("inverse_time", "critical", "firing", "L2", "announce.accepted", "latched",
                 "cut_off", "warning"):
        assert word not in text, word
    assert "反时限" not in text or "过载" in text
    assert "紧急" in text and "第2级" in text and "未确认" in text and "已锁定" in text


def test_current_matches_the_latest_retained_state(english: None,
                                                   config: GridedgeConfig) -> None:
    """Test that a port shows the current of the newest state document (0 A after the cut-off),
    and the plain log's summary line says the same."""
    view = _fed(config)
    p03 = next(line for line in _draw(view).splitlines() if "3号充电桩" in line)
    assert "7.5" not in p03
    summary = view.summary()
    assert "highest current 2.2 A (3号充电桩 port 10)" in summary
    assert "latched ports 1" in summary and "open alerts 1" in summary
    assert "speakers online 3/4, playing 1" in summary and summary.startswith("daemon online")


def test_live_view_owns_the_screen_and_keeps_log_lines_inside(english: None,
                                                              config: GridedgeConfig) -> None:
    """Test that the live view draws on the terminal's alternate screen, and a log line written
    meanwhile appears in its log panel instead of tearing the screen."""
    import io
    import logging

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, height=40, color_system=None)
    view = _fed(config)
    with view.live(console=console):
        logging.getLogger("edge.test").warning("the broker hiccuped")
    assert "\x1b[?1049h" in out.getvalue()  # alternate screen entered
    assert "the broker hiccuped" in "\n".join(view.log_lines)
    assert "log" in _draw(view)
