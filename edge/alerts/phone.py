"""The phone page of an alert: ``/a/<token>`` shows one alert in plain words and takes one tap.

A grid worker on the street has a phone and nothing else, so each page carries a link (see
:mod:`edge.alerts.links`). The page says what happened, where, what the daemon already did,
what to do and who else was paged, and offers 确认收到 (acknowledge), 已到现场处理 (on site;
acknowledges too) and, once the worker is on site and the port is still latched, 复位 (the
posts component's staff reset). A link from a group chat first asks which paged person answers.

Forms are plain POSTs back to the same URL (no JavaScript needed, no cookies): the token names
the alert and the worker, a signed single-use nonce from the page proves the form came from a
page the daemon showed. After a POST the browser is sent back to the page (303), which then
shows the new state. Who is on site is kept in memory and written to the audit log
(``alert.on_site``); after a restart the worker taps 已到现场处理 again. A resolved alert or an expired, forged or foreign link shows nothing but
"this link no longer works". Every client address is rate-limited, and refused requests count
against it faster.

This module knows nothing of the web framework: :class:`PhonePage` turns (token, form, client)
into a :class:`PageReply`; :mod:`edge.alerts.phone_routes` puts it on the daemon's HTTP server.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from edge.alerts.const import GROUP_CHAT_SCHEMES, NONCE_MEMORY, PHONE_FAILURE_RATE, PHONE_RATE
from edge.alerts.errors import AlertsError
from edge.alerts.links import LinkClaim, LinkError, PhoneLinks
from edge.alerts.message import DONE, KIND_TITLE, KIND_TODO, SEVERITY_LABEL, situation, where
from edge.events import Event, Severity
from edge.i18n import N_, _, get_language

if TYPE_CHECKING:
    from edge.alerts.manager import AlertManager
    from edge.app import App

__all__ = ["ON_SITE_EVENT", "PageReply", "PhonePage", "personal_workers"]

logger = logging.getLogger(__name__)

ON_SITE_EVENT = "alert.on_site"
# Alert kinds whose port a worker on site may release with 复位 (a latch of protection).
_RESETTABLE = ("overcurrent", "recut")
_HTML_LANG = {"zh": "zh-CN", "en": "en"}
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",    # the token is in the URL
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "script-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}

LABELS = {
    "ack": N_("Received"),
    "on_site": N_("On site, handling it"),
    "reset": N_("Reset the port"),
    "who": N_("Who is answering?"),
    "where": N_("Where"),
    "what": N_("What happened"),
    "since": N_("Since"),
    "done": N_("Already done by the system"),
    "todo": N_("What to do"),
    "paged": N_("Also paged"),
    "nothing_done": N_("nothing yet"),
    "reset_check": N_("I checked the e-bike, charger and socket: it is safe to switch on"),
    "reset_hint": N_("The port stays off until it is reset."),
    "footer": N_("This page is for this alert only and stops working when it is resolved."),
}
NOTICES = {
    "acked_by": N_("Acknowledged by {name} at {time}"),
    "on_site_by": N_("{name} is on site since {time}"),
    "you": N_("you"),
    "reset_done": N_("The port was reset by {name}."),
    "gone": N_("This link no longer works"),
    "gone_resolved": N_("The alert is resolved; nothing more to do."),
    "gone_other": N_("The link is invalid or has expired. Use the link of the newest message."),
    "slow_down": N_("Too many tries; wait a minute and try again."),
    "stale_form": N_("This page was open too long or was already sent; it has been reloaded, "
                     "please tap again."),
    "pick_who": N_("Choose who you are first."),
    "reset_refused": N_("The port cannot be reset now: {why}"),
    "reset_needs_check": N_("Tick the safety check first."),
}
RESET_ERRORS = {
    "not_latched": N_("it is not latched (already reset?)"),
    "unknown_post": N_("the post is not monitored by this daemon"),
    "unknown_port": N_("the post has no such port"),
    "no_service": N_("post monitoring is not running"),
}


@dataclass
class PageReply:
    """What to answer: a page (status, HTML) or a redirect back to the page."""

    status: int
    html: str = ""
    location: str = ""
    headers: dict[str, str] = field(default_factory=lambda: dict(_SECURITY_HEADERS))


def personal_workers(workers: Mapping[str, Any]) -> set[str]:
    """Workers whose every channel reaches that person alone (their links name them).

    A channel is a group chat when its scheme is a chat-group robot (WeCom bot, DingTalk …) or
    when the same URL is on two or more workers.
    """
    owners: dict[str, set[str]] = {}
    for wid, worker in workers.items():
        for url in worker.channels:
            owners.setdefault(url, set()).add(wid)
    personal = set()
    for wid, worker in workers.items():
        shared = any(len(owners[url]) > 1 or url.split("://", 1)[0].lower() in GROUP_CHAT_SCHEMES
                     for url in worker.channels)
        if not shared:
            personal.add(wid)
    return personal


class PhonePage:
    """The phone page of every alert.

    Args:
        app: the daemon (config, store, events, the "posts" service).
        manager: the alert manager, once alerting has started.
        links: checks tokens and makes the nonces of the forms.
        clock: wall-clock epoch seconds, for the times shown.
        query: reads the alert manager's working state (``sql, params -> rows``).
    """

    def __init__(self, app: App, manager: Callable[[], AlertManager | None], links: PhoneLinks,
                 clock: Callable[[], float], query: Callable[..., list[Any]]) -> None:
        self._app = app
        self._manager = manager
        self._query = query
        self._links = links
        self._clock = clock
        self._used_nonces: OrderedDict[str, None] = OrderedDict()
        self._on_site: dict[int, tuple[str, float]] = {}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rate = parse(PHONE_RATE)
        self._failure_rate = parse(PHONE_FAILURE_RATE)
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("edge.alerts", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined)
        self.stats = {"shown": 0, "acks": 0, "on_site": 0, "resets": 0, "refused": 0,
                      "rate_limited": 0}

    # -- requests ------------------------------------------------------------------------------

    def show(self, token: str, client: str) -> PageReply:
        """The page of the alert a token names (GET)."""
        refused = self._admit(client)
        if refused is not None:
            return refused
        try:
            claim = self._claim(token)
        except LinkError as err:
            return self._refuse(client, err.reason)
        self.stats["shown"] += 1
        return self._page(token, claim)

    def act(self, token: str, form: Mapping[str, str], client: str) -> PageReply:
        """One tap on the page (POST): ack, on site or reset; then back to the page."""
        refused = self._admit(client)
        if refused is not None:
            return refused
        try:
            claim = self._claim(token)
        except LinkError as err:
            return self._refuse(client, err.reason)
        try:
            self._spend_nonce(token, form.get("nonce", ""))
        except LinkError as err:
            self._limiter.hit(self._failure_rate, "fail", client)
            logger.info("phone form for alert #%d refused: %s", claim.alert_id, err.reason)
            return self._page(token, claim, notice=_(NOTICES["stale_form"]), status=409)
        who = claim.worker or form.get("who", "")
        if who not in self._paged(claim.alert_id):
            return self._page(token, claim, notice=_(NOTICES["pick_who"]), status=422)
        action = form.get("action", "")
        manager = self._manager()
        assert manager is not None  # noqa: S101 - _claim checked it
        try:
            if action == "ack":
                manager.acknowledge(claim.alert_id, who, _("acknowledged on the phone"))
                self.stats["acks"] += 1
            elif action == "on_site":
                self._arrive(manager, claim.alert_id, who)
            elif action == "reset":
                problem = self._reset(claim.alert_id, who, form)
                if problem:
                    return self._page(token, claim, notice=problem, status=409)
            else:
                return self._page(token, claim, status=400)
        except AlertsError as err:
            logger.info("phone %s on alert #%d refused: %s", action, claim.alert_id, err)
            return self._page(token, claim, status=409)
        return PageReply(303, location=f"/a/{token}")

    # -- checks ----------------------------------------------------------------------------------

    def _admit(self, client: str) -> PageReply | None:
        if (self._limiter.hit(self._rate, "all", client)
                and self._limiter.test(self._failure_rate, "fail", client)):
            return None
        self.stats["rate_limited"] += 1
        logger.warning("phone page: too many requests from %s", client)
        reply = self._gone(NOTICES["slow_down"], 429)
        reply.headers["Retry-After"] = "60"
        return reply

    def _claim(self, token: str) -> LinkClaim:
        claim = self._links.verify(token)
        manager = self._manager()
        row = manager.row(claim.alert_id) if manager is not None else None
        if row is None:
            raise LinkError("unknown_alert")
        if row["state"] == "resolved":
            raise LinkError("resolved")
        return claim

    def _refuse(self, client: str, reason: str) -> PageReply:
        self.stats["refused"] += 1
        if reason != "resolved":
            self._limiter.hit(self._failure_rate, "fail", client)
        logger.info("phone link refused from %s: %s", client, reason)
        if reason == "resolved":
            return self._gone(NOTICES["gone_resolved"], 410)
        return self._gone(NOTICES["gone_other"], 410 if reason == "expired" else 404)

    def _spend_nonce(self, token: str, nonce: str) -> None:
        subject = self._links.check_nonce(token, nonce)
        if subject in self._used_nonces:
            raise LinkError("nonce_used")
        self._used_nonces[subject] = None
        while len(self._used_nonces) > NONCE_MEMORY:
            self._used_nonces.popitem(last=False)

    def _paged(self, alert_id: int) -> list[str]:
        rows = self._query(
            "SELECT recipient FROM notifications WHERE alert_id = ? AND purpose IN "
            "('firing', 'repeat', 'escalation') GROUP BY recipient ORDER BY MIN(id)", (alert_id,))
        workers = self._app.config.alerts.workers
        return [r["recipient"] for r in rows if r["recipient"] in workers]

    # -- actions ---------------------------------------------------------------------------------

    def _arrive(self, manager: AlertManager, alert_id: int, who: str) -> None:
        if manager.row(alert_id)["state"] == "firing":
            manager.acknowledge(alert_id, who, _("on site"))
        if alert_id not in self._on_site:
            self._on_site[alert_id] = (who, self._clock())
            self._app.events.emit(Event(ON_SITE_EVENT, str(alert_id), Severity.INFO,
                                        {"by": who}))
            self.stats["on_site"] += 1

    def _resettable(self, alert_id: int) -> tuple[str, int] | None:
        manager = self._manager()
        row = manager.row(alert_id) if manager is not None else None
        if row is None or row["kind"] not in _RESETTABLE or row["port"] is None:
            return None
        posts: Any = self._app.service("posts")
        monitor = getattr(posts, "monitors", {}).get(row["post"])
        if monitor is None or row["port"] not in monitor.protection.latches:
            return None
        return str(row["post"]), int(row["port"])

    def _reset(self, alert_id: int, who: str, form: Mapping[str, str]) -> str:
        target = self._resettable(alert_id) if alert_id in self._on_site else None
        if target is None:
            return _(NOTICES["reset_refused"]).format(why=_(RESET_ERRORS["not_latched"]))
        if form.get("checked") != "yes":
            return _(NOTICES["reset_needs_check"])
        posts: Any = self._app.service("posts")
        if posts is None:
            return _(NOTICES["reset_refused"]).format(why=_(RESET_ERRORS["no_service"]))
        result = posts.reset(target[0], target[1], who, f"phone-{alert_id}")
        if not result.get("ok"):
            why = RESET_ERRORS.get(str(result.get("error")), str(result.get("error")))
            return _(NOTICES["reset_refused"]).format(why=_(why))
        self.stats["resets"] += 1
        logger.info("port %s/%d reset on the phone by %s (alert #%d)", *target, who, alert_id)
        return ""

    # -- pages -----------------------------------------------------------------------------------

    def _when(self, ts: float) -> str:
        local = datetime.fromtimestamp(ts, self._app.config.site.tz)
        return _("{month}/{day} {time}").format(month=local.month, day=local.day,
                                                time=local.strftime("%H:%M"))

    def _name(self, wid: str) -> str:
        worker = self._app.config.alerts.workers.get(wid)
        return worker.name if worker is not None else wid

    def _page(self, token: str, claim: LinkClaim, *, notice: str = "", status: int = 200,
              ) -> PageReply:
        manager = self._manager()
        assert manager is not None  # noqa: S101 - _claim checked it
        row = manager.row(claim.alert_id)
        alert = manager.view(claim.alert_id)
        config = self._app.config
        _short, full = where(alert, config.site.name)
        paged = self._paged(claim.alert_id)
        workers = config.alerts.workers
        state: list[str] = []
        if row["state"] == "acknowledged":
            by = NOTICES["you"] if row["acked_by"] == claim.worker else None
            state.append(_(NOTICES["acked_by"]).format(
                name=_(by) if by else self._name(row["acked_by"]), time=self._when(row["acked_ts"])))
        on_site = self._on_site.get(claim.alert_id)
        if on_site is not None:
            name = _(NOTICES["you"]) if on_site[0] == claim.worker else self._name(on_site[0])
            state.append(_(NOTICES["on_site_by"]).format(name=name, time=self._when(on_site[1])))
        html = self._templates.get_template("phone.html").render(
            lang=_HTML_LANG[get_language()],
            labels={k: _(v) for k, v in LABELS.items()},
            severity=row["severity"],
            title=_("[{level}] {what}").format(
                level=_(SEVERITY_LABEL.get(alert.severity, alert.severity)),
                what=_(KIND_TITLE.get(alert.kind, alert.kind))),
            where=full, what=situation(alert), since=self._when(alert.first_ts),
            done=[_(DONE[a]) for a in alert.detail.get("actions", []) if a in DONE],
            todo=_(KIND_TODO.get(alert.kind, N_("check it"))),
            paged=[{"name": self._name(w), "phone": workers[w].phone if w in workers else ""}
                   for w in paged],
            state=state, notice=notice,
            ask_who=not claim.worker,
            choices=[{"id": w, "name": self._name(w)} for w in paged],
            can_ack=row["state"] == "firing",
            can_arrive=on_site is None,
            can_reset=on_site is not None and self._resettable(claim.alert_id) is not None,
            action=f"/a/{token}", nonce=self._links.nonce(token))
        return PageReply(status, html)

    def _gone(self, msgid: str, status: int) -> PageReply:
        html = self._templates.get_template("phone_gone.html").render(
            lang=_HTML_LANG[get_language()], title=_(NOTICES["gone"]) if status != 429 else _(msgid),  # noqa: PLR2004
            text=_(msgid))
        return PageReply(status, html)
