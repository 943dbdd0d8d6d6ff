"""The metrics component: ``/metrics`` (Prometheus), ``/healthz`` and ``/api/status`` on the HTTP server.

Nothing is counted on the telemetry path: a custom collector reads the components' own
counters at scrape time (see :mod:`edge.ops.collector`). The handlers run on the event loop:
they copy the loop's figures directly, and everything that reads SQLite (the scrape, the open
alerts of the status) runs in a worker thread. ``/healthz`` writes nothing: it reads the last
outcome of a periodic write probe (:class:`edge.ops.health.WriteProbe`).

``/healthz`` is open (a watchdog needs no secret); ``/metrics`` and ``/api/status`` need the
access token (they show post states and open alerts).
"""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import metadata
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge.http import HttpServer
from edge.ops.collector import GridedgeCollector
from edge.ops.const import HEALTH_ROUTE, JSON_TYPE, LOOP_ANSWER_S, METRICS_ROUTE, STATUS_ROUTE
from edge.ops.figures import EventCounts, Figures, gather, on_loop
from edge.ops.health import WriteProbe, health, status

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["MetricsComponent", "create"]

logger = logging.getLogger(__name__)

HEALTHY = 200
UNHEALTHY = 503


def _version() -> str:
    try:
        return metadata.version("gridedge")
    except metadata.PackageNotFoundError:
        return "unknown"


class MetricsComponent:
    """Serves the operations endpoints.

    Args:
        app: the daemon.
        http: its HTTP server.
        counts: event counts fed by the event bus since the daemon was built.
    """

    def __init__(self, app: App, http: HttpServer, counts: EventCounts) -> None:
        self.app = app
        self.http = http
        self.counts = counts
        self.version = _version()
        self.registry = CollectorRegistry(auto_describe=False)
        self.probe = WriteProbe(app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe_task: asyncio.Task[None] | None = None

    def routes(self) -> list[web.RouteDef]:
        """The closed routes (token): metrics and status. ``/healthz`` is in :meth:`open_routes`."""
        return [web.get(METRICS_ROUTE, self._metrics), web.get(STATUS_ROUTE, self._status)]

    def open_routes(self) -> list[web.RouteDef]:
        """The open route: health."""
        return [web.get(HEALTH_ROUTE, self._health)]

    async def start(self) -> None:
        """Register the collector and start the write probe."""
        self._loop = asyncio.get_running_loop()
        self.registry.register(GridedgeCollector(
            self._figures, self.app.store, self.http,
            {"site": self.app.config.site.id, "version": self.version}))
        self._probe_task = asyncio.create_task(self.probe.run(), name="health-write-probe")
        logger.info("metrics at %s/metrics, health at /healthz", self.http.base_url)

    async def stop(self) -> None:
        """Stop the probe (the routes go with the HTTP server)."""
        self._loop = None
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
            self._probe_task = None

    def _figures(self) -> Figures:
        """The loop's figures, from a worker thread (the collector's scrape)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            msg = "the daemon is stopping"
            raise RuntimeError(msg)
        return on_loop(loop, lambda: gather(self.app, self.counts), LOOP_ANSWER_S)

    def _figures_here(self) -> Figures | None:
        """The loop's figures, on the loop (a handler)."""
        try:
            return gather(self.app, self.counts)
        except Exception:
            logger.exception("the daemon's figures could not be taken")
            return None

    # -- handlers (event loop) -----------------------------------------------------------------

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, _request: web.Request) -> web.Response:
        result = health(self.app, self._figures_here(), self.probe)
        if result["problems"]:
            logger.debug("health check failed: %s", "; ".join(result["problems"]))
        return _json(HEALTHY if result["status"] == "ok" else UNHEALTHY, result)

    async def _status(self, _request: web.Request) -> web.Response:
        doc = await asyncio.to_thread(status, self.app, self._figures_here(), self.version)
        return _json(200, doc)


def _json(code: int, doc: object) -> web.Response:
    body = json.dumps(doc, ensure_ascii=False, default=str).encode()
    return web.Response(status=code, body=body, headers={"Content-Type": JSON_TYPE,
                                                         "Cache-Control": "no-store"})


def create(app: App) -> MetricsComponent:
    """Component factory (after ``edge.http``): counts events from the moment it is built."""
    http: HttpServer | None = app.service("http")  # type: ignore[assignment]
    if http is None:
        msg = "the metrics need the HTTP server (edge.http)"
        raise RuntimeError(msg)
    counts = EventCounts()
    # Listening from construction on, so the first schedule load and early trips are counted.
    app.events.listen(counts.on_event)
    component = MetricsComponent(app, http, counts)
    http.add_routes(component.routes())
    http.add_routes(component.open_routes(), public=True)
    app.provide("metrics", component)
    return component
