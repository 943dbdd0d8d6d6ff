"""One speaker's queue and worker: one clip at a time, priorities, retries, and the outcome of each play.

Waiting is measured on the monotonic clock (:mod:`edge.speakers.clock`): a step of the wall
clock neither expires a queued play early nor stretches a wait.

The worker picks the most urgent request that is due, sends it once the speaker is online, and
watches it to its end: the speaker's report (``completion: reported``) or the clip's duration
(``completion: inferred``). A higher priority arriving meanwhile stops the play (logged
``interrupted``). A request still queued when its grace window ends is ``missed``, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.i18n import N_
from edge.speakers.const import (
    ACCEPT_TIMEOUT_S,
    DONE_MARGIN_S,
    INFERRED_MARGIN_S,
    REMEMBERED_COMMANDS,
    RETRY_DELAY_S,
    Confirmation,
    PlayState,
)
from edge.speakers.drivers import Driver, Report
from edge.speakers.requests import PlayRequest

if TYPE_CHECKING:
    from edge.config import SpeakerConfig
    from edge.speakers.fleet import ClipInfo, Fleet

__all__ = ["Channel", "Item"]

logger = logging.getLogger(__name__)

# Reasons are catalogue ids (shown translated by `gridedge plays`); details carry the evidence.
R_OFFLINE = N_("the speaker was offline until the grace window ended")
R_BUSY = N_("the speaker was busy until the grace window ended")
R_NO_ANSWER = N_("the speaker did not answer until the grace window ended")
R_RENDER = N_("the clip could not be made")
R_PREEMPTED = N_("interrupted by a higher-priority announcement")
R_DEVICE_STOP = N_("the speaker stopped the play")
R_DEVICE_FAIL = N_("the speaker reported a failure")
R_WENT_OFFLINE = N_("the speaker went offline during the play")
R_NO_END = N_("the speaker reported playing but never the end; completion inferred")
R_RESTARTED = N_("the daemon restarted during the play; completion inferred from the duration")
R_CANNOT = N_("this speaker speaks text only and cannot play a recorded clip")
R_PART_NO_ANSWER = N_("the speaker did not answer a later part of the announcement")


@dataclass
class Item:
    """A request waiting for one speaker (times on the monotonic clock, see edge.speakers.clock)."""

    request: PlayRequest
    seq: int
    due: float              # monotonic reading of the slot's moment
    command_id: str = ""
    not_before: float = 0.0
    problem: str = ""       # why the last attempt did not play (becomes the missed reason)

    @property
    def deadline(self) -> float:
        """The end of the grace window (monotonic)."""
        return self.due + self.request.grace_s


@dataclass
class _Active:
    key: str
    announcement: str
    rank: int
    command_id: str
    duration_s: float
    dispatched_at: float    # wall clock, for the play log
    dispatched_mono: float  # monotonic, for the deadlines
    orphan: bool = False    # dispatched by a daemon before a restart: never sent again
    started: bool = False   # the announcement began playing (its first part)
    part_started: bool = False  # the part now sent began playing
    signals: asyncio.Queue[tuple[str, object]] = field(default_factory=asyncio.Queue)


@dataclass(frozen=True)
class _Outcome:
    state: PlayState | None    # None = not delivered, try again
    reason: str = ""
    detail: str = ""
    confirmation: Confirmation | None = None


class Channel:
    """The queue and worker of one speaker.

    Args:
        fleet: the fleet (play log, MQTT, clips, events).
        speaker_id: canonical id.
        config: the speaker's settings.
        driver: its profile applied.
    """

    def __init__(self, fleet: Fleet, speaker_id: str, config: SpeakerConfig,
                 driver: Driver) -> None:
        self.fleet = fleet
        self.clock = fleet.clock
        self.id = speaker_id
        self.config = config
        self.driver = driver
        self.online: bool | None = None
        self.queue: list[Item] = []
        self.active: _Active | None = None
        self.orphans: list[_Active] = []
        self._wake = asyncio.Event()
        self.stopping = False
        self._seq = 0
        # Command ids this daemon sent (or adopted), newest last; a report naming another id is
        # a play someone else started. Bounded: a late report is about a recent command.
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._flagged: OrderedDict[str, None] = OrderedDict()

    # -- input (asyncio loop) ------------------------------------------------------------------

    def queued_keys(self) -> set[str]:
        """Keys waiting or playing here (an in-memory guard besides the play log)."""
        keys = {item.request.key for item in self.queue}
        if self.active is not None:
            keys.add(self.active.key)
        return keys

    def enqueue(self, request: PlayRequest, command_id: str = "") -> None:
        """Queue a request; a higher priority than the one playing stops it."""
        self._seq += 1
        self.queue.append(Item(request, self._seq, self.clock.mono_at(request.due), command_id))
        active = self.active
        if active is not None and request.priority.rank > active.rank:
            active.signals.put_nowait(("preempt", request))
        self._wake.set()

    def adopt(self, key: str, announcement: str, rank: int, command_id: str,
              duration_s: float | None, dispatched_at: float) -> None:
        """A play a previous daemon dispatched: wait for its end, never send it again."""
        self._remember(self._sent, command_id)
        self.orphans.append(_Active(key, announcement, rank, command_id, duration_s or 0.0,
                                    dispatched_at, self.clock.mono_at(dispatched_at),
                                    orphan=True))

    def on_report(self, report: Report) -> None:
        """A message from the device: availability, or the state of a command."""
        if report.online is not None:
            was, self.online = self.online, report.online
            if was is not report.online:
                self.fleet.availability_changed(self, was)
                if self.active is not None and not report.online:
                    self.active.signals.put_nowait(("offline", None))
                self._wake.set()
            return
        active = self.active
        if active is not None and report.command_id == active.command_id:
            active.signals.put_nowait(("status", report))
        elif report.command_id and report.command_id not in self._sent:
            if report.command_id not in self._flagged:
                self._remember(self._flagged, report.command_id)
                self.fleet.unsolicited_play(self, report.command_id, str(report.state),
                                            report.detail)
        else:
            logger.debug("speaker %s: status %s for command %s, not the current one", self.id,
                         report.state, report.command_id)

    @staticmethod
    def _remember(ids: OrderedDict[str, None], command_id: str) -> None:
        ids[command_id] = None
        ids.move_to_end(command_id)
        while len(ids) > REMEMBERED_COMMANDS:
            ids.popitem(last=False)

    def wake(self) -> None:
        """Make the worker look at its queue now (new request, or stopping)."""
        self._wake.set()

    # -- worker --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Play the queue until cancelled."""
        while self.orphans:
            await self._watch_orphan(self.orphans.pop(0))
        # The flag, not only cancel(): on Python 3.11 wait_for() can swallow a cancellation that
        # arrives as the wake-up fires (CPython gh-86296), and the fleet's stop would hang.
        while not self.stopping:
            self._wake.clear()
            now = self.clock.mono()
            self._expire(now)
            item = self._pick(now)
            if item is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._next_wake(now))
                continue
            try:
                await self._play(item)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.exception("speaker %s: playing %s failed", self.id, item.request.key)
                self.fleet.finish(self, item.request, PlayState.FAILED, reason=R_DEVICE_FAIL,
                                  detail=str(err))

    def _expire(self, now: float) -> None:
        for item in [i for i in self.queue if now >= i.deadline]:
            self.queue.remove(item)
            reason = item.problem or (R_OFFLINE if not self.online else R_BUSY)
            self.fleet.finish(self, item.request, PlayState.MISSED, reason=reason)

    def _ready(self, now: float) -> list[Item]:
        return [i for i in self.queue if i.not_before <= now and i.due <= now]

    def _pick(self, now: float) -> Item | None:
        if not self.online:
            return None
        ready = self._ready(now)
        if not ready:
            return None
        best = max(ready, key=lambda i: (i.request.priority.rank, -i.due, -i.seq))
        self.queue.remove(best)
        return best

    def _next_wake(self, now: float) -> float | None:
        moments = [i.deadline for i in self.queue]
        moments += [t for i in self.queue for t in (i.not_before, i.due) if t > now]
        return max(0.01, min(moments) - now) if moments else None

    async def _play(self, item: Item) -> None:
        request = item.request
        if self.driver.speaks_text and request.text is None:
            self.fleet.finish(self, request, PlayState.FAILED, reason=R_CANNOT)
            return
        parts = self.fleet.clips_in_order(request, self.driver,
                                          self.fleet.parts_of(request, self.driver))
        try:
            clip = await parts[0]
        except Exception as err:  # noqa: BLE001 - any audio error fails this play, not the rest
            logger.warning("speaker %s: no clip for %s: %s", self.id, request.key, err)
            self.fleet.finish(self, request, PlayState.FAILED, reason=R_RENDER, detail=str(err))
            return
        now = self.clock.mono()
        rank = request.priority.rank
        if not self.online or now >= item.deadline or any(
                i.request.priority.rank > rank for i in self._ready(now)):
            self.queue.append(item)  # went offline, expired or outranked while rendering
            return
        item.command_id = item.command_id or uuid.uuid4().hex[:16]
        volume = request.volume if request.volume is not None else self.config.volume
        # Written before sending: a restart from here on never sends this play again.
        self.fleet.playlog.dispatched(request.key, self.id, command_id=item.command_id,
                                      sha256=clip.sha256, duration_s=clip.duration_s,
                                      volume=volume, at=self.clock.wall())
        active = _Active(request.key, request.announcement, rank, item.command_id,
                         clip.duration_s, self.clock.wall(), now)
        self.active = active
        try:
            outcome = await self._play_parts(active, request, parts, clip, volume)
        finally:
            self.active = None
        if outcome.state is None:
            item.problem = outcome.reason
            item.not_before = self.clock.mono() + RETRY_DELAY_S
            self.fleet.playlog.requeue(request.key, self.id)
            self.queue.append(item)
            return
        self.fleet.finish(self, request, outcome.state, reason=outcome.reason,
                          detail=outcome.detail, confirmation=outcome.confirmation)

    async def _play_parts(self, active: _Active, request: PlayRequest,
                          parts: list[asyncio.Future[ClipInfo]], first: ClipInfo,
                          volume: int) -> _Outcome:
        """Send each part when the one before has finished on the speaker; the whole outcome.

        One part is the usual play. For several, the speaker's report that a part is done
        (or, for a speaker without reports, its duration) sends the next one: no protocol we
        drive queues clips, and a play sent early would cut the one playing. The play log
        knows one play, from the first part's start to the last part's end.
        """
        confirmations: list[Confirmation | None] = []
        clip: ClipInfo = first
        outcome = _Outcome(None)
        for index, future in enumerate(parts):
            if index:
                waited = await self._next_clip(active, future)
                if isinstance(waited, _Outcome):
                    return waited
                clip = waited
                active.command_id = f"{active.command_id.split('.')[0]}.{index + 1}"
                active.duration_s = clip.duration_s
                active.dispatched_mono = self.clock.mono()
                active.part_started = False
            self._remember(self._sent, active.command_id)
            self.fleet.send(self.driver.play({
                "request_id": active.command_id, "url": clip.url, "sha256": clip.sha256,
                "duration_s": round(clip.duration_s, 2), "volume": volume,
                "priority": request.priority.value, "text": request.text or ""}))
            outcome = await self._watch(active)
            if outcome.state is None and index:
                # Later parts were not answered: the announcement did start; say what is known.
                return _Outcome(PlayState.FAILED, R_PART_NO_ANSWER, detail=(
                    f"{index + 1}/{len(parts)}"))
            if outcome.state is not PlayState.PLAYED:
                return outcome
            confirmations.append(outcome.confirmation)
        if len(parts) > 1 and any(c is not Confirmation.CONFIRMED for c in confirmations):
            return _Outcome(PlayState.PLAYED, outcome.reason, outcome.detail,
                            Confirmation.INFERRED)
        return outcome

    async def _next_clip(self, active: _Active,
                         future: asyncio.Future[ClipInfo]) -> ClipInfo | _Outcome:
        """The next part's clip, or the outcome when the play ends while it is still rendering."""
        while True:
            signal = asyncio.ensure_future(active.signals.get())
            done, _ = await asyncio.wait({future, signal}, return_when=asyncio.FIRST_COMPLETED)
            if signal not in done:
                signal.cancel()
                try:
                    return future.result()
                except Exception as err:  # noqa: BLE001 - the announcement stops here
                    logger.warning("speaker %s: no clip for a part of %s: %s", self.id,
                                   active.key, err)
                    return _Outcome(PlayState.FAILED, R_RENDER, detail=str(err))
            kind, data = signal.result()
            if kind == "preempt":
                other = data if isinstance(data, PlayRequest) else None
                return _Outcome(PlayState.INTERRUPTED, R_PREEMPTED, detail=(
                    f"{other.announcement} ({other.priority.value})" if other else ""))
            if kind == "offline":
                return _Outcome(PlayState.FAILED, R_WENT_OFFLINE)
            # A late report about the part that has finished: nothing to do.

    async def _watch_orphan(self, active: _Active) -> None:
        self.active = active
        try:
            outcome = await self._watch(active)
        finally:
            self.active = None
        record = self.fleet.playlog.get(active.key, self.id)
        if record is not None and outcome.state is not None:
            self.fleet.finish_record(self, record, outcome.state, reason=outcome.reason,
                                     detail=outcome.detail, confirmation=outcome.confirmation)

    async def _watch(self, active: _Active) -> _Outcome:
        reported = self.driver.reports_completion
        clock = self.clock
        if active.orphan:
            deadline = max(active.dispatched_mono + active.duration_s + INFERRED_MARGIN_S,
                           clock.mono() + INFERRED_MARGIN_S)
        elif reported:
            deadline = active.dispatched_mono + ACCEPT_TIMEOUT_S
        else:
            if not active.started:
                active.started = True
                self.fleet.started(self, active.key, active.dispatched_at)
            deadline = active.dispatched_mono + active.duration_s + INFERRED_MARGIN_S
        while True:
            try:
                kind, data = await asyncio.wait_for(active.signals.get(),
                                                    max(0.0, deadline - clock.mono()))
            except TimeoutError:
                if active.orphan:
                    return _Outcome(PlayState.PLAYED, R_RESTARTED,
                                    confirmation=Confirmation.INFERRED)
                if not reported:
                    return _Outcome(PlayState.PLAYED, confirmation=Confirmation.INFERRED)
                if not active.part_started:
                    return _Outcome(None, R_NO_ANSWER)
                return _Outcome(PlayState.PLAYED, R_NO_END, confirmation=Confirmation.INFERRED)
            if kind == "preempt":
                self.fleet.send(self.driver.stop(active.command_id))
                other = data if isinstance(data, PlayRequest) else None
                return _Outcome(PlayState.INTERRUPTED, R_PREEMPTED, detail=(
                    f"{other.announcement} ({other.priority.value})" if other else ""))
            if kind == "offline":
                if reported and not active.started and not active.orphan:
                    return _Outcome(None, R_OFFLINE)
                return _Outcome(PlayState.FAILED, R_WENT_OFFLINE)
            report = data if isinstance(data, Report) else Report()
            if report.state == "playing":
                if not active.part_started:
                    active.part_started = True
                    deadline = clock.mono() + active.duration_s + DONE_MARGIN_S
                if not active.started:
                    active.started = True
                    self.fleet.started(self, active.key, clock.wall())
            elif report.state == "done":
                if not active.started:
                    active.started = True
                    self.fleet.started(self, active.key, clock.wall())
                return _Outcome(PlayState.PLAYED, confirmation=Confirmation.CONFIRMED,
                                detail=report.detail)
            elif report.state == "failed":
                return _Outcome(PlayState.FAILED, R_DEVICE_FAIL, detail=report.detail)
            elif report.state == "interrupted":
                return _Outcome(PlayState.INTERRUPTED, R_DEVICE_STOP, detail=report.detail)
            else:
                logger.warning("speaker %s: unknown play state %r", self.id, report.state)
