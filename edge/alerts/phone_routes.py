"""Puts the phone page on the daemon's HTTP server and the link into every page to a worker.

``register(app, component)`` runs in the alerts component's ``create()`` (routes are added
before the server starts): ``GET``/``POST /a/<token>``, public on the server because the page
checks its own signed links. ``start(app, component)`` runs in its ``start()``: it loads the
link key (environment or data directory) and makes links for
:func:`edge.alerts.message.use_links`. Without a key the daemon still pages (the message then
carries the shell command instead of a link), the page answers 503, and the log says why.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from edge.alerts.const import PHONE_FORM_MAX_BYTES
from edge.alerts.links import LinkError, PhoneLinks, load_link_key
from edge.alerts.message import use_links
from edge.alerts.phone import PageReply, PhonePage, personal_workers
from edge.http import LinkSigner

if TYPE_CHECKING:
    from edge.alerts.component import AlertsComponent
    from edge.app import App

__all__ = ["PATH", "register", "start", "stop"]

logger = logging.getLogger(__name__)

PATH = "/a/{token:[A-Za-z0-9_.-]{20,200}}"
_FORM_FIELDS = 8


def register(app: App, component: AlertsComponent) -> None:
    """Add the page's routes to the HTTP server (before it starts)."""
    http: Any = app.service("http")
    if http is None:
        return
    http.add_routes([web.get(PATH, _get(component)), web.post(PATH, _post(component))],
                    public=True)


def start(app: App, component: AlertsComponent) -> PhonePage | None:
    """The page of every alert, and links in pages; None without a key or a server."""
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
        return f"{http.base_url}/a/{links.issue(alert_id, worker if worker in personal else '')}"

    use_links(link)
    logger.info("phone page at %s/a/…", http.base_url)
    def query(sql: str, params: tuple[Any, ...]) -> list[Any]:
        return component.working.query(sql, params) if component.working is not None else []

    return PhonePage(app, lambda: component.manager, links, component.clock, query)


def stop() -> None:
    """Stop putting links into pages (the daemon is stopping)."""
    use_links(None)


def _reply(reply: PageReply) -> web.StreamResponse:
    if reply.location:
        return web.Response(status=reply.status, headers={**reply.headers,
                                                          "Location": reply.location})
    return web.Response(status=reply.status, text=reply.html, content_type="text/html",
                        charset="utf-8", headers=reply.headers)


def _unavailable() -> web.StreamResponse:
    return web.Response(status=503, text="phone page not available\n",
                        headers={"Retry-After": "30"})


def _get(component: AlertsComponent):  # noqa: ANN202 - an aiohttp handler
    async def handle(request: web.Request) -> web.StreamResponse:
        page = component.phone
        if page is None:
            return _unavailable()
        return _reply(page.show(request.match_info["token"], request.remote or "?"))

    return handle


def _post(component: AlertsComponent):  # noqa: ANN202 - an aiohttp handler
    async def handle(request: web.Request) -> web.StreamResponse:
        page = component.phone
        if page is None:
            return _unavailable()
        body = await request.read()
        if len(body) > PHONE_FORM_MAX_BYTES:
            return web.Response(status=413, text="form too large\n")
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), max_num_fields=_FORM_FIELDS))
        except (UnicodeDecodeError, ValueError):
            fields = {}
        return _reply(page.act(request.match_info["token"], fields, request.remote or "?"))

    return handle
