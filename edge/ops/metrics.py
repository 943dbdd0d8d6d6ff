"""The metrics component: ``/metrics`` (Prometheus), ``/healthz`` and ``/api/status`` on the HTTP server.

Nothing is counted on the telemetry path: a custom collector reads the components' own
counters at scrape time (see :mod:`edge.ops.collector`). Handlers run in the HTTP server's
threads and get the loop's figures through :func:`edge.ops.figures.on_loop`; a loop that does
not answer in time makes ``/healthz`` fail, which is exactly what a watchdog must learn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import metadata
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge.http import HttpServer, Request, Response
from edge.ops.collector import GridedgeCollector
from edge.ops.const import HEALTH_ROUTE, JSON_TYPE, LOOP_ANSWER_S, METRICS_ROUTE, STATUS_ROUTE
from edge.ops.figures import EventCounts, Figures, gather, on_loop
from edge.ops.health import health, status

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
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Register the collector and the routes (the server is already listening)."""
        self._loop = asyncio.get_running_loop()
        self.registry.register(GridedgeCollector(
            self._figures, self.app.store, self.http,
            {"site": self.app.config.site.id, "version": self.version}))
        self.http.route("GET", METRICS_ROUTE, self._metrics)
        self.http.route("GET", HEALTH_ROUTE, self._health)
        self.http.route("GET", STATUS_ROUTE, self._status)
        logger.info("metrics at %s/metrics, health at /healthz", self.http.base_url)

    async def stop(self) -> None:
        """Nothing to release: the routes go with the HTTP server."""
        self._loop = None

    def _figures(self) -> Figures:
        loop = self._loop
        if loop is None or loop.is_closed():
            msg = "the daemon is stopping"
            raise RuntimeError(msg)
        return on_loop(loop, lambda: gather(self.app, self.counts), LOOP_ANSWER_S)

    def _figures_or_none(self) -> Figures | None:
        try:
            return self._figures()
        except (TimeoutError, RuntimeError):
            return None

    # -- handlers (HTTP server threads) ----------------------------------------------------------

    def _metrics(self, _request: Request) -> Response:
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def _health(self, _request: Request) -> Response:
        result = health(self.app, self._figures_or_none())
        if result["problems"]:
            logger.debug("health check failed: %s", "; ".join(result["problems"]))
        return Response(HEALTHY if result["status"] == "ok" else UNHEALTHY, _json(result),
                        JSON_TYPE, headers={"Cache-Control": "no-store"})

    def _status(self, _request: Request) -> Response:
        doc = status(self.app, self._figures_or_none(), self.version)
        return Response(200, _json(doc), JSON_TYPE, headers={"Cache-Control": "no-store"})


def _json(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False, default=str).encode()


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
    app.provide("metrics", component)
    return component
