"""The daemon's HTTP server: an aiohttp application on the daemon's own event loop.

Components add what they serve through :class:`HttpServer`: routes with :meth:`add_routes`,
whole sub-applications (a console with its own templates and middlewares) with
:meth:`add_subapp`, and ways to recognise a caller with :meth:`add_authenticator`. All of it is
added in the component's ``create()`` (the router freezes when the server starts, which is
first of all components, because speakers need its address).

Every route is closed unless registered ``public=True``: a closed route answers 401 without
credentials and 403 with wrong ones (see :mod:`edge.http.auth`). Public are the clips (the
speakers fetch them and have no credentials), ``/healthz``, and pages that check their own signed
link.

Slow or hostile clients hold no thread and stop nothing: aiohttp serves every connection as a
coroutine on the loop, a request head must be complete :data:`HEADER_TIMEOUT_S` after the
connection opened (aiohttp's keep-alive timer, which dripping bytes do not extend), a body
:data:`BODY_TIMEOUT_S` after its head and no larger than :data:`MAX_BODY_BYTES`, and header lines,
fields and counts are bounded.

The clip URL base is ``http.public_url`` when set; otherwise it is derived from the bound
address: the bind address itself when it is a specific one, else (``0.0.0.0``/``::``) the
address of the interface that routes to the LAN (found without sending a packet), falling back
to 127.0.0.1; the port is the one actually bound (``port: 0`` picks a free one).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from edge.config import HttpConfig
from edge.http.auth import (
    M_NO_TOKEN,
    M_NO_TOKEN_SET,
    PRINCIPAL,
    Authenticator,
    AuthError,
    BearerToken,
)
from edge.http.clips import ClipIndex, clip_handler
from edge.http.const import (
    BODY_TIMEOUT_S,
    CLIP_PATH,
    HEADER_TIMEOUT_S,
    LAN_PROBE,
    LINGER_S,
    LISTEN_BACKLOG,
    MAX_BODY_BYTES,
    MAX_FIELD_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    SHUTDOWN_GRACE_S,
)
from edge.i18n import N_, _

__all__ = ["HttpServer"]

logger = logging.getLogger(__name__)

M_BODY_TIMEOUT = N_("the request body did not arrive in time")
_WWW_AUTHENTICATE = 'Bearer realm="gridedge"'


class HttpServer:
    """The daemon's HTTP server component.

    Args:
        config: the ``http:`` section.
    """

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self.clips = ClipIndex()
        self.token = BearerToken(config.token)
        self.app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY_BYTES)
        self._public_resources: set[object] = set()
        self._public_apps: set[web.Application] = set()
        self._authenticators: list[Authenticator] = [self.token]
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._counts = {"requests": 0, "not_found": 0, "refused": 0, "body_timeouts": 0}
        self.add_routes([web.get(CLIP_PATH, clip_handler(self.clips))], public=True)

    # -- what components add (in their create()) ------------------------------------------------

    def add_routes(self, routes: Iterable[web.AbstractRouteDef], *, public: bool = False) -> None:
        """Serve ``routes`` (``web.get(path, handler)`` …); closed unless ``public``.

        A GET route answers HEAD too. Handlers run on the event loop: blocking work (SQLite,
        files) goes through ``asyncio.to_thread``.
        """
        self._check_open()
        for route in self.app.router.add_routes(routes):
            if public:
                self._public_resources.add(route.resource)

    def add_subapp(self, prefix: str, subapp: web.Application, *, public: bool = False) -> None:
        """Mount a whole aiohttp application under ``prefix`` (e.g. ``/a`` or ``/console``).

        The sub-application keeps its own middlewares (sessions, CSRF, templates) and its own
        ``client_max_size``; this server's guard runs first. ``public`` opens every route of it
        (then it must check its own credentials, as a signed-link page does).
        """
        self._check_open()
        self.app.add_subapp(prefix, subapp)
        if public:
            self._public_apps.add(subapp)

    def add_authenticator(self, authenticator: Authenticator) -> None:
        """Recognise callers another way (login sessions); tried after the access token."""
        self._check_open()
        self._authenticators.append(authenticator)

    def _check_open(self) -> None:
        if self._runner is not None:
            msg = ("the HTTP server is already running: add routes in your component's "
                   "create(), before the daemon starts")
            raise RuntimeError(msg)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve on the running event loop."""
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                               shutdown_timeout=SHUTDOWN_GRACE_S, lingering_time=LINGER_S,
                               keepalive_timeout=HEADER_TIMEOUT_S, max_line_size=MAX_LINE_BYTES,
                               max_field_size=MAX_FIELD_BYTES, max_headers=MAX_HEADERS)
        await runner.setup()
        site = web.TCPSite(runner, self.config.bind, self.config.port, backlog=LISTEN_BACKLOG,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            msg = f"HTTP server cannot listen on {self.config.bind}:{self.config.port}: {err}"
            raise OSError(msg) from err
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("HTTP server on %s:%d, clips at %s/clips/", self.config.bind, self.port,
                    self.base_url)
        if not self.token.configured:
            logger.warning("no HTTP access token is configured (http.token, "
                           "GRIDEDGE_HTTP_TOKEN): /api/status and /metrics stay closed")

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The port actually bound (``port: 0`` picks one)."""
        return self.config.port if self._port is None else self._port

    @property
    def stats(self) -> dict[str, int]:
        """Request counters (a copy): requests, not_found, refused, body_timeouts, clips_served."""
        return {**self._counts, "clips_served": self.clips.served}

    @property
    def base_url(self) -> str:
        """URL speakers use to reach this server, without a trailing slash (see module doc)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        host = self.config.bind
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
            host = _lan_address()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def clip_url(self, sha256: str, suffix: str) -> str:
        """Where a speaker downloads a clip (suffix with its dot, e.g. ``.mp3``)."""
        return f"{self.base_url}/clips/{sha256}{suffix}"

    # -- the guard in front of every handler -----------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._counts["requests"] += 1
        match: Any = request.match_info
        if match.http_exception is not None:  # no such route (404) or method (405)
            self._counts["not_found"] += 1
            logger.debug("HTTP %s %r from %s: no route", request.method, request.path[:80],
                         request.remote)
            return await handler(request)
        if not self._is_public(match):
            await self._authenticate(request)
        if request.body_exists:
            try:
                async with asyncio.timeout(BODY_TIMEOUT_S):
                    await request.read()
            except TimeoutError:
                self._counts["body_timeouts"] += 1
                raise web.HTTPRequestTimeout(text=_(M_BODY_TIMEOUT) + "\n",
                                             headers={"Connection": "close"}) from None
        response = await handler(request)
        logger.debug("HTTP %s %s from %s: %s", request.method, request.path, request.remote,
                     response.status)
        return response

    def _is_public(self, match: Any) -> bool:
        return (match.route.resource in self._public_resources
                or any(app in self._public_apps for app in match.apps))

    async def _authenticate(self, request: web.Request) -> None:
        for authenticator in self._authenticators:
            try:
                found = await authenticator(request)
            except AuthError as err:
                self._counts["refused"] += 1
                logger.info("HTTP %s %s from %s refused: %s", request.method, request.path,
                            request.remote, err)
                raise web.HTTPForbidden(text=f"{err}\n") from None
            if found is not None:
                request[PRINCIPAL] = found
                return
        self._counts["refused"] += 1
        text = _(M_NO_TOKEN) if self.token.configured else _(M_NO_TOKEN_SET)
        raise web.HTTPUnauthorized(text=f"{text}\n",
                                   headers={"WWW-Authenticate": _WWW_AUTHENTICATE})


def _lan_address() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(LAN_PROBE)
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"
