"""The live console view of ``gridedge demo``: speakers, posts and open alerts, from MQTT only.

The view knows the site's config (names, the schedule files for "next slot") and otherwise only
what the site's topics carry: the daemon's retained post states and alert records, the speakers'
commands, statuses and availability, and the events stream. It never looks inside the daemon.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from edge.config import ConfigError, GridedgeConfig
from edge.i18n import N_, _
from edge.mqtt import Message, Topics

__all__ = ["CAUSE_TEXT", "DemoView"]

logger = logging.getLogger(__name__)

BARS = " ▁▂▃▄▅▆▇█"
BAR_FULL_A = 8.0          # a full bar: well above the 3 A an e-bike charger draws
RECENT_EVENTS = 8
NEXT_SLOT_HORIZON = timedelta(days=2)
REFRESH_PER_S = 4
LOG_LINES = 4
_STATE_STYLE = {"normal": "green", "overload": "yellow", "cutting": "magenta",
                "cut_off": "red", "cutoff_failed": "bold red", "latched": "red"}
# Every word the view shows comes from the catalogue: staff read Chinese, not the wire format.
_PORT_STATE = {"normal": N_("normal"), "overload": N_("overload (timing)"),
               "cutting": N_("cutting off"), "cut_off": N_("cut off"),
               "cutoff_failed": N_("CUT-OFF FAILED"), "latched": N_("latched")}
CAUSE_TEXT = {"instantaneous": N_("far above the limit"), "inverse_time": N_("overload too long"),
          "overpower": N_("power above the limit"), "post_total": N_("whole post above its limit"),
          "over_temperature": N_("overheating"), "device_fault": N_("fault reported by the post")}
_SEVERITY = {"critical": N_("urgent"), "warning": N_("warning level"), "info": N_("notice level")}
_ALERT_STATE = {"firing": N_("not acknowledged"), "acknowledged": N_("acknowledged"),
                "resolved": N_("resolved")}
_EVENT = {
    "post.trip": N_("protection trips"), "post.cutoff_confirmed": N_("cut-off confirmed"),
    "post.cutoff_failed": N_("cut-off FAILED"), "post.recut": N_("switched on again, cut off"),
    "post.reset": N_("port reset by staff"), "post.offline": N_("post offline"),
    "post.online": N_("post online"), "post.sensor_fault": N_("sensor fault"),
    "speaker.offline": N_("speaker offline"), "speaker.online": N_("speaker online"),
    "play.done": N_("played"), "play.missed": N_("missed"), "play.failed": N_("play failed"),
    "play.interrupted": N_("play interrupted"), "announce.accepted": N_("announcement accepted"),
    "announce.rejected": N_("announcement refused"), "alert.raised": N_("alert raised"),
    "alert.acknowledged": N_("alert acknowledged"), "alert.resolved": N_("alert resolved"),
    "schedule.reloaded": N_("schedule loaded"), "schedule.rejected": N_("schedule refused"),
    "daemon.started": N_("daemon started"), "daemon.stopping": N_("daemon stopping"),
    "alerts.broker_unreachable": N_("broker unreachable"),
    "alerts.broker_reachable": N_("broker reachable again"),
    "alerts.delivery_failed": N_("page not delivered"), "alerts.ack_refused": N_("ack refused"),
    "alerts.nobody_reachable": N_("nobody can be paged"),
}


@dataclass
class _Speaker:
    name: str
    online: bool | None = None
    playing: str = ""          # what plays now ("" = idle)
    command: str = ""          # id of the play command in progress
    last: str = ""
    next_slot: str = "-"


@dataclass
class _Post:
    name: str
    online: bool | None = None
    ports: dict[int, dict[str, Any]] = field(default_factory=dict)
    latched: list[int] = field(default_factory=list)


class DemoView:
    """Dashboard state fed by MQTT messages; :meth:`render` draws it with rich.

    Args:
        config: the site's config (names, ports, schedule files).
        schedule: compute each speaker's next slot from the schedule files (off in tests that
            feed recorded messages and want no clock in the picture).
    """

    def __init__(self, config: GridedgeConfig, *, schedule: bool = True) -> None:
        self.config = config
        self.topics = Topics(config.mqtt.topic_root, config.site.id)
        self.daemon: bool | None = None
        self.speakers = {sid: _Speaker(s.name or sid) for sid, s in config.speakers.devices.items()
                         if s.enabled}
        self.posts = {pid: _Post(p.name or pid) for pid, p in config.posts.devices.items()
                      if p.enabled}
        self.alerts: dict[int, dict[str, Any]] = {}
        self.events: deque[str] = deque(maxlen=RECENT_EVENTS)
        self.messages = 0
        self._announced: dict[str, str] = {}   # speaker → text of the last accepted announcement
        self._schedule = schedule
        self._next_at = 0.0
        # Log records shown inside the live view: printed below it they would tear the screen.
        self.log_lines: deque[str] = deque(maxlen=LOG_LINES)

    # -- input ---------------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        """Take one message of the site's topics into the picture (bad payloads are skipped)."""
        self.messages += 1
        parts = message.topic.removeprefix(self.topics.prefix + "/").split("/")
        try:
            self._route(parts, message.payload)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            logger.debug("demo view skipped %s: %s", message.topic, err)

    def _route(self, parts: list[str], payload: bytes) -> None:
        text = payload.decode("utf-8", "replace")
        match parts:
            case ["daemon", "availability"]:
                self.daemon = text == "online"
            case ["posts", post, "availability"] if post in self.posts:
                self.posts[post].online = text == "online"
            case ["posts", post, "state"] if post in self.posts:
                self._post_state(self.posts[post], json.loads(text))
            case ["speakers", spk, "availability"] if spk in self.speakers:
                self.speakers[spk].online = text == "online"
                if text != "online":
                    self.speakers[spk].playing = ""
            case ["speakers", spk, "cmd"] if spk in self.speakers:
                self._speaker_cmd(spk, json.loads(text))
            case ["speakers", spk, "status"] if spk in self.speakers:
                self._speaker_status(self.speakers[spk], json.loads(text))
            case ["alerts", ident] if ident.isdigit():
                if not payload:
                    self.alerts.pop(int(ident), None)
                    return
                record = json.loads(text)
                if record.get("state") == "resolved":
                    self.alerts.pop(int(ident), None)
                else:
                    self.alerts[int(ident)] = record
            case ["events"]:
                self._event(json.loads(text))

    @staticmethod
    def _post_state(post: _Post, state: dict[str, Any]) -> None:
        post.online = state.get("online", post.online)
        post.ports = {int(k): v for k, v in (state.get("ports") or {}).items()}
        post.latched = [int(p) for p in state.get("latched_ports") or []]

    def _speaker_cmd(self, spk: str, cmd: dict[str, Any]) -> None:
        speaker = self.speakers[spk]
        if cmd.get("action") == "play":
            speaker.command = str(cmd.get("id", ""))
            speaker.playing = self._announced.pop(spk, "") or _("scheduled clip")
        elif cmd.get("action") == "stop":
            speaker.playing = ""

    @staticmethod
    def _speaker_status(speaker: _Speaker, status: dict[str, Any]) -> None:
        if status.get("id") == speaker.command and status.get("state") in (
                "done", "failed", "interrupted"):
            speaker.last, speaker.playing = speaker.playing, ""

    def _event(self, event: dict[str, Any]) -> None:
        kind, subject = str(event["kind"]), str(event["subject"])
        detail = event.get("detail") or {}
        if kind == "announce.accepted":
            for spk in detail.get("speakers") or []:
                self._announced[spk] = str(detail.get("text") or "")[:24]
        elif kind.startswith("play.") and subject in self.speakers:
            speaker = self.speakers[subject]
            speaker.last = str(detail.get("announcement") or speaker.last)
            speaker.playing = ""
        when = datetime.fromtimestamp(float(event.get("ts") or time.time()), self.config.site.tz)
        self.events.append(f"{when:%H:%M:%S} {_(_EVENT.get(kind, N_('other event')))} "
                           f"{self._subject(subject)}")

    def _subject(self, subject: str) -> str:
        """A post/port, speaker or alert id as staff name it."""
        post, _sep, port = subject.partition("/")
        if post in self.posts:
            name = self.posts[post].name
            return _("{post} port {port}").format(post=name, port=port) if port else name
        if subject in self.speakers:
            return self.speakers[subject].name
        return subject

    # -- next slots ----------------------------------------------------------------------------

    def _next_slots(self) -> None:
        now = time.time()
        if not self._schedule or now < self._next_at:
            return
        self._next_at = now + 5.0
        from edge.schedule import expand, load_schedules
        from edge.schedule.load import calendar_for

        try:
            calendar = calendar_for(self.config)
            schedule = load_schedules(self.config, calendar=calendar)
        except ConfigError:
            self._schedule = False  # the daemon reports the schedule's problems
            return
        start = datetime.now(self.config.site.tz)
        quiet = (self.config.site.quiet_hours.start, self.config.site.quiet_hours.end)
        found: dict[str, str] = {}
        for occ in expand(schedule, start, start + NEXT_SLOT_HORIZON, tz=self.config.site.tz,
                          calendar=calendar, quiet=quiet):
            for spk in occ.announcement.speakers:
                found.setdefault(spk, f"{occ.when:%m-%d %H:%M} {occ.announcement.id}")
            if len(found) == len(self.speakers):
                break
        for spk, speaker in self.speakers.items():
            speaker.next_slot = found.get(spk, "-")

    # -- drawing -------------------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The whole dashboard."""
        self._next_slots()
        daemon = {True: Text(_("online"), "green"), False: Text(_("OFFLINE"), "bold red"),
                  None: Text("…")}[self.daemon]
        title = Text.assemble(f"{self.config.site.name}  gridedge  ", daemon,
                              f"  ({self.messages} MQTT)")
        parts: list[RenderableType] = [
            title, self._speaker_table(), self._post_table(), self._alert_panel(),
            Panel("\n".join(self.events) or "-", title=_("events"), expand=True)]
        if self.log_lines:
            parts.append(Panel("\n".join(self.log_lines), title=_("log"), expand=True))
        return Group(*parts)

    def summary(self) -> str:
        """One line for the plain log: speakers, posts, the highest current, latches, alerts."""
        playing = sum(1 for s in self.speakers.values() if s.playing)
        speakers_on = sum(1 for s in self.speakers.values() if s.online)
        posts_on = sum(1 for p in self.posts.values() if p.online)
        peak, where = 0.0, "-"
        for post in self.posts.values():
            for number, port in post.ports.items():
                current = port.get("current_a")
                if isinstance(current, int | float) and current > peak:
                    peak, where = float(current), _("{post} port {port}").format(
                        post=post.name, port=number)
        latched = sum(len(p.latched) for p in self.posts.values())
        daemon = {True: _("online"), False: _("OFFLINE"), None: "…"}[self.daemon]
        text = _("daemon {daemon} · speakers online {on}/{total}, playing {playing} · posts "
                 "online {posts}/{all} · highest current {peak:.1f} A ({where}) · latched ports "
                 "{latched} · open alerts {alerts}")
        return text.format(daemon=daemon, on=speakers_on, total=len(self.speakers),
                           playing=playing, posts=posts_on, all=len(self.posts), peak=peak,
                           where=where, latched=latched, alerts=len(self.alerts))

    def _speaker_table(self) -> Table:
        table = Table(title=_("speakers"), expand=True)
        for column in (_("speaker"), _("status"), _("now playing"), _("played last"),
                       _("next slot")):
            table.add_column(column, overflow="fold")
        for speaker in self.speakers.values():
            if speaker.online is False:
                state = Text(_("offline"), "bold red")
            elif speaker.playing:
                state = Text(_("playing"), "bold green")
            else:
                state = Text(_("idle") if speaker.online else "…")
            table.add_row(speaker.name, state, speaker.playing or "-", speaker.last or "-",
                          speaker.next_slot)
        return table

    def _post_table(self) -> Table:
        table = Table(title=_("charging posts"), expand=True)
        table.add_column(_("post"), no_wrap=True)
        table.add_column(_("port currents (A)"), no_wrap=True)
        table.add_column(_("protection"), overflow="fold")
        for post in self.posts.values():
            cells = Text()
            for number in sorted(post.ports):
                cells.append_text(self._port_cell(post.ports[number]))
                cells.append(" ")
            table.add_row(post.name if post.online is not False
                          else Text(f"{post.name} {_('offline')}", "bold red"),
                          cells, self._protection(post))
        return table

    @staticmethod
    def _port_cell(port: dict[str, Any]) -> Text:
        current = port.get("current_a")
        style = _STATE_STYLE.get(str(port.get("state", "normal")), "")
        if port.get("latched"):
            style = "bold red"
        if not isinstance(current, int | float):
            return Text("  ?  ", style or "yellow")
        share = min(1.0, max(0.0, current / BAR_FULL_A))
        return Text(f"{BARS[round(share * (len(BARS) - 1))]}{current:4.1f}", style)

    @staticmethod
    def _protection(post: _Post) -> Text:
        notes = []
        for number in sorted(post.ports):
            state = str(post.ports[number].get("state", "normal"))
            if state != "normal" or number in post.latched:
                latch = post.ports[number].get("latch") or {}
                cause = str(latch.get("cause") or "")
                named = _(CAUSE_TEXT[cause]) if cause in CAUSE_TEXT else cause
                shown = f" ({named})" if cause else ""
                word = _("latched") if number in post.latched else _(_PORT_STATE.get(state, state))
                notes.append(Text(_("port {port}: {state}").format(port=number, state=word)
                                  + shown, _STATE_STYLE.get(state, "red")))
        return Text(", ").join(notes) if notes else Text(_("normal"), "green")

    def _alert_panel(self) -> Panel:
        table = Table(expand=True, show_edge=False)
        for column in ("#", _("severity"), _("alert state"), _("what"), _("level"),
                       _("acknowledged by")):
            table.add_column(column, overflow="fold")
        for ident, record in sorted(self.alerts.items(), reverse=True):
            severity = str(record.get("severity", ""))
            state = str(record.get("state", ""))
            table.add_row(str(ident), Text(_(_SEVERITY.get(severity, severity)),
                                           "bold red" if severity == "critical" else "yellow"),
                          _(_ALERT_STATE.get(state, state)),
                          str(record.get("title") or record.get("key", "")),
                          _("level {n}").format(n=int(record.get("level", 0)) + 1),
                          str(record.get("acked_by") or "-"))
        if not self.alerts:
            return Panel(Text(_("No open alerts."), "green"), title=_("open alerts"))
        return Panel(table, title=_("open alerts"))

    # -- running -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def live(self, console: Console | None = None) -> Iterator[Live]:
        """Redraw the dashboard a few times a second while the block runs."""

        class _Dashboard:
            def __rich__(inner) -> RenderableType:
                return self.render()

        view = self

        class _ToPanel(logging.Handler):
            def emit(inner, record: logging.LogRecord) -> None:
                view.log_lines.append(f"{record.levelname} {record.name}: {record.getMessage()}"
                                      [:200])

        # The view owns the whole screen (the terminal's alternate screen, cropped to its
        # height): a view taller than the terminal, or a log line printed under it, leaves
        # pieces of earlier frames behind.
        root = logging.getLogger()
        handlers = list(root.handlers)
        panel = _ToPanel(logging.WARNING)
        for handler in handlers:
            root.removeHandler(handler)
        root.addHandler(panel)
        try:
            with Live(_Dashboard(), console=console, refresh_per_second=REFRESH_PER_S,
                      screen=True, vertical_overflow="crop", redirect_stdout=True,
                      redirect_stderr=True) as live:
                yield live
        finally:
            root.removeHandler(panel)
            for handler in handlers:
                root.addHandler(handler)
