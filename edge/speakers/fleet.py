"""The speaker fleet: the :class:`~edge.speakers.requests.PlaySink` the scheduler and ``say`` feed.

It renders clips ahead (the audio library's cache, in the speaker's profile format), serves them
through the daemon's HTTP server under their hash, keeps one queue per speaker, and writes every
outcome to the play log with a ``play.*`` event. Restarts are safe: queued rows are resumed,
dispatched rows are watched to their end and never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from audio import AudioFormat, CacheError, Composition, RenderedClip, write_pins
from edge.events import Event, EventBus, Severity
from edge.i18n import N_
from edge.mqtt import Message, MqttClient, Topics
from edge.profiles import ProfileRegistry
from edge.speakers.channel import Channel
from edge.speakers.clock import SpeakerClock
from edge.speakers.const import (
    CLIP_MAP_MAX,
    TTS_SECONDS_PER_CHAR,
    TTS_START_S,
    Confirmation,
    PlayState,
)
from edge.speakers.drivers import Command, Driver
from edge.speakers.parts import SpokenPart, spoken_parts
from edge.speakers.playlog import PlayLog, PlayRecord, request_from_row
from edge.speakers.rendering import SiteRenderer, build_renderer
from edge.speakers.requests import PlayRequest, Priority
from edge.store import Store

if TYPE_CHECKING:
    from edge.config import GridedgeConfig
    from edge.http import HttpServer

__all__ = ["ClipInfo", "Fleet"]

logger = logging.getLogger(__name__)

R_DAEMON_DOWN = N_("the daemon was not running until the grace window ended")
R_NO_SPEAKER = N_("there is no such speaker in the configuration (or it is disabled)")

_EVENT_KINDS = {PlayState.PLAYED: ("play.done", Severity.INFO),
                PlayState.INTERRUPTED: ("play.interrupted", Severity.INFO),
                PlayState.MISSED: ("play.missed", Severity.WARNING),
                PlayState.FAILED: ("play.failed", Severity.WARNING)}


@dataclass(frozen=True)
class ClipInfo:
    """What a speaker needs to fetch and time a clip (url empty for on-device TTS)."""

    url: str
    sha256: str
    duration_s: float
    path: Path | None = None


class Fleet:
    """Every speaker of the site; implements ``PlaySink`` (``prepare``, ``submit``).

    Args:
        config: the site configuration.
        profiles: device profiles.
        topics, store, mqtt, events: the daemon's (see :class:`edge.app.App`).
        http: the HTTP server that serves clips.
        resume_interrupted: queue an interrupted play again (from its start) while its grace
            window lasts; off by default, as the design says.
        clock: wall and monotonic clocks (injectable, to step the wall clock in tests).
    """

    def __init__(self, config: GridedgeConfig, profiles: ProfileRegistry, *, topics: Topics,
                 store: Store, mqtt: MqttClient, events: EventBus, http: HttpServer,
                 resume_interrupted: bool = False, clock: SpeakerClock | None = None) -> None:
        self.config = config
        self.profiles = profiles
        self.topics = topics
        self.store = store
        self.mqtt = mqtt
        self.events = events
        self.http = http
        self.resume_interrupted = resume_interrupted
        self.clock = clock or SpeakerClock()
        self.playlog = PlayLog(store)
        self.channels: dict[str, Channel] = {}
        self._renderer: SiteRenderer | None = None
        # Rendered clips by what they say, most recently used last (bounded: CLIP_MAP_MAX).
        self._clips: OrderedDict[tuple[object, ...], ClipInfo] = OrderedDict()
        self._render_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._part_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build a channel per enabled speaker, subscribe to their topics, resume the play log."""
        self._render_lock = asyncio.Lock()
        self._renderer = build_renderer(self.config, warm=True)
        for speaker_id, speaker in self.config.speakers.devices.items():
            if not speaker.enabled:
                continue
            driver = Driver(self.profiles.get(speaker.profile), speaker.topic_id or speaker_id,
                            self.topics, self.config.site.tz)
            channel = Channel(self, speaker_id, speaker, driver)
            self.channels[speaker_id] = channel
            for binding in driver.bindings:
                self.mqtt.subscribe(binding.topic_filter, self._reader(channel))
            for topic in sorted(driver.command_topics()):
                self.mqtt.guard_commands(topic)
        self._resume()
        for channel in self.channels.values():
            self._tasks.append(asyncio.create_task(channel.run(), name=f"speaker-{channel.id}"))
        logger.info("speaker fleet: %d speakers", len(self.channels))

    async def stop(self) -> None:
        """Stop the workers; unfinished rows stay in the play log for the next start."""
        for channel in self.channels.values():
            channel.stopping = True
            channel.wake()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for task in list(self._part_tasks):
            task.cancel()
        if self._renderer is not None:
            await asyncio.to_thread(self._renderer.close)

    def _reader(self, channel: Channel) -> Callable[[Message], None]:
        def read(message: Message) -> None:
            report = channel.driver.read(message.topic, message.payload)
            if report is not None:
                channel.on_report(report)

        return read

    def _resume(self) -> None:
        # Across a restart only the wall clock connects the old daemon's moments with ours.
        now = self.clock.wall()
        for record in self.playlog.unfinished():
            channel = self.channels.get(record.speaker)
            if channel is None:
                self._finish(record, PlayState.FAILED, R_NO_SPEAKER, "", None)
            elif record.state is PlayState.DISPATCHED:
                channel.adopt(record.key, record.announcement,
                              request_from_row(record).priority.rank, record.command_id,
                              record.duration_s, record.dispatched_at or now)
            elif now >= record.due + record.grace_s:
                self._finish(record, PlayState.MISSED, R_DAEMON_DOWN, "", None)
            else:
                channel.enqueue(request_from_row(record), record.command_id)

    # -- PlaySink ------------------------------------------------------------------------------

    async def prepare(self, request: PlayRequest) -> None:
        """Render the request's clip for every speaker format it needs (cached, idempotent)."""
        for speaker_id in request.speakers:
            channel = self.channels.get(speaker_id)
            if channel is not None and not channel.driver.speaks_text:
                await self.clip_for(request, channel.driver)

    async def submit(self, request: PlayRequest) -> None:
        """Queue a due request on each of its speakers, unless that (key, speaker) is logged."""
        for speaker_id in request.speakers:
            channel = self.channels.get(speaker_id)
            if channel is not None and request.key in channel.queued_keys():
                continue
            existing = self.playlog.claim(request, speaker_id)
            if existing is not None:
                logger.info("play %s on %s is already %s; not queued again", request.key,
                            speaker_id, existing.state.value)
                continue
            if channel is None:
                self.finish_record(None, self.playlog.get(request.key, speaker_id),
                                   PlayState.FAILED, reason=R_NO_SPEAKER)
                continue
            channel.enqueue(request)

    # -- services of the channels --------------------------------------------------------------

    def parts_of(self, request: PlayRequest, driver: Driver) -> list[SpokenPart | None]:
        """How a request reaches this speaker: whole ([None]) or in parts, first part first.

        An emergency spoken with our clips goes in parts (its first words sooner, see
        :mod:`edge.speakers.parts`), unless its whole clip is ready already.
        """
        fmt = driver.audio_format
        if (fmt is None or request.text is None or request.clip is not None
                or request.priority is not Priority.EMERGENCY
                or self._memo(request, fmt) in self._clips):
            return [None]
        assert self._renderer is not None, "start() first"
        parts = spoken_parts(request.text, request.repeat, self._renderer.audio.gap_ms)
        return [None] if len(parts) == 1 else list(parts)

    def clips_in_order(self, request: PlayRequest, driver: Driver,
                       parts: list[SpokenPart | None]) -> list[asyncio.Future[ClipInfo]]:
        """Render the parts one after the other in the background; a future per part, in order.

        A part that cannot be made fails its future and every later one. Nobody need wait for
        them: a play interrupted after its first part leaves the rest to finish into the cache.
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[ClipInfo]] = [loop.create_future() for _ in parts]
        for future in futures:  # a failure nobody awaited is not an error worth a warning
            future.add_done_callback(lambda f: f.cancelled() or f.exception())

        async def render_all() -> None:
            for index, (part, future) in enumerate(zip(parts, futures, strict=True)):
                try:
                    future.set_result(await self.clip_for(request, driver, part))
                except Exception as err:  # noqa: BLE001 - handed to whoever awaits the part
                    for later in futures[index:]:
                        later.set_exception(err)
                    return

        task = loop.create_task(render_all(), name=f"render-{request.key}")
        self._part_tasks.add(task)
        task.add_done_callback(self._part_tasks.discard)
        return futures

    @staticmethod
    def _memo(request: PlayRequest, fmt: AudioFormat, part: SpokenPart | None = None,
              ) -> tuple[object, ...]:
        if part is not None:
            return ("part", part.text, part.index > 0, part.repeat, part.lead_ms, fmt)
        return (request.text, str(request.clip) if request.clip else None, request.repeat, fmt)

    async def clip_for(self, request: PlayRequest, driver: Driver,
                       part: SpokenPart | None = None) -> ClipInfo:
        """The clip of a request (or of one part of it) in the driver's format, rendered once
        and served by hash."""
        fmt = driver.audio_format
        if fmt is None:
            text = request.text or ""
            return ClipInfo("", "", TTS_START_S + TTS_SECONDS_PER_CHAR * len(text))
        memo = self._memo(request, fmt, part)
        found = self._clips.get(memo)
        # Each use touches the clip in the cache (its LRU order is the files' mtime), so a clip
        # that schedules and queues keep using is never the oldest; one the cache evicted or
        # that no longer hashes right anyway is rendered again, never handed out to 404.
        if found is not None and await asyncio.to_thread(self._still_served, found):
            self._clips.move_to_end(memo)
            return found
        assert self._render_lock is not None, "start() first"
        async with self._render_lock:
            clip = await asyncio.to_thread(self._render, request, fmt, part)
        self.http.clips.add(clip.sha256, clip.path)
        info = ClipInfo(self.http.clip_url(clip.sha256, fmt.suffix), clip.sha256, clip.duration_s,
                        clip.path)
        self._clips[memo] = info
        self._clips.move_to_end(memo)
        while len(self._clips) > CLIP_MAP_MAX:
            _memo, old = self._clips.popitem(last=False)
            if all(other.sha256 != old.sha256 for other in self._clips.values()):
                self.http.clips.discard(old.sha256)
        await asyncio.to_thread(self._pin, [c.path for c in self._clips.values() if c.path])
        return info

    @staticmethod
    def _pin(paths: list[Path]) -> None:
        """Keep the clips schedules and queues refer to out of the cache's eviction."""
        by_folder: dict[Path, list[str]] = {}
        for path in paths:
            by_folder.setdefault(path.parent, []).append(path.name)
        for folder, names in by_folder.items():
            try:
                write_pins(folder, names)
            except CacheError as err:
                logger.warning("%s", err)

    def _still_served(self, clip: ClipInfo) -> bool:
        """True when the clip's file is still there with its bytes (touched); blocking I/O."""
        if clip.path is None or self.http.clips.path(clip.sha256) is None:
            logger.info("clip %s left the cache; rendering it again", clip.sha256[:12])
            return False
        with contextlib.suppress(OSError):
            os.utime(clip.path)
        return True

    def _render(self, request: PlayRequest, fmt: AudioFormat,
                part: SpokenPart | None = None) -> RenderedClip:
        assert self._renderer is not None
        if part is not None:
            return self._renderer.render_part(part.text, index=part.index, repeat=part.repeat,
                                              lead_ms=part.lead_ms, fmt=fmt)
        composition = Composition(repeat=request.repeat)
        if request.clip is not None:
            return self._renderer.render_recorded(self.config.resolve(request.clip),
                                                  composition=composition, fmt=fmt)
        return self._renderer.render(request.text or "", composition=composition, fmt=fmt)

    def send(self, commands: list[Command]) -> None:
        """Publish commands to a speaker (never retained)."""
        for command in commands:
            self.mqtt.publish(command.topic, command.payload, qos=command.qos)

    def started(self, channel: Channel, key: str, at: float) -> None:
        """A play began (reported by the speaker, or its command went out)."""
        self.playlog.started(key, channel.id, at)

    def finish(self, channel: Channel, request: PlayRequest, state: PlayState, *,
               reason: str = "", detail: str = "", confirmation: Confirmation | None = None,
               ) -> None:
        """Write the outcome of a queued or dispatched play and announce it."""
        record = self.playlog.get(request.key, channel.id)
        self.finish_record(channel, record, state, reason=reason, detail=detail,
                           confirmation=confirmation)
        if (state is PlayState.INTERRUPTED and self.resume_interrupted
                and self.clock.wall() < request.due + request.grace_s):
            resumed = PlayRequest(**{**request.__dict__, "key": f"{request.key}~resumed",
                                     "speakers": (channel.id,)})
            if self.playlog.claim(resumed, channel.id) is None:
                channel.enqueue(resumed)

    def finish_record(self, channel: Channel | None, record: PlayRecord | None,
                      state: PlayState, *, reason: str = "", detail: str = "",
                      confirmation: Confirmation | None = None) -> None:
        """Like :meth:`finish`, from a play-log row."""
        del channel
        if record is not None:
            self._finish(record, state, reason, detail, confirmation)

    def _finish(self, record: PlayRecord, state: PlayState, reason: str, detail: str,
                confirmation: Confirmation | None) -> None:
        now = self.clock.wall()
        self.playlog.finish(record.key, record.speaker, state, reason=reason, detail=detail,
                            confirmation=confirmation, at=now)
        kind, severity = _EVENT_KINDS[state]
        speaker = self.config.speakers.devices.get(record.speaker)
        self.events.emit(Event(kind, record.speaker, severity, detail={
            "key": record.key, "announcement": record.announcement, "source": record.source,
            "priority": record.priority, "speaker_name": speaker.name if speaker else "",
            "location": speaker.location if speaker else "", "state": state.value,
            "confirmation": confirmation.value if confirmation else "", "reason": reason,
            "detail": detail, "due": record.due}, ts=now))

    def unsolicited_play(self, channel: Channel, command_id: str, state: str, detail: str) -> None:
        """A speaker reported a play the daemon never asked for: a security warning."""
        logger.warning("speaker %s reports a play the daemon did not send (command %r, %s): "
                       "someone else can command it; check the broker's access rules",
                       channel.id, command_id[:64], state)
        self.events.emit(Event("speaker.unsolicited_play", channel.id, Severity.WARNING, detail={
            "speaker_name": channel.config.name, "location": channel.config.location,
            "command_id": command_id[:64], "state": state, "detail": detail[:200]}))

    def availability_changed(self, channel: Channel, was: bool | None) -> None:
        """Raise speaker.offline / speaker.online on a change of availability."""
        if channel.online is False:
            kind, severity = "speaker.offline", Severity.WARNING
        elif was is False:
            kind, severity = "speaker.online", Severity.INFO
        else:
            return
        self.events.emit(Event(kind, channel.id, severity, detail={
            "speaker_name": channel.config.name, "location": channel.config.location,
            "profile": channel.driver.profile.id}))
