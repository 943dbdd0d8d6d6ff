"""The office console: staff edit and check schedules in the browser, see posts, plays and alerts.

Served by the daemon's own HTTP server under ``/console`` (``/`` leads there), in Chinese, with
logins from ``gridedge users`` (:mod:`edge.console.users`): the schedule and config editor runs
the checks of ``gridedge check`` before it writes anything (:mod:`edge.console.files`), the
timetable and proof of play read what the scheduler and the play log know
(:mod:`edge.console.reports`), and the overview follows the daemon's live state
(:mod:`edge.console.pages`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web as aioweb  # "web" would clash with the submodule edge.console.web

from edge.console.const import PREFIX

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["ConsoleComponent", "create"]

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


class ConsoleComponent:
    """Routes are added in :func:`create`; nothing to start or stop beyond the HTTP server."""

    async def start(self) -> None:
        """Nothing to do: the server serves the console's routes."""

    async def stop(self) -> None:
        """Nothing to do: open live streams end with the server."""


def _config_file(app: App) -> Path:
    # The loader records where every setting was read; any mark names config.yaml itself.
    marks: dict[Any, Any] = getattr(app.config, "_marks", {})
    for mark in marks.values():
        path = Path(mark.file)
        if path.name.endswith((".yaml", ".yml")):
            return path.resolve()
    return app.config.base_dir / "config.yaml"


def create(app: App) -> ConsoleComponent:
    """Component factory: mounts the console on the HTTP server (before it starts)."""
    from edge.console import editor, pages, reports  # noqa: PLC0415 - jinja2 only when served
    from edge.console.files import SiteFiles  # noqa: PLC0415
    from edge.console.users import Users  # noqa: PLC0415
    from edge.console.web import ConsoleWeb  # noqa: PLC0415

    component = ConsoleComponent()
    http: Any = app.service("http")
    if http is None:
        return component
    console = ConsoleWeb(app, Users(app.store))
    subapp = console.build()
    subapp.add_routes(pages.routes(console))
    subapp.add_routes(reports.routes(console))
    subapp.add_routes(editor.routes(console, SiteFiles(app.config, _config_file(app),
                                                       app.store)))
    subapp.router.add_static("/static", STATIC, append_version=False)
    http.add_subapp(PREFIX, subapp, public=True)  # the console's own guard checks sessions
    http.add_routes([aioweb.get("/", _to_console)], public=True)
    http.add_authenticator(console.authenticate)
    return component


async def _to_console(_request: aioweb.Request) -> aioweb.Response:
    raise aioweb.HTTPFound(f"{PREFIX}/")
