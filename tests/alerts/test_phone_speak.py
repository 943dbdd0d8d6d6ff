"""Spoken alerts: an escalation step says the alert on named (simulated) speakers, quiet hours kept."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge import http as http_module
from edge.alerts import AlertsComponent
from edge.app import App
from edge.config import ConfigError
from edge.events import Event, Severity
from edge.speakers import component as speakers_component
from tests.alerts.rig import (
    HANG_GUARD_S,
    ManualClock,
    MonotonicClock,
    Receiver,
    roster_section,
    trip,
)
from tests.broker.harness import Broker
from tests.speakers.rig import load, simulator, speakers_section, until

SPOKEN = "{where}{what}，请值班人员立即到场"


def _sensor_fault(post: str = "P03", port: int = 2) -> Event:
    return Event("post.sensor_fault", f"{post}/{port}", Severity.WARNING, {
        "post": post, "port": port, "reason": "current not a number"})


def _chains(speakers: list[str], text: str = SPOKEN) -> dict[str, Any]:
    speak = {"speakers": speakers, "text": text, "repeat": 1}
    return {sev: {"repeat_every_min": 60, "steps": [
        {"after_min": 0, "notify": ["grid_worker"]},
        {"after_min": 5, "notify": ["duty_officer"], "speak": speak}]}
        for sev in ("critical", "warning")}


class SpeakRig:
    """Store, HTTP, alerts (on a hand-moved clock), speakers and MQTT of a real App."""

    def __init__(self, config_path: Path, clock: ManualClock) -> None:
        self.config, profiles = load(config_path)
        self.app = App(self.config, profiles)
        self.clock = clock
        self.events: list[Event] = []
        self.sim = simulator(self.config, profiles)
        self.parts: list[Any] = []

    async def __aenter__(self) -> SpeakRig:
        await self.sim.start()
        await self.app.store.start()
        self.app.events.listen(self.events.append)
        self.mono = MonotonicClock()
        self.alerts = AlertsComponent(self.app, clock=self.clock, monotonic=self.mono)
        for part in (http_module.create(self.app), self.alerts,
                     speakers_component.create(self.app)):
            await part.start()
            self.parts.append(part)
        await self.app.mqtt.start()
        assert await self.app.mqtt.wait_connected(HANG_GUARD_S)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.app.mqtt.stop()
        for part in reversed(self.parts):
            await part.stop()
        await self.app.store.stop()
        await self.sim.stop()

    async def advance(self, minutes: float) -> None:
        """Move the clock, then run an escalation and a speech round at the new time."""
        self.clock.advance(minutes * 60)
        self.mono.advance(minutes * 60)
        self.alerts.manager.tick()
        self.alerts.speech.tick()
        await asyncio.sleep(0)

    def plays(self, key: str) -> dict[str, str]:
        """speaker → state of the play-log rows of one key."""
        with contextlib.closing(sqlite3.connect(self.app.store.path)) as db:
            return dict(db.execute("SELECT speaker, state FROM plays WHERE key = ?", (key,)))

    def kinds(self, kind: str) -> list[Event]:
        """The events of one kind seen so far."""
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def speak_config(broker: Broker, receiver: Receiver, site_id: str,
                 write_config: Callable[..., Path]) -> Path:
    """The site with four speakers and chains whose second step speaks on 东门."""
    return write_config(broker, speakers=speakers_section(site_id),
                        alerts=roster_section(receiver, escalation=_chains(["东门"])))


def test_unanswered_alert_is_spoken_at_its_step_and_an_acked_one_is_not(
        speak_config: Path, receiver: Receiver, clock: ManualClock) -> None:
    """Test that a trip nobody acknowledges is said on 东门 at +5 min with the staff's text and
    played with proof of play, while an alert acknowledged before its step is never spoken."""

    async def scenario() -> None:
        async with SpeakRig(speak_config, clock) as rig:
            rig.app.events.emit(trip())
            rig.app.events.emit(trip(port=5))
            assert await asyncio.to_thread(receiver.wait_for, lambda: len(receiver.to("wang")) == 2)
            acked = rig.alerts.manager.open_keys["overcurrent:P03/5"]
            rig.alerts.manager.acknowledge(acked, "wang")
            await rig.advance(4.9)
            assert rig.kinds("alert.spoken") == []
            await rig.advance(0.1)
            spoken = rig.kinds("alert.spoken")
            assert [e.subject for e in spoken] == [str(rig.alerts.manager.open_keys[
                "overcurrent:P03/4"])]
            assert spoken[0].detail["text"] == "3号充电桩 4号口充电过流，请值班人员立即到场"
            key = spoken[0].detail["key"]
            await until(lambda: rig.plays(key).get("east_gate") == "played")
            assert rig.plays(key) == {"east_gate": "played"}
            # Spoken as an emergency, the text may reach the speaker in parts (first clause
            # first): every part on 东门 and nowhere else, and one row of proof of play.
            assert {p.speaker for p in rig.sim.plays} == {"east_gate"}
            await rig.advance(10)  # a step is spoken once, never again on later rounds
            assert len(rig.kinds("alert.spoken")) == 1
            assert rig.plays(f"alert:{acked}:step2") == {}

    asyncio.run(scenario())


def test_quiet_hours_silence_a_warning_but_not_a_critical_alert(
        speak_config: Path, clock: ManualClock) -> None:
    """Test that at 23:00 (quiet hours 21:30-07:00) a warning's step is skipped with a recorded
    reason, and a critical alert's step is spoken as an emergency."""
    clock.advance(2 * 3600)  # 23:00 site time

    async def scenario() -> None:
        async with SpeakRig(speak_config, clock) as rig:
            rig.app.events.emit(_sensor_fault())
            rig.app.events.emit(trip())
            await rig.advance(5)
            skipped = rig.kinds("alert.speak_skipped")
            assert [(e.detail["reason"], e.detail["step"]) for e in skipped] == [
                ("quiet_hours", 2)]
            assert skipped[0].subject == str(rig.alerts.manager.open_keys["sensor_fault:P03/2"])
            spoken = rig.kinds("alert.spoken")
            assert [e.subject for e in spoken] == [
                str(rig.alerts.manager.open_keys["overcurrent:P03/4"])]
            key = spoken[0].detail["key"]
            await until(lambda: rig.plays(key).get("east_gate") == "played")
            with contextlib.closing(sqlite3.connect(rig.app.store.path)) as db:
                priority, source = db.execute("SELECT priority, source FROM plays WHERE key = ?",
                                              (key,)).fetchone()
            assert (priority, source) == ("emergency", "alert")

    asyncio.run(scenario())


