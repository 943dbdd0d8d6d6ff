"""A daemon with only the HTTP server and the speakers, plus virtual speakers, on a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from edge import http as http_module
from edge.app import App
from edge.config import GridedgeConfig, load_config
from edge.events import Event
from edge.profiles import ProfileRegistry, load_registry
from edge.sim.speakers import SpeakerSimulator, simulator_for
from edge.speakers import Fleet, PlayRequest, Priority
from edge.speakers import component as speakers_component
from edge.speakers.clock import SpeakerClock

HANG_GUARD_S = 40.0  # a guard against a hang, not a speed limit
SHORT_TEXT = "请注意"


def speakers_section(site_id: str) -> dict:
    """Four speakers of three profiles (device topics unique to the test: vendor topics are global)."""
    return {"defaults": {"profile": "gridedge-speaker", "volume": 70},
            "devices": {
                "east_gate": {"name": "东门", "location": "东门岗亭北侧灯杆"},
                "south_gate": {"name": "南门", "location": "南门车行道入口"},
                "west_gate": {"name": "西门", "profile": "tasmota-i2s",
                              "topic_id": f"{site_id}-west"},
                "north_gate": {"name": "北门", "profile": "openluat-tts",
                               "topic_id": f"{site_id}-imei", "volume": 60}}}


def load(path: Path) -> tuple[GridedgeConfig, ProfileRegistry]:
    """Config and profiles as the daemon loads them."""
    profiles = load_registry()
    return load_config(path, profiles=profiles), profiles


class Daemon:
    """The real App, started with only its store, HTTP server and speakers component."""

    def __init__(self, config: GridedgeConfig, profiles: ProfileRegistry,
                 clock: SpeakerClock | None = None) -> None:
        self.app = App(config, profiles)
        self.clock = clock
        self.events: list[Event] = []
        self.http: http_module.HttpServer | None = None
        self.component: speakers_component.SpeakersComponent | None = None

    @property
    def fleet(self) -> Fleet:
        """The speaker fleet."""
        assert self.component is not None
        return self.component.fleet

    async def start(self) -> None:
        """Start like App.start() does, for these components only."""
        await self.app.store.start()
        self.app.events.listen(self.events.append)
        self.http = http_module.create(self.app)
        await self.http.start()
        if self.clock is None:
            self.component = speakers_component.create(self.app)
        else:  # as create() builds it, with the test's clocks
            fleet = Fleet(self.app.config, self.app.profiles, topics=self.app.topics,
                          store=self.app.store, mqtt=self.app.mqtt, events=self.app.events,
                          http=self.http, clock=self.clock)
            self.component = speakers_component.SpeakersComponent(self.app, fleet)
        await self.component.start()
        await self.app.mqtt.start()
        assert await self.app.mqtt.wait_connected(10)

    async def stop(self) -> None:
        """Stop in reverse order."""
        await self.app.mqtt.stop()
        if self.component is not None:
            await self.component.stop()
        if self.http is not None:
            await self.http.stop()
        await self.app.store.stop()

    def outcomes(self, key: str) -> dict[str, str]:
        """speaker → final state of one occurrence in the play log."""
        return {r["speaker"]: r["state"] for r in self._query(
            "SELECT speaker, state FROM plays WHERE key = ?", (key,))}

    def row(self, key: str, speaker: str) -> dict:
        """One play-log row."""
        rows = self._query("SELECT * FROM plays WHERE key = ? AND speaker = ?", (key, speaker))
        return dict(rows[0])

    def _query(self, sql: str, params: tuple) -> list[sqlite3.Row]:
        # Its own connection: readable before start and after stop, like `gridedge plays`.
        with contextlib.closing(sqlite3.connect(self.app.store.path)) as db:
            db.row_factory = sqlite3.Row
            return db.execute(sql, params).fetchall()


def request(key: str, speakers: tuple[str, ...], *, priority: Priority = Priority.ROUTINE,
            text: str = SHORT_TEXT, grace_s: float = 30.0, due: float | None = None,
            ) -> PlayRequest:
    """A short announcement due now."""
    return PlayRequest(key=key, announcement=key, speakers=speakers,
                       due=time.time() if due is None else due, grace_s=grace_s,
                       priority=priority, text=text)


def simulator(config: GridedgeConfig, profiles: ProfileRegistry) -> SpeakerSimulator:
    """Virtual speakers for the config, with quick text-to-speech."""
    return simulator_for(config, profiles, tts_seconds_per_char=0.1)


async def until(check: Callable[[], object], timeout: float = HANG_GUARD_S) -> None:
    """Wait until check() is true (a hang guard, not a speed limit)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            msg = "condition not reached"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


def final(daemon: Daemon, key: str, speakers: tuple[str, ...]) -> Callable[[], bool]:
    """A check: every speaker's play of key has an outcome."""
    def check() -> bool:
        got = daemon.outcomes(key)
        return all(got.get(s) in ("played", "missed", "failed", "interrupted") for s in speakers)

    return check
