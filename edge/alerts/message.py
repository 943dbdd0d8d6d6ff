"""What a grid worker reads on the phone (Chinese by default), and one English line for the log.

A message answers, at a glance: what happened, where (compound, post, port, location), since
when, what the daemon already did, and what to do. Its last line carries the alert id and the
message sequence number, so a receiver can drop a duplicate delivery. A page to a worker
carries the link of the phone page (:mod:`edge.alerts.phone`) when the daemon installed a link
maker with :func:`use_links`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.i18n import N_, _

__all__ = ["Alert", "LinkMaker", "Text", "log_line", "render", "situation", "use_links", "where"]

logger = logging.getLogger(__name__)

# (alert id, worker id) → URL of the phone page; one daemon per process installs it.
LinkMaker = Callable[[int, str], str]
_links: list[LinkMaker] = []


def use_links(maker: LinkMaker | None) -> None:
    """Put the phone-page link into every page to a worker from now on (None: no link)."""
    _links[:] = [maker] if maker is not None else []


KIND_TITLE = {
    "overcurrent": N_("Overcurrent while charging"),
    "cutoff_failed": N_("Cut-off FAILED, port may still be live"),
    "recut": N_("Latched port switched on again, cut off again"),
    "sensor_fault": N_("Current sensor fault"),
    "post_offline": N_("Charging post offline"),
    "speaker_offline": N_("Speaker offline"),
    "play_missed": N_("Announcement missed"),
    "play_failed": N_("Announcement failed"),
    "schedule_rejected": N_("Schedule edit rejected"),
    "broker_unreachable": N_("Site message broker unreachable"),
    "disk_full": N_("Disk full"),
}
KIND_TODO = {
    "overcurrent": N_("go to the post, check the e-bike, charger and socket of this port; reset "
                      "the port only when it is safe"),
    "cutoff_failed": N_("go there at once; switch off the post's breaker by hand and keep people "
                        "away"),
    "recut": N_("someone restarted a latched port: go and talk to the owner, then check the port"),
    "sensor_fault": N_("the readings of this port cannot be trusted: check the post or call the "
                       "maintainer"),
    "post_offline": N_("check power and network of the post; overcurrent cannot be detected "
                       "while it is offline"),
    "speaker_offline": N_("check power and network of the speaker"),
    "play_missed": N_("check the speaker; the announcement did not play"),
    "play_failed": N_("check the speaker; the announcement did not play"),
    "schedule_rejected": N_("the last schedule edit has an error; run 'gridedge check' and fix "
                            "it (the previous schedule stays in use)"),
    "disk_full": N_("free space on the edge box's data disk; protection and paging go on, the "
                    "records wait in memory until the disk takes writes again"),
    "broker_unreachable": N_("check the site's network box and the MQTT broker; posts and "
                             "speakers cannot be watched meanwhile"),
}
SEVERITY_LABEL = {"critical": N_("URGENT"), "warning": N_("Warning"), "info": N_("Notice")}
DONE = {
    "cutoff_sent": N_("the port was switched off automatically (waiting for confirmation)"),
    "cutoff_confirmed": N_("power cut off, confirmed by the readings"),
    "cutoff_failed": N_("the cut-off did NOT take effect"),
}
CAUSE = {
    "instantaneous": N_("current far above the limit"),
    "inverse_time": N_("overload for too long"),
    "overpower": N_("power above the limit"),
    "post_total": N_("whole post above its limit"),
    "over_temperature": N_("too hot"),
    "device_fault": N_("fault reported by the post"),
}
RESOLVED_BY = {
    "post.reset": N_("the port was reset by staff"),
    "post.online": N_("the post is online again"),
    "speaker.online": N_("the speaker is online again"),
    "play.done": N_("the speaker played again"),
    "schedule.reloaded": N_("a corrected schedule was loaded"),
    "alerts.broker_reachable": N_("the broker is reachable again"),
    "store.recovered": N_("the disk takes writes again"),
}


@dataclass(frozen=True)
class Alert:
    """The fields of an alert a message is made from."""

    id: int
    kind: str
    severity: str
    post: str
    port: int | None
    speaker: str
    first_ts: float
    detail: dict[str, Any]


@dataclass(frozen=True)
class Text:
    """A rendered message."""

    title: str
    body: str


def _when(ts: float, tz: ZoneInfo) -> str:
    local = datetime.fromtimestamp(ts, tz)
    return _("{month}/{day} {time}").format(month=local.month, day=local.day,
                                            time=local.strftime("%H:%M"))


def where(alert: Alert, site: str) -> tuple[str, str]:
    """(short place for the title, full place for the body)."""
    d = alert.detail
    if alert.post:
        name = d.get("post_name") or alert.post
        short = name if alert.port is None else _("{post} port {port}").format(
            post=name, port=alert.port)
        loc = d.get("location") or ""
    elif alert.speaker:
        short = _("speaker {name}").format(name=d.get("speaker_name") or alert.speaker)
        loc = d.get("location") or ""
    else:
        return site, site
    full = f"{site} {short}" + (_(" ({location})").format(location=loc) if loc else "")
    return short, full


def situation(alert: Alert) -> str:
    """The measured value against its limit, or the reason given with the event."""
    d = alert.detail
    if "measured" in d and "limit" in d:
        cause = CAUSE.get(str(d.get("cause", "")))
        text = _("{measured} {unit}, limit {limit} {unit}").format(
            measured=d["measured"], limit=d["limit"], unit=d.get("unit", ""))
        named = _(cause) if cause else str(d.get("cause") or "")
        return _("{cause}: {text}").format(cause=named, text=text) if named else text
    return str(d.get("reason") or d.get("error") or "")


def render(alert: Alert, *, purpose: str, seq: int, site: str, tz: ZoneInfo, recipient: str = "",
           now: float = 0.0, extra: str = "") -> Text:
    """The message of one notification.

    Args:
        alert: what it is about.
        purpose: firing, repeat, escalation, ack, all_clear.
        seq: the message's sequence number within the alert.
        site: the compound's name.
        tz: site time zone.
        recipient: worker id, for the ack command line.
        now: epoch of this message (all-clear and ack times).
        extra: the person who acked, or the reason of resolution.
    """
    what = _(KIND_TITLE.get(alert.kind, alert.kind))
    short, full = where(alert, site)
    ref = _("Alert #{id}, message {seq}").format(id=alert.id, seq=seq)
    if purpose == "all_clear":
        title = _("[Resolved] {what} · {where}").format(what=what, where=short)
        how = _(RESOLVED_BY[extra]) if extra in RESOLVED_BY else extra
        body = "\n".join([_("Resolved at {time}: {how}").format(time=_when(now, tz), how=how),
                          _("Where: {where}").format(where=full), ref])
        return Text(title, body)
    if purpose == "ack":
        title = _("[Acknowledged] {what} · {where}").format(what=what, where=short)
        body = "\n".join([_("{name} is taking care of it (acknowledged at {time})").format(
            name=extra, time=_when(now, tz)), _("Where: {where}").format(where=full), ref])
        return Text(title, body)
    title = _("[{level}] {what} · {where}").format(
        level=_(SEVERITY_LABEL.get(alert.severity, alert.severity)), what=what, where=short)
    lines = []
    if purpose == "repeat":
        lines.append(_("Reminder: still not acknowledged."))
    elif purpose == "escalation":
        lines.append(_("Not acknowledged in time; passed on to you."))
    lines.append(_("Where: {where}").format(where=full))
    measured = situation(alert)
    if measured:
        lines.append(_("What: {what}").format(what=measured))
    lines.append(_("Since: {time}").format(time=_when(alert.first_ts, tz)))
    done = [_(DONE[a]) for a in alert.detail.get("actions", []) if a in DONE]
    if done:
        lines.append(_("Already done: {done}").format(done="; ".join(done)))
    lines.append(_("Please: {todo}").format(todo=_(KIND_TODO.get(alert.kind, N_("check it")))))
    link = _link(alert.id, recipient) if recipient else ""
    if link:
        lines.append(_("Acknowledge on the phone: {url}").format(url=link))
    elif recipient:
        lines.append(_("Acknowledge: gridedge alerts ack {id} --by {worker}").format(
            id=alert.id, worker=recipient))
    lines.append(ref)
    return Text(title, "\n".join(lines))


def _link(alert_id: int, recipient: str) -> str:
    # A page must go out even when its link cannot be made: it then carries the CLI line.
    try:
        return _links[0](alert_id, recipient) if _links else ""
    except Exception:
        logger.exception("no phone link for alert #%d to %s", alert_id, recipient)
        return ""


def log_line(alert: Alert) -> str:
    """One English line for the log."""
    d = alert.detail
    place = alert.post + (f"/{alert.port}" if alert.port is not None else "") or alert.speaker \
        or "site"
    names = ", ".join(str(x) for x in (d.get("post_name"), d.get("location")) if x)
    what = f"{d['measured']} {d.get('unit', '')} > {d['limit']} {d.get('unit', '')}" \
        if "measured" in d and "limit" in d else str(d.get("reason") or "")
    done = ",".join(d.get("actions", [])) or "nothing"
    return (f"alert #{alert.id} {alert.severity} {alert.kind} {place}"
            + (f" ({names})" if names else "") + (f": {what}" if what else "")
            + f"; done: {done}")