@pytest.mark.parametrize(("speak", "expected"), [
    ({"speakers": ["东门口"], "text": SPOKEN},
     "alerts.escalation.critical.steps[1].speak.speakers[0]: 没有名为“东门口”的喇叭；您是不是想写“东门”？"),
    ({"speakers": ["东门"], "text": "{whre}有警报"},
     "alerts.escalation.critical.steps[1].speak.text: 没有占位符 {whre}；是不是 {where}？"),
    ({"speakers": ["东门"], "text": "{where 有警报"},
     "alerts.escalation.critical.steps[1].speak.text: “{”或“}”没有配对"),
])
def test_speak_step_mistakes_are_named_at_their_line(
        broker: Broker, receiver: Receiver, site_id: str, write_config: Callable[..., Path],
        speak: dict[str, Any], expected: str) -> None:
    """Test that a wrong speaker or placeholder in a speak step is reported in Chinese at the
    file and line where staff wrote it."""
    chains = _chains(["东门"])
    chains["critical"]["steps"][1]["speak"] = speak
    path = write_config(broker, speakers=speakers_section(site_id),
                        alerts=roster_section(receiver, escalation=chains))
    lines = path.read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as caught:
        load(path)
    problems = [p for p in str(caught.value).splitlines() if expected in p]
    assert len(problems) == 1, str(caught.value)
    line = int(problems[0].split(":")[1])
    written = speak["speakers"][0] if "speakers[0]" in expected else speak["text"]
    assert written in lines[line - 1]
