"""The scheduler with a driven clock: on time, ahead, late within grace, missed, never twice."""

from __future__ import annotations

import asyncio
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.events import Event, EventBus
from edge.schedule import ChinaCalendar
from edge.schedule.scheduler import Scheduler
from edge.speakers.requests import PlayRequest
from edge.store import Store
from tests.schedule.helpers import load, site

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEXT = ("announcements:\n  反诈:\n    text: 反诈提醒\n    speakers: [东门, 南门]\n"
        "    at: '08:30'\n    volume: 80\n")
SLOT = datetime(2026, 12, 1, 8, 30, tzinfo=SHANGHAI).timestamp()
KEY = "反诈@2026-12-01T08:30:00+08:00"


class Clock:
    """A clock the test sets; sleeping moves it forward instead of waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class RecordingSink:
    """A test double of the speaker fleet's PlaySink: records what it is handed."""

    def __init__(self) -> None:
        self.prepared: list[tuple[float, str]] = []
        self.submitted: list[tuple[float, PlayRequest]] = []
        self.clock: Clock | None = None

    async def prepare(self, request: PlayRequest) -> None:
        self.prepared.append((self.clock() if self.clock else 0.0, request.key))

    async def submit(self, request: PlayRequest) -> None:
        self.submitted.append((self.clock() if self.clock else 0.0, request))


def make(tmp_path: Path, clock: Clock, sink: RecordingSink | None, store: Store | None,
         events: list[Event], text: str = TEXT) -> Scheduler:
    """A scheduler of ``text`` with 600 s grace and render-ahead, on the given clock and store."""
    if sink is not None:
        sink.clock = clock
    bus = EventBus(None, None)
    bus.listen(events.append, prefix="play.")
    return Scheduler(load(site(tmp_path, text)), sink, tz=SHANGHAI, calendar=ChinaCalendar(None),
                     quiet=(time(21, 30), time(7)), grace_s=600, render_ahead_s=600,
                     events=bus, store=store, clock=clock, sleep=clock.sleep,
                     speaker_names={"east_gate": "东门", "south_gate": "南门"})


def test_prepares_ahead_and_submits_on_time(tmp_path: Path) -> None:
    """Test that the clip is prepared 10 min ahead and submitted at the slot, once, with its data."""
    clock, sink, events = Clock(SLOT - 3600), RecordingSink(), []
    scheduler = make(tmp_path, clock, sink, None, events)

    async def drive() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        while clock.now < SLOT + 3600:
            await asyncio.sleep(0)
        stop.set()
        await task

    asyncio.run(drive())
    assert sink.prepared == [(SLOT - 600, KEY)]
    ((when, request),) = sink.submitted
    assert when == SLOT
    assert (request.key, request.speakers, request.volume, request.due, request.grace_s) == \
        (KEY, ("east_gate", "south_gate"), 80, SLOT, 600)
    assert events == []


def test_restart_around_a_slot_does_not_submit_twice(tmp_path: Path) -> None:
    """Test that a restart right after a slot, and a clock stepped back, never resubmit it."""
    store = Store(tmp_path / "data")
    store.open()
    clock, sink, events = Clock(SLOT), RecordingSink(), []
    first = make(tmp_path, clock, sink, store, events)
    asyncio.run(first.tick())
    clock.now = SLOT + 1  # restart one second after the dispatch
    second = make(tmp_path, clock, sink, store, events)
    asyncio.run(second.tick())
    clock.now = SLOT - 120  # the clock is stepped back across the slot
    asyncio.run(second.tick())
    clock.now = SLOT + 5
    asyncio.run(second.tick())
    store.close()
    assert [r.key for _, r in sink.submitted] == [KEY]


def test_late_inside_grace_after_a_restart(tmp_path: Path) -> None:
    """Test that a slot passed while the daemon was down plays late inside the grace window."""
    store = Store(tmp_path / "data")
    store.open()
    clock, sink, events = Clock(SLOT - 60), RecordingSink(), []
    asyncio.run(make(tmp_path, clock, sink, store, events).tick())  # up before the slot, then down
    clock.now = SLOT + 300
    asyncio.run(make(tmp_path, clock, sink, store, events).tick())
    store.close()
    assert [(when, r.key) for when, r in sink.submitted] == [(SLOT + 300, KEY)]
    assert events == []


def test_missed_beyond_grace_after_a_restart(tmp_path: Path) -> None:
    """Test that a slot older than the grace window is not played but reported missed per speaker."""
    store = Store(tmp_path / "data")
    store.open()
    clock, sink, events = Clock(SLOT - 60), RecordingSink(), []
    asyncio.run(make(tmp_path, clock, sink, store, events).tick())
    clock.now = SLOT + 900
    asyncio.run(make(tmp_path, clock, sink, store, events).tick())
    store.close()
    assert sink.submitted == []
    assert [(e.kind, e.subject, e.detail["key"], e.detail["reason"], e.detail["late_s"])
            for e in events] == [("play.missed", "east_gate", KEY, "not running", 900.0),
                                 ("play.missed", "south_gate", KEY, "not running", 900.0)]
    assert events[0].detail["speaker_name"] == "东门"


def test_clock_jump_forward(tmp_path: Path) -> None:
    """Test that a forward clock jump past the grace window reports the slot missed, not played."""
    clock, sink, events = Clock(SLOT - 60), RecordingSink(), []
    scheduler = make(tmp_path, clock, sink, None, events)
    asyncio.run(scheduler.tick())
    clock.now = SLOT + 3600
    asyncio.run(scheduler.tick())
    assert sink.submitted == []
    assert {e.detail["reason"] for e in events} == {"clock jump"}


def test_without_speakers_every_slot_is_missed(tmp_path: Path) -> None:
    """Test that with no speaker service a due slot is reported missed rather than dropped silently."""
    clock, events = Clock(SLOT), []
    scheduler = make(tmp_path, clock, None, None, events)
    asyncio.run(scheduler.tick())
    assert [e.detail["reason"] for e in events] == ["no speaker service"] * 2


def test_backlog_after_a_restart_plays_once(tmp_path: Path) -> None:
    """Test that after downtime only the latest missed slot of an announcement plays late."""
    text = TEXT.replace("at: '08:30'", "every: 2m\n    window: '08:20 ~ 08:40'")
    assert text != TEXT, "TEXT no longer has the line this test edits"
    store = Store(tmp_path / "data")
    store.open()
    clock, sink, events = Clock(SLOT - 600), RecordingSink(), []
    asyncio.run(make(tmp_path, clock, sink, store, events, text).tick())  # up at 08:20, then down
    clock.now = SLOT + 30                  # back at 08:30:30: 08:22 … 08:30 were missed
    asyncio.run(make(tmp_path, clock, sink, store, events, text).tick())
    store.close()
    assert [r.key for when, r in sink.submitted if when == SLOT + 30] == [KEY]  # 08:30 only
    superseded = {e.detail["key"] for e in events
                  if e.detail["reason"] == "superseded by a later slot"}
    assert superseded == {f"反诈@2026-12-01T08:{m:02d}:00+08:00" for m in (22, 24, 26, 28)}
