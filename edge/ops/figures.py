"""The daemon's live figures, copied on the event loop so HTTP threads never read moving state.

Monitors, channels and the MQTT client are changed by the asyncio loop only. An HTTP handler
asks the loop for a :class:`Figures` copy (:func:`on_loop`) and works on that; SQLite figures
(plays, outbox) are read in the HTTP thread through the store's own lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from edge.events import Event

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["EventCounts", "Figures", "PostFigures", "SpeakerFigures", "gather", "on_loop"]

T = TypeVar("T")


class EventCounts:
    """Counts of rare events (trips, cut-off outcomes, schedule loads), fed by the event bus."""

    def __init__(self) -> None:
        self.trips: Counter[tuple[str, str]] = Counter()   # (post, cause)
        self.cutoffs: Counter[tuple[str, str]] = Counter()  # (post, confirmed|failed)
        self.schedule_loads = 0
        self.schedule_rejections = 0

    def on_event(self, event: Event) -> None:
        """Count one event (called on the loop by :class:`edge.events.EventBus`)."""
        kind, detail = event.kind, event.detail
        if kind == "post.trip":
            self.trips[(str(detail.get("post", "")), str(detail.get("cause", "")))] += 1
        elif kind == "post.cutoff_confirmed":
            self.cutoffs[(str(detail.get("post", "")), "confirmed")] += 1
        elif kind == "post.cutoff_failed":
            self.cutoffs[(str(detail.get("post", "")), "failed")] += 1
        elif kind == "schedule.reloaded":
            self.schedule_loads += 1
        elif kind == "schedule.rejected":
            self.schedule_rejections += 1


@dataclass(frozen=True)
class PostFigures:
    """One post as the daemon sees it now."""

    post: str
    name: str
    location: str
    profile: str
    online: bool | None
    messages: int
    rejected: dict[str, int]
    dropped: dict[str, int]
    cutoffs_sent: int
    ports: dict[int, str]                  # port → state word (normal, overload, latched …)
    latches: dict[int, dict[str, Any]]     # port → {"cause", "at"}
    sensor_faults: list[str]


@dataclass(frozen=True)
class SpeakerFigures:
    """One speaker as the daemon sees it now."""

    speaker: str
    name: str
    location: str
    profile: str
    online: bool | None
    playing: str        # announcement now playing, "" when idle
    playing_key: str
    queued: int


@dataclass(frozen=True)
class Figures:
    """Everything in memory that metrics, health and status need, at one moment."""

    mqtt_connected: bool
    mqtt_stats: dict[str, int]
    posts: list[PostFigures] = field(default_factory=list)
    speakers: list[SpeakerFigures] = field(default_factory=list)
    trips: dict[tuple[str, str], int] = field(default_factory=dict)
    cutoffs: dict[tuple[str, str], int] = field(default_factory=dict)
    schedule_present: bool = False
    schedule_loads: int = 0
    schedule_rejections: int = 0
    schedule_announcements: int | None = None
    open_alerts: int | None = None
    alert_duplicates: int | None = None   # notifications sent again that may have arrived


def gather(app: App, counts: EventCounts) -> Figures:
    """Copy the figures (call on the event loop)."""
    posts_service: Any = app.service("posts")
    fleet: Any = app.service("speakers")
    schedule: Any = app.service("schedule")
    alerts: Any = app.service("alerts")
    posts = [] if posts_service is None else [
        _post(m) for m in posts_service.monitors.values()]
    speakers = [] if fleet is None else [_speaker(c) for c in fleet.channels.values()]
    announcements = None
    scheduler = getattr(schedule, "scheduler", None)
    if scheduler is not None:
        announcements = _announcements(scheduler)
    manager = getattr(alerts, "manager", None)
    return Figures(
        mqtt_connected=app.mqtt.connected, mqtt_stats=dict(app.mqtt.stats), posts=posts,
        speakers=speakers, trips=dict(counts.trips), cutoffs=dict(counts.cutoffs),
        schedule_present=schedule is not None, schedule_loads=counts.schedule_loads,
        schedule_rejections=counts.schedule_rejections, schedule_announcements=announcements,
        open_alerts=None if manager is None else len(manager.open_keys),
        alert_duplicates=getattr(alerts, "duplicates", None))


def _post(monitor: Any) -> PostFigures:
    from edge.posts.state import port_state

    latches = {port: {"cause": str(latch.cause), "at": latch.at}
               for port, latch in monitor.protection.latches.items()}
    return PostFigures(
        post=monitor.post_id, name=monitor.config.name, location=monitor.config.location,
        profile=monitor.profile.id, online=monitor.online, messages=monitor.messages,
        rejected=dict(monitor.rejections.counts), dropped=dict(monitor.dropped),
        cutoffs_sent=monitor.cutoffs.sent,
        ports={port: port_state(monitor, port) for port in monitor.readings},
        latches=latches, sensor_faults=sorted(monitor.sensor_faults))


def _speaker(channel: Any) -> SpeakerFigures:
    active = channel.active
    return SpeakerFigures(
        speaker=channel.id, name=channel.config.name, location=channel.config.location,
        profile=channel.driver.profile.id, online=channel.online,
        playing="" if active is None else active.announcement,
        playing_key="" if active is None else active.key, queued=len(channel.queue))


def _announcements(scheduler: Any) -> int | None:
    schedule = getattr(scheduler, "schedule", None)
    found = getattr(schedule, "announcements", None)
    return None if found is None else len(found)


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` on the event loop from another thread and return its result.

    Raises:
        TimeoutError: the loop did not run it within ``timeout`` seconds.
        RuntimeError: the loop is closed.
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
            future.set_exception(err)

    loop.call_soon_threadsafe(run)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError from None
