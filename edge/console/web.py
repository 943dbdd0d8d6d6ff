"""The console's aiohttp sub-application: sessions, the login wall, CSRF, templates, static files.

Mounted at ``/console`` on the daemon's HTTP server (:class:`edge.http.HttpServer`) as a public
sub-application, because its login page must open without a session; every other route passes
:func:`ConsoleWeb.guard` first, which sends a browser without a session to the login page (an
API call gets 401), refuses a POST without the session's CSRF token (403), and sets the
request's principal for :func:`edge.http.require_role`. The same session cookie also opens the
server's closed routes (``/api/status``, ``/metrics``) through :meth:`ConsoleWeb.authenticate`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import get_session, session_middleware

from edge.console.const import CSRF_FIELD, PREFIX
from edge.console.sessions import (LoginLimiter, cookie_storage, csrf_ok, csrf_token,
                                   load_cookie_key, principal_of, session_account)
from edge.console.users import ROLE_NAMES, Account, Users
from edge.events import Event
from edge.http.auth import PRINCIPAL, Principal

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["ACCOUNT", "ConsoleWeb", "PUBLIC_PATHS"]

logger = logging.getLogger(__name__)

ACCOUNT: web.RequestKey[Account] = web.RequestKey("gridedge_console_account", Account)
# The only console routes open without a session (relative to /console).
PUBLIC_PATHS = frozenset({"/login", "/static/console.css", "/static/console.js"})


class ConsoleWeb:
    """Shared machinery of the console's pages.

    Args:
        app: the daemon.
        users: the accounts.
    """

    def __init__(self, app: App, users: Users) -> None:
        self.app = app
        self.users = users
        self.limiter = LoginLimiter()
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("edge.console", "templates"), autoescape=True,
            undefined=jinja2.StrictUndefined)
        self.templates.filters["when"] = self.when
        self.subapp: web.Application | None = None
        self._storage: Any = None

    def build(self) -> web.Application:
        """The sub-application, with sessions (key from the data directory) and the guard."""
        secure = self.app.config.http.public_url.startswith("https://")
        self._storage = cookie_storage(load_cookie_key(self.app.config.data_dir), secure=secure)
        self.subapp = web.Application(middlewares=[session_middleware(self._storage),
                                                   self.guard])
        return self.subapp

    # -- who is asking --------------------------------------------------------------------------

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The login wall and the CSRF check in front of every console route."""
        path = request.path.removeprefix(PREFIX) or "/"
        session = await get_session(request)
        if path not in PUBLIC_PATHS:
            account = await asyncio.to_thread(session_account, session, self.users)
            if account is None:
                if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                    raise web.HTTPFound(f"{PREFIX}/login")
                raise web.HTTPUnauthorized(text="请先登录\n")
            request[ACCOUNT] = account
            request[PRINCIPAL] = principal_of(account)
        if request.method not in ("GET", "HEAD") and not await csrf_ok(request, session):
            logger.warning("console %s %s from %s refused: no valid CSRF token", request.method,
                           request.path, request.remote)
            raise web.HTTPForbidden(text="表单已过期或来源不明 (CSRF)，请刷新页面后重试\n")
        return await handler(request)

    async def authenticate(self, request: web.Request) -> Principal | None:
        """Authenticator for the server's closed routes: a console session opens them too."""
        if self._storage is None:
            return None
        session = await self._storage.load_session(request)
        account = await asyncio.to_thread(session_account, session, self.users)
        return None if account is None else principal_of(account)

    # -- pages ----------------------------------------------------------------------------------

    async def render(self, request: web.Request, template: str, *, status: int = 200,
                     **context: Any) -> web.Response:
        """A page from the package's templates, with the account, CSRF field and nav."""
        session = await get_session(request)
        account = request.get(ACCOUNT)
        html = self.templates.get_template(template).render(
            prefix=PREFIX, account=account, csrf=csrf_token(session), csrf_field=CSRF_FIELD,
            role_name=ROLE_NAMES.get(account.role, "") if account else "",
            can=account.permissions if account else frozenset(), site=self.app.config.site,
            page=template.removesuffix(".html"), **context)
        return web.Response(text=html, status=status, content_type="text/html",
                            charset="utf-8", headers=_SECURITY_HEADERS)

    def when(self, ts: float | None, fmt: str = "%m-%d %H:%M:%S") -> str:
        """A timestamp in the site's time zone."""
        if not ts:
            return "-"
        return datetime.fromtimestamp(ts, self.app.config.site.tz).strftime(fmt)

    def audit(self, kind: str, subject: str, request: web.Request, **detail: Any) -> None:
        """Write who did what to the audit log (and the MQTT events stream)."""
        account = request.get(ACCOUNT)
        self.app.events.emit(Event(kind, subject, detail={
            "by": account.name if account else "", "remote": request.remote or "", **detail}))


# No framing by other sites, no sniffing, scripts and styles only from this server.
_SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Inline style attributes place the timetable's slots; scripts only from this server.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                               "frame-ancestors 'none'",
    "Cache-Control": "no-store",
}

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
