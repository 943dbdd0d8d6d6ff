"""The compressed story ``gridedge demo`` tells: policy clips, an overload, its alert, an ack.

The demo's config (:func:`demo_overrides`) gives every worker of the roster a loopback "phone"
(an Apprise ``json://127.0.0.1:PORT/phone/<worker>`` channel received by :class:`Phone`), turns
escalation minutes into seconds, lifts quiet hours and plays a short policy clip every minute
from a demo schedule. :func:`demo_part` then drives the story over MQTT only, the way people and
devices would: an announcement on the ``announce`` topic, an overload injected into a virtual
post on ``sim/posts/<post>/fault``, the acknowledgement on ``alerts/<id>/ack`` (what
``gridedge alerts ack`` publishes) and the staff reset on ``posts/<post>/reset`` (what
``gridedge posts reset`` publishes). Each key moment is printed as one line starting with ``★``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge.config import GridedgeConfig
from edge.demo_view import CAUSE_TEXT
from edge.i18n import _
from edge.mqtt import Message, MqttClient, Topics
from edge.profiles import ProfileRegistry
from edge.sim.broker import free_port

__all__ = ["DEMO_SCHEDULE", "STORY", "Phone", "Story", "demo_overrides", "demo_part"]

logger = logging.getLogger(__name__)

PHONE_PATH = "phone"
# The demo's schedule: one short policy clip a minute, all day (the site's own files stay as
# they are; this file lives in the demo's temporary data folder).
DEMO_SCHEDULE = """\
announcements:
  政策宣传:
    text: 居民朋友们请注意, 电动车请到车棚充电桩充电, 不要进楼入户, 不要私拉电线。
    speakers: all
    every: 1m
    window: "00:00 ~ 23:59"
    days: 每天
"""
FIRST_CLIP_TEXT = "演示开始。电动车充电请用车棚充电桩, 充满后请及时拔下充电器。"
# Escalation minutes of the site become seconds in the demo (5 min → 5 s).
ESCALATION_COMPRESSION = 60.0
WAIT_GUARD_S = 45.0   # a step that does not happen within this is reported, and the story moves on
_PHONE_URL = re.compile(rf"^json://127\.0\.0\.1:(\d+)/{PHONE_PATH}/")


@dataclass(frozen=True)
class Story:
    """Timing and cast of one round of the story.

    Attributes:
        overload_after_s: seconds from the demo's start to the overload.
        post: the post whose port is overloaded.
        port: the port.
        amps: what the faulty charger draws (rated current of the demo posts: 3 A).
        ack_after_escalation_s: the grid worker acknowledges this long after the escalation.
        reset_after_ack_s: the worker unplugs the charger and resets the port this long later.
        round_every_s: the next round (on the next post of ``posts``) starts this long after.
        posts: (post, port) of each round, in turn.
    """

    overload_after_s: float = 20.0
    post: str = "P03"
    port: int = 4
    amps: float = 7.5
    ack_after_escalation_s: float = 2.0
    reset_after_ack_s: float = 3.0
    round_every_s: float = 300.0
    posts: tuple[tuple[str, int], ...] = (("P03", 4), ("P07", 2), ("P01", 9))


STORY = Story()


def _cause(cause: str) -> str:
    """A trip's cause in the words of the live view (never the wire name)."""
    return _(CAUSE_TEXT[cause]) if cause in CAUSE_TEXT else cause


def demo_overrides(config: GridedgeConfig, data_dir: Path) -> GridedgeConfig:
    """The demo's changes to the site's config: loopback phones, short escalation, demo schedule.

    Args:
        config: the site's config, already pointed at the embedded broker.
        data_dir: the demo's temporary folder (the demo schedule file is written there).
    """
    port = free_port()
    alerts = config.alerts
    workers = {wid: w.model_copy(update={"channels": [
        f"json://127.0.0.1:{port}/{PHONE_PATH}/{wid}"]}) for wid, w in alerts.workers.items()}
    chains = {}
    for severity, chain in alerts.escalation.items():
        steps = [s.model_copy(update={"after_min": s.after_min / ESCALATION_COMPRESSION})
                 for s in chain.steps]
        chains[severity] = chain.model_copy(update={
            "steps": steps, "repeat_every_min": chain.repeat_every_min / ESCALATION_COMPRESSION})
    schedule = data_dir / "demo-schedule.yaml"
    schedule.write_text(DEMO_SCHEDULE, encoding="utf-8")
    site = config.site.model_copy(update={"quiet_hours": config.site.quiet_hours.model_copy(
        update={"start": config.site.quiet_hours.start, "end": config.site.quiet_hours.start})})
    return config.model_copy(update={
        "site": site,
        "alerts": alerts.model_copy(update={"enabled": True, "workers": workers,
                                            "escalation": chains}),
        "schedules": config.schedules.model_copy(update={"files": [schedule]}),
    })


