"""The daemon's post monitoring: one PostMonitor per enabled post, their topics, state, persistence, resets.

``create(app)`` is listed in ``edge.app.COMPONENT_MODULES``. Other components reach it through
``app.service("posts")``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from edge.config import ConfigError, Problem
from edge.events import Event, Severity
from edge.payload import PayloadError
from edge.payload import loads as payload_loads
from edge.posts import persist
from edge.posts.clock import daemon_clock
from edge.posts.const import (
    EV_RESET,
    HOUSEKEEPING_SLICE_S,
    OFFLINE_CHECK_S,
    PERSIST_EVERY_S,
    SAVE_FLUSH_S,
    STATE_MAX_PER_S,
    STATE_MIN_INTERVAL_S,
)
from edge.posts.monitor import PostMonitor
from edge.posts.protection import NotLatchedError, UnknownPortError
from edge.posts.saver import Saver
from edge.posts.settings import resolve
from edge.posts.state import build_state, open_events, restore
from edge.posts.router import Router

if TYPE_CHECKING:
    from edge.app import App
    from edge.mqtt import Message

__all__ = ["PostsComponent", "create"]

logger = logging.getLogger(__name__)


def create(app: App) -> PostsComponent:
    """Build the component (nothing starts until ``start()``)."""
    component = PostsComponent(app)
    app.provide("posts", component)
    return component


class PostsComponent:
    """Watches every enabled post of the site.

    Args:
        app: The daemon (config, profiles, MQTT, events, store).
    """

    def __init__(self, app: App) -> None:
        """Store the app; monitors are built in ``start()``."""
        self.app = app
        self.root = app.topics.root
        self.site = app.topics.site
        self.tz = app.config.site.tz
        self.monitors: dict[str, PostMonitor] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.clock = daemon_clock()
        self.saver = Saver(app.store, self._written_from_thread)
        self.router = Router(app)
        self.bad_commands = 0  # refused payloads on the reset topics (read by /metrics)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state_turn = 0  # where the next round of changed-state documents starts
        # Posts whose protection changed this turn of the loop: saved and published once, right
        # after the handlers of this turn (a trip and its confirmation read in one go, or a
        # latch and the notice that it is on disk, make one state document, not several).
        self._urgent: dict[str, PostMonitor] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build monitors, restore saved protection state and subscribe to every post's topics."""
        problems: list[Problem] = []
        for post_id, cfg in self.app.config.posts.devices.items():
            if not cfg.enabled:
                continue
            profile = self.app.profiles.get(cfg.profile)
            try:
                limits = resolve(profile.limits, cfg.limits, cfg.port_limits, cfg.ports)
            except ValueError as err:
                problems.append(Problem("config.yaml", 0, f"posts.devices.{post_id}.limits",
                                        "these limits do not fit together: {detail}",
                                        {"detail": str(err)}))
                continue
            self.monitors[post_id] = PostMonitor(post_id, cfg, profile, limits, self, self.clock)
        if problems:
            raise ConfigError(problems)
        self._loop = asyncio.get_running_loop()
        resend = self._restore()
        self.saver.start()
        mqtt = self.app.mqtt
        self.router.subscribe(self.monitors)
        for monitor in self.monitors.values():
            mqtt.subscribe(self.app.topics.post_reset(monitor.post_id),
                           self._reset_handler(monitor), command=True)
            # A retained "port_on" left on the canonical command topic would be replayed to
            # the post at every reconnect: have it cleared.
            mqtt.guard_commands(self.app.topics.post_cmd(monitor.post_id))
        self._tasks = [asyncio.create_task(self._after_connect(resend), name="posts-connect"),
                       asyncio.create_task(self._housekeeping(), name="posts-housekeeping")]
        logger.info("watching %d charging posts", len(self.monitors))

    async def stop(self) -> None:
        """Stop timers and save every post's state."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for monitor in self.monitors.values():
            monitor.stop()
            self._save(monitor)
        await asyncio.to_thread(self.saver.stop, SAVE_FLUSH_S)

    def _restore(self) -> dict[str, list[int]]:
        saved = persist.load_all(self.app.store)
        resend: dict[str, list[int]] = {}
        for post_id, row in saved.items():
            monitor = self.monitors.get(post_id)
            if monitor is not None:
                monitor.save_version = monitor.written_version = row.version
                resend[post_id] = restore(monitor, row.snapshot, row.open_events, self.clock())
                if monitor.protection.latches:
                    logger.info("post %s: ports %s are still latched from before the restart",
                                post_id, sorted(monitor.protection.latches))
        return resend

    async def _after_connect(self, resend: dict[str, list[int]]) -> None:
        await self.app.mqtt.wait_connected()
        for post_id, ports in resend.items():
            for port in ports:
                self.monitors[post_id].cutoffs.cut(port, "resend_after_restart")
        for monitor in self.monitors.values():
            self._publish_state(monitor)

    async def _housekeeping(self) -> None:
        """Once a second: silence checks, changed states; every PERSIST_EVERY_S: due saves.

        The work is done a slice of posts at a time, yielding to the loop between slices, so a
        trip arriving meanwhile is handled (and its cut-off sent) after at most one slice, not
        after a thousand state documents.
        """
        last_persist = time.monotonic()
        while True:
            await asyncio.sleep(min(OFFLINE_CHECK_S, STATE_MIN_INTERVAL_S))
            now = time.monotonic()
            persist_now = now - last_persist >= PERSIST_EVERY_S
            if persist_now:
                last_persist = now
            monitors = list(self.monitors.values())
            # Changed readings: at most STATE_MAX_PER_S documents a second in all, oldest
            # first (round robin), so 1,000 busy posts do not cost 1,000 documents a second.
            budget = STATE_MAX_PER_S
            count = len(monitors)
            slice_end = time.perf_counter() + HOUSEKEEPING_SLICE_S
            for step in range(count):
                monitor = monitors[(self._state_turn + step) % count]
                if monitor.state_dirty:
                    if budget == 0:
                        self._state_turn = (self._state_turn + step) % count
                        break
                    budget -= 1
                    self._publish_state(monitor)
                if time.perf_counter() >= slice_end:
                    await asyncio.sleep(0)
                    slice_end = time.perf_counter() + HOUSEKEEPING_SLICE_S
            for monitor in monitors:
                monitor.check_silence(now)
                if persist_now and monitor.save_due:
                    monitor.save_due = False
                    self._save(monitor)
                if time.perf_counter() >= slice_end:
                    await asyncio.sleep(0)
                    slice_end = time.perf_counter() + HOUSEKEEPING_SLICE_S

    # -- the hub interface used by monitors ----------------------------------------------------

    def emit(self, event: Event) -> None:
        """Send an event to the bus, once the command that caused it is on the wire.

        Emitting writes the audit log and lets the alert manager write its outbox (SQLite
        fsyncs): done inline, that would hold a cut-off command in the send queue for
        milliseconds. Deferred with call_soon, it runs right after the MQTT client has written
        what this message's handler published.
        """
        asyncio.get_running_loop().call_soon(self.app.events.emit, event)

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish a device command (never retained)."""
        self.app.mqtt.publish(topic, payload, qos=qos)

    def changed(self, monitor: PostMonitor, *, urgent: bool) -> None:
        """Protection state changed: save it if needed, then publish the state now."""
        if urgent:
            self._soon(monitor)
        else:
            monitor.state_dirty = True

    def _soon(self, monitor: PostMonitor) -> None:
        """Save (if needed) and publish the post's state once the handlers of this turn ran."""
        if not self._urgent:
            # Same reason as emit(): the latch is saved right after the command is written.
            asyncio.get_running_loop().call_soon(self._flush_urgent)
        self._urgent[monitor.post_id] = monitor

    def _flush_urgent(self) -> None:
        pending, self._urgent = self._urgent, {}
        for monitor in pending.values():
            self._save_and_publish(monitor)

    def _save_and_publish(self, monitor: PostMonitor) -> None:
        if monitor.dirty:
            self._save(monitor)
        self._publish_state(monitor)

    def _save(self, monitor: PostMonitor) -> None:
        """Snapshot now, on the loop, with the post's next version; the saver writes it."""
        monitor.save_version += 1
        monitor.dirty = False
        self.saver.submit(monitor.post_id, monitor.save_version, monitor.protection.snapshot(),
                          open_events(monitor))

    def _written_from_thread(self, post_id: str, version: int) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._written, post_id, version)
            except RuntimeError:  # the loop closed meanwhile (stopping)
                pass

    def _written(self, post_id: str, version: int) -> None:
        monitor = self.monitors[post_id]
        monitor.written_version = max(monitor.written_version, version)
        if monitor.written_version >= monitor.save_version:
            self._soon(monitor)  # now it says "saved"

    def _publish_state(self, monitor: PostMonitor) -> None:
        monitor.state_dirty = False
        payload = json.dumps(build_state(monitor), ensure_ascii=False, allow_nan=False)
        # In bulk: a state document never goes out ahead of a cut-off command.
        self.app.mqtt.publish(self.app.topics.post_state(monitor.post_id), payload, qos=1,
                              retain=True, bulk=True)

    # -- staff reset ---------------------------------------------------------------------------

    def reset(self, post_id: str, port: int, by: str, request_id: str = "") -> dict[str, Any]:
        """Release a latched port; returns the result also published as ``last_command``."""
        monitor = self.monitors.get(post_id)
        if monitor is None:
            return {"id": request_id, "action": "reset", "ok": False, "error": "unknown_post"}
        result: dict[str, Any] = {"id": request_id, "action": "reset", "port": port, "by": by,
                                  "at": time.time(), "ok": False}
        try:
            record = monitor.protection.reset(port, self.clock(), by)
        except UnknownPortError:
            result["error"] = "unknown_port"
        except NotLatchedError:
            result["error"] = "not_latched"
        except ValueError:
            result["error"] = "no_worker"
        else:
            result["ok"] = True
            result["latch"] = {"cause": str(record.latch.cause), "at": record.latch.at}
            monitor.cutoffs.forget(port)
            monitor.dirty = True
            self.emit(Event(EV_RESET, f"{post_id}/{port}", Severity.INFO,
                            monitor.detail(**record.to_dict(), request_id=request_id)))
        monitor.last_command = result
        self.changed(monitor, urgent=True)
        return result

    def _reset_handler(self, monitor: PostMonitor):
        def handle(msg: Message) -> None:
            try:
                request = payload_loads(msg.payload)
                port, by = request["port"], request["by"]
                request_id = str(request.get("id", ""))
                if type(port) is not int or not isinstance(by, str):
                    raise TypeError
            except (PayloadError, KeyError, TypeError) as err:
                self.bad_commands += 1
                logger.warning("post %s: refused a reset command on %s (%s): %r",
                               monitor.post_id, msg.topic,
                               err.reason if isinstance(err, PayloadError) else "not "
                               '{"port": <number>, "by": "<worker>"}', msg.payload[:80])
                monitor.rejections.add("bad_command", repr(msg.payload[:80]))
                monitor.last_command = {"action": "reset", "ok": False, "error": "bad_request",
                                        "at": time.time()}
                self.changed(monitor, urgent=True)
                return
            self.reset(monitor.post_id, port, by, request_id)

        return handle
