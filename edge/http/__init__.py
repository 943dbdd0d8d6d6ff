"""The daemon's HTTP server: clips for the speakers, health, metrics, and what later components add.

One aiohttp application runs on the daemon's own event loop (:mod:`edge.http.server`). Other
components register routes, sub-applications and authenticators in their ``create()``::

    http: HttpServer = app.service("http")
    http.add_routes([web.get("/api/status", handler)])            # closed: needs a principal
    http.add_routes([web.get("/healthz", health)], public=True)    # open to anyone
    http.add_subapp("/a", ack_app, public=True)                    # checks its signed links itself
    http.add_authenticator(sessions.authenticate)                  # console logins

and use :mod:`edge.http.auth` (``principal``, ``require_role``, ``LinkSigner``, ``same_secret``)
inside their handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.http.auth import (
    PRINCIPAL,
    Authenticator,
    AuthError,
    BearerToken,
    LinkError,
    LinkSigner,
    Principal,
    principal,
    require_role,
    same_secret,
)
from edge.http.clips import ClipIndex
from edge.http.server import HttpServer

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["PRINCIPAL", "AuthError", "Authenticator", "BearerToken", "ClipIndex", "HttpServer",
           "LinkError", "LinkSigner", "Principal", "create", "principal", "require_role",
           "same_secret"]


def create(app: App) -> HttpServer:
    """Component factory: the HTTP server, offered to later components as service "http"."""
    server = HttpServer(app.config.http)
    app.provide("http", server)
    return server
