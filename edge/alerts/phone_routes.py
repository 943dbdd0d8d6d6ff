"""Puts the phone page on the daemon's HTTP server and the link into every page to a worker.

``install(app, component)`` is called by the alerts component at start: it loads the link key
(environment or data directory), makes links for :func:`edge.alerts.message.use_links`, and
registers ``GET``/``POST /a/<token>`` with the HTTP server. Without a key the daemon still pages
(the message then carries the shell command instead of a link) and says so in the log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from edge.alerts.const import PHONE_FORM_MAX_BYTES
from edge.alerts.links import LinkError, PhoneLinks, load_link_key
from edge.http.auth import LinkSigner
from edge.alerts.message import use_links
from edge.alerts.phone import PageReply, PhonePage, personal_workers

if TYPE_CHECKING:
    from edge.alerts.component import AlertsComponent
    from edge.app import App

__all__ = ["TOKEN_PATTERN", "install", "uninstall"]

logger = logging.getLogger(__name__)

TOKEN_PATTERN = r"[A-Za-z0-9_.-]{20,200}"


def install(app: App, component: AlertsComponent) -> PhonePage | None:
    """Links in pages and the page on the HTTP server; None when there is no key or server."""
    http: Any = app.service("http")
    if http is None:
        logger.warning("no HTTP server: pages carry no phone link")
        return None
    try:
        key = load_link_key(app.config.data_dir)
    except (LinkError, OSError) as err:
        logger.error("phone links are off, pages carry the shell command instead: %s", err)  # noqa: TRY400 - the reason is the message
        return None
    links = PhoneLinks(LinkSigner(key, component.clock))
    personal = personal_workers(app.config.alerts.workers)

    def link(alert_id: int, worker: str) -> str:
        token = links.issue(alert_id, worker if worker in personal else "")
        return f"{http.base_url}/a/{token}"

    page = PhonePage(app, lambda: component.manager, links, component.clock)
    path = "/a/{token:" + TOKEN_PATTERN + "}"
    http.add_route("GET", path, _get(page))
    http.add_route("POST", path, _post(page))
    use_links(link)
    logger.info("phone page on %s/a/…", http.base_url)
    return page


def uninstall() -> None:
    """Stop putting links into pages (the daemon is stopping)."""
    use_links(None)


def _reply(reply: PageReply) -> web.StreamResponse:
    if reply.location:
        return web.Response(status=reply.status, headers={**reply.headers,
                                                          "Location": reply.location})
    return web.Response(status=reply.status, text=reply.html, content_type="text/html",
                        charset="utf-8", headers=reply.headers)


def _client(request: web.Request) -> str:
    return request.remote or "?"


def _get(page: PhonePage):  # noqa: ANN202 - an aiohttp handler
    async def handle(request: web.Request) -> web.StreamResponse:
        return _reply(page.show(request.match_info["token"], _client(request)))

    return handle


def _post(page: PhonePage):  # noqa: ANN202 - an aiohttp handler
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.content.read(PHONE_FORM_MAX_BYTES + 1)
        if len(body) > PHONE_FORM_MAX_BYTES:
            return web.Response(status=413, text="form too large\n")
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), max_num_fields=8))
        except (UnicodeDecodeError, ValueError):
            fields = {}
        return _reply(page.act(request.match_info["token"], fields, _client(request)))

    return handle
