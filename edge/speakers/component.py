"""The speakers component of the daemon: the fleet, offered as service "speakers", and ``announce``."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from edge.events import Event, Severity
from edge.mqtt import Message
from edge.speakers.announce import parse_announce
from edge.speakers.errors import AnnounceError
from edge.speakers.fleet import Fleet
from edge.speakers.requests import PlayRequest

if TYPE_CHECKING:
    from edge.app import App
    from edge.http import HttpServer

__all__ = ["SpeakersComponent", "create"]

logger = logging.getLogger(__name__)


class SpeakersComponent:
    """Starts the fleet and listens for ad-hoc announcements on the ``announce`` topic."""

    def __init__(self, app: App, fleet: Fleet) -> None:
        self.app = app
        self.fleet = fleet
        self.stats = {"announce_accepted": 0, "announce_rejected": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the fleet, then subscribe to ``announce`` (retained messages are ignored)."""
        await self.fleet.start()
        self.app.mqtt.subscribe(self.app.topics.announce(), self._on_announce, command=True)

    async def stop(self) -> None:
        """Stop the fleet."""
        for task in list(self._tasks):
            task.cancel()
        await self.fleet.stop()

    def _on_announce(self, message: Message) -> None:
        try:
            request = parse_announce(self.app.config, message.payload, message.received_at)
        except AnnounceError as err:
            self.stats["announce_rejected"] += 1
            ident = _id_of(message.payload)
            logger.warning("announcement %s refused: %s", ident, err)
            self.app.events.emit(Event("announce.rejected", ident, Severity.WARNING, detail={
                "id": ident, "reason": err.msgid, "args": err.args_}))
            return
        self.stats["announce_accepted"] += 1
        ident = request.key.removeprefix("announce:")
        self.app.events.emit(Event("announce.accepted", ident, detail={
            "id": ident, "key": request.key, "speakers": list(request.speakers),
            "priority": request.priority.value, "text": request.text}))
        task = asyncio.create_task(self._play(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, request: PlayRequest) -> None:
        try:
            await self.fleet.submit(request)
        except Exception:
            logger.exception("announcement %s could not be queued", request.key)


def _id_of(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return ""
    ident = data.get("id") if isinstance(data, dict) else None
    return ident[:64] if isinstance(ident, str) else ""


def create(app: App) -> SpeakersComponent:
    """Component factory: the fleet, offered to later components as service "speakers"."""
    http: HttpServer | None = app.service("http")  # type: ignore[assignment]
    if http is None:
        msg = "the speakers need the HTTP server (edge.http) to serve clips"
        raise RuntimeError(msg)
    fleet = Fleet(app.config, app.profiles, topics=app.topics, store=app.store, mqtt=app.mqtt,
                  events=app.events, http=http)
    app.provide("speakers", fleet)
    return SpeakersComponent(app, fleet)