def phone_port(config: GridedgeConfig) -> int | None:
    """The loopback phone's port that :func:`demo_overrides` wrote into the roster, if any."""
    for worker in config.alerts.workers.values():
        for url in worker.channels:
            if match := _PHONE_URL.match(url):
                return int(match[1])
    return None


class Phone:
    """The grid workers' phones: a loopback HTTP endpoint that Apprise ``json://`` posts to.

    Args:
        port: TCP port on 127.0.0.1.
        deliver: called on the asyncio loop with (worker id, the posted JSON) for each message.
    """

    def __init__(self, port: int, deliver: Callable[[str, dict[str, Any]], None]) -> None:
        self.port = port
        self.deliver = deliver
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Listen on 127.0.0.1:port (a thread; handing each message to the running loop)."""
        loop = asyncio.get_running_loop()
        deliver = self.deliver

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {"message": body.decode("utf-8", "replace")}
                worker = self.path.strip("/").removeprefix(f"{PHONE_PATH}/")
                self.send_response(200)
                self.end_headers()
                with contextlib.suppress(RuntimeError):  # the demo is ending
                    loop.call_soon_threadsafe(deliver, worker, data)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="demo-phone",
                         daemon=True).start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class _Seen:
    """What the story has observed on the broker and the phones."""

    daemon_online: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)
    phone: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Narrator:
    """Runs the story and prints its key moments."""

    def __init__(self, config: GridedgeConfig, story: Story,
                 say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.story = story
        self.topics = Topics(config.mqtt.topic_root, config.site.id)
        self.seen = _Seen()
        self.say = say or (lambda line: print(line, flush=True))
        self.client: MqttClient | None = None

    def _line(self, text: str) -> None:
        self.say(f"★ {text}")

    # -- listening -----------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        """Everything on the site's topics (the story reacts to what the daemon publishes)."""
        topic = message.topic
        if topic == self.topics.daemon_availability():
            if message.payload == b"online":
                self.seen.daemon_online.set()
            return
        if topic == self.topics.events():
            self._on_event(message.payload)
        elif topic.startswith(f"{self.topics.prefix}/alerts/") and topic.count("/") == 3:
            self._on_record(topic.rsplit("/", 1)[-1], message.payload)
        self.seen.changed.set()

    def _on_event(self, payload: bytes) -> None:
        try:
            event = json.loads(payload)
            kind, subject, detail = event["kind"], event["subject"], event.get("detail") or {}
        except (ValueError, KeyError, TypeError):
            return
        self.seen.events.append(event)
        if kind == "play.done":
            self._line(_("clip played: “{title}” on {speaker}").format(
                title=detail.get("announcement", ""), speaker=detail.get("speaker_name")
                or subject))
        elif kind == "post.trip":
            self._line(_("protection trips: {post} port {port} ({cause}); cut-off sent").format(
                **self._where(subject), cause=_cause(str(detail.get("cause")
                                                      or detail.get("element", "")))))
        elif kind == "post.cutoff_confirmed":
            self._line(_("cut-off confirmed by telemetry: {post} port {port} draws no current; "
                         "the port is latched").format(**self._where(subject)))
        elif kind == "alert.raised":
            self._line(_("alert #{id} raised ({key})").format(id=subject,
                                                              key=detail.get("key", "")))
        elif kind == "alert.acknowledged":
            self._line(_("alert #{id} acknowledged by {by}; escalation stops").format(
                id=subject, by=self._name(str(detail.get("by", "")))))
        elif kind == "post.reset":
            self._line(_("{post} port {port} reset by staff").format(**self._where(subject)))
        elif kind == "alert.resolved":
            self._line(_("alert #{id} resolved; all-clear sent to everyone notified").format(
                id=subject))

    def _on_record(self, ident: str, payload: bytes) -> None:
        if not ident.isdigit():
            return
        if not payload:
            self.seen.alerts.pop(int(ident), None)
            return
        with contextlib.suppress(ValueError, TypeError):
            record = json.loads(payload)
            before = self.seen.alerts.get(int(ident), {})
            self.seen.alerts[int(ident)] = record
            if int(record.get("level", 0)) > int(before.get("level", 0)) and before:
                self._line(_("alert #{id} escalates to level {level}: nobody acknowledged in "
                             "time").format(id=ident, level=int(record["level"]) + 1))

    def on_phone(self, worker: str, data: dict[str, Any]) -> None:
        """A message reached a worker's (loopback) phone."""
        self.seen.phone.append((worker, data))
        title = str(data.get("title") or "").strip() or str(data.get("message", ""))[:40]
        self._line(_("phone of {name}: {title}").format(name=self._name(worker), title=title))
        self.seen.changed.set()

    def _name(self, worker: str) -> str:
        person = self.config.alerts.workers.get(worker)
        return f"{person.name} ({worker})" if person else worker

    def _where(self, subject: str) -> dict[str, str]:
        post, _sep, port = subject.partition("/")
        device = self.config.posts.devices.get(post)
        return {"post": device.name if device else post, "port": port or "-"}

    async def _until(self, check: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT_GUARD_S
        while not (found := check()):
            left = deadline - time.monotonic()
            if left <= 0:
                self._line(_("the demo story waited in vain for: {what}").format(what=what))
                return None
            self.seen.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.seen.changed.wait(), min(left, 1.0))
        return found

    # -- acting --------------------------------------------------------------------------------

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Publish JSON (QoS 1) like the tool a person would use."""
        assert self.client is not None
        self.client.publish(topic, json.dumps(data, ensure_ascii=False), qos=1)

    async def run(self) -> None:
        """Connect, then tell the story round after round."""
        self.client = MqttClient(self.config.mqtt, self.topics, availability_topic=None,
                                 client_id=f"gridedge-demo-story-{secrets.token_hex(3)}")
        self.client.subscribe(self.topics.all(), self.on_message)
        started = time.monotonic()
        await self.client.start()
        try:
            await self.client.wait_connected(10)
            await asyncio.wait_for(self.seen.daemon_online.wait(), 30)
            self._line(_("policy clip on every speaker (announce topic); the demo schedule "
                         "adds one every minute"))
            self.publish(self.topics.announce(), {
                "id": f"demo-{secrets.token_hex(4)}", "text": FIRST_CLIP_TEXT, "speakers": "all",
                "priority": "important"})
            for turn in range(10_000):
                post, port = self.story.posts[turn % len(self.story.posts)]
                wait = (self.story.overload_after_s if turn == 0 else self.story.round_every_s)
                await asyncio.sleep(max(0.0, started + wait - time.monotonic()))
                started = time.monotonic()
                await self._round(post, port)
        finally:
            await self.client.stop()

    async def _round(self, post: str, port: int) -> None:
        story, topics = self.story, self.topics
        mark_events, mark_phone = len(self.seen.events), len(self.seen.phone)
        name = self.config.posts.devices[post].name
        self._line(_("overload injected: a faulty charger on {post} port {port} draws {amps} A").format(post=name, port=port, amps=story.amps))
        self.publish(topics.sim_post_fault(post), {"kind": "step", "port": port,
                                                   "amps": story.amps})
        subject = f"{post}/{port}"

        def raised() -> int | None:
            for event in self.seen.events[mark_events:]:
                if event["kind"] == "alert.raised" and str(
                        (event.get("detail") or {}).get("key", "")).endswith(f":{subject}"):
                    return int(event["subject"])
            return None

        alert_id = await self._until(raised, _("an alert about {post} port {port}").format(
            post=name, port=port))
        if alert_id is None:
            return
        first = await self._until(lambda: self.seen.phone[mark_phone:],
                                  _("a message on a worker's phone"))
        worker = first[0][0] if first else next(iter(self.config.alerts.workers), "")
        await self._until(lambda: int(self.seen.alerts.get(alert_id, {}).get("level", 0)) >= 1,
                          _("the escalation of alert #{id}").format(id=alert_id))
        await asyncio.sleep(story.ack_after_escalation_s)
        self._line(_("{name} acknowledges from the command line: gridedge alerts ack {id} "
                     "--by {worker}").format(name=self._name(worker), id=alert_id,
                                             worker=worker))
        self.publish(topics.alert_ack(str(alert_id)), {"by": worker, "note": "demo"})
        await self._until(lambda: self.seen.alerts.get(alert_id, {}).get("state")
                          == "acknowledged", _("the acknowledgement of #{id}").format(
                              id=alert_id))
        await asyncio.sleep(story.reset_after_ack_s)
        self.publish(topics.sim_post_fault(post), {"kind": "clear", "port": port})
        self._line(_("{name} unplugs the faulty charger and resets the port: gridedge posts "
                     "reset {post} {port} --by {worker}").format(
            name=self._name(worker), post=post, port=port, worker=worker))
        self.publish(topics.post_reset(post), {"id": secrets.token_hex(6), "port": port,
                                               "by": worker})
        await self._until(lambda: any(e["kind"] == "alert.resolved" and e["subject"]
                                      == str(alert_id) for e in self.seen.events[mark_events:]),
                          _("the all-clear of #{id}").format(id=alert_id))


async def demo_part(config: GridedgeConfig, profiles: ProfileRegistry,
                    stop: asyncio.Event) -> None:
    """For ``gridedge demo``: the loopback phone and the story, until ``stop``."""
    del profiles
    narrator = Narrator(config, STORY)
    port = phone_port(config)
    phone = Phone(port, narrator.on_phone) if port is not None else None
    if phone is not None:
        phone.start()
    story = asyncio.create_task(narrator.run(), name="demo-story")
    try:
        await stop.wait()
    finally:
        story.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await story
        if phone is not None:
            phone.stop()
