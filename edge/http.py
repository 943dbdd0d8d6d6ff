"""The daemon's HTTP server: clips under their content hash, and a small route table for the rest.

Speakers fetch clips as ``/clips/<sha256>.<mp3|wav>``; only clips the fleet registered are served,
and only after their bytes still hash to their name, so a truncated or replaced cache file is
never played (Home Assistant's zero-length cache file, peer-systems.md). No path from a request
is ever joined to a directory: a route matches a fixed regular expression or the answer is 404.
Later modules add routes (``/metrics``, ``/healthz``, ``/api/status``) with :meth:`HttpServer.route`.

The server is the stdlib's ``ThreadingHTTPServer`` in a thread: a few speakers downloading
kilobyte clips need nothing more, and handlers never touch the asyncio loop.

The clip URL base is ``http.public_url`` when set; otherwise it is derived from the bound
address: the bind address itself when it is a specific one, else (``0.0.0.0``/``::``) the
address of the interface that routes to the LAN (found without sending a packet), falling back
to 127.0.0.1; the port is the one actually bound (``port: 0`` picks a free one).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import HttpConfig

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["ClipIndex", "HttpServer", "Request", "Response", "create"]

logger = logging.getLogger(__name__)

CLIP_ROUTE = r"^/clips/(?P<sha>[0-9a-f]{64})\.(?P<ext>mp3|wav)$"
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}
_CHUNK = 64 * 1024
_MAX_PATH = 512
_LAN_PROBE = ("10.255.255.255", 1)  # connect() on UDP picks a route; nothing is sent


@dataclass(frozen=True)
class Request:
    """What a route handler sees of a request."""

    method: str
    path: str
    match: re.Match[str]
    client: str


@dataclass
class Response:
    """A handler's answer: a body in memory, or a file streamed from disk."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    file: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]
NOT_FOUND = 404


class ClipIndex:
    """The clips the fleet may hand out: sha256 → file. Thread-safe (the server reads it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, Path] = {}
        self._verified: dict[str, tuple[int, int]] = {}  # sha → (size, mtime_ns) last checked

    def add(self, sha256: str, path: Path) -> None:
        """Make a clip downloadable under its hash."""
        with self._lock:
            if self._paths.get(sha256) != path:
                self._paths[sha256] = path
                self._verified.pop(sha256, None)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._paths

    def path(self, sha256: str) -> Path | None:
        """The file of a clip whose bytes still hash to its name, else None."""
        with self._lock:
            path = self._paths.get(sha256)
            checked = self._verified.get(sha256)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_size, stat.st_mtime_ns)
        if stat.st_size == 0:
            return None
        if checked != stamp:
            digest = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(_CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != sha256:
                logger.warning("clip %s no longer matches its hash; not serving it", path)
                return None
            with self._lock:
                self._verified[sha256] = stamp
        return path


class HttpServer:
    """The daemon's HTTP server component.

    Args:
        config: the ``http:`` section.
    """

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self.clips = ClipIndex()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stats = {"requests": 0, "not_found": 0, "clips_served": 0}
        self.route("GET", CLIP_ROUTE, self._clip)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path matches ``pattern`` (anchored regex) with handler.

        HEAD is answered by every GET route, without the body. Handlers run in server threads.
        """
        self._routes.append((method.upper(), re.compile(pattern), handler))

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve in a background thread."""
        handler = _handler_class(self)
        try:
            self._server = ThreadingHTTPServer((self.config.bind, self.config.port), handler)
        except OSError as err:
            msg = f"HTTP server cannot listen on {self.config.bind}:{self.config.port}: {err}"
            raise OSError(msg) from err
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="gridedge-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        logger.info("HTTP server on %s:%d, clips at %s/clips/", self.config.bind, self.port,
                    self.base_url)

    async def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    @property
    def port(self) -> int:
        """The port actually bound (``port: 0`` picks one)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """URL speakers use to reach this server, without a trailing slash (see module doc)."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        host = self.config.bind
        if host in ("", "0.0.0.0", "::"):
            host = _lan_address()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def clip_url(self, sha256: str, suffix: str) -> str:
        """Where a speaker downloads a clip (suffix with its dot, e.g. ``.mp3``)."""
        return f"{self.base_url}/clips/{sha256}{suffix}"

    # -- routing (server threads) --------------------------------------------------------------

    def dispatch(self, method: str, path: str, client: str) -> Response:
        """The response to one request: the first matching route, else 404."""
        self.stats["requests"] += 1
        lookup = "GET" if method == "HEAD" else method
        if len(path) <= _MAX_PATH and "?" not in path and "%" not in path:
            for route_method, pattern, handler in self._routes:
                match = pattern.match(path)
                if match is not None and route_method == lookup:
                    try:
                        return handler(Request(method, path, match, client))
                    except Exception:
                        logger.exception("HTTP handler for %s failed", path)
                        return Response(500, b"internal error\n")
        self.stats["not_found"] += 1
        logger.debug("HTTP 404 for %s %r from %s", method, path[:80], client)
        return Response(NOT_FOUND, b"not found\n")

    def _clip(self, request: Request) -> Response:
        path = self.clips.path(request.match["sha"])
        if path is None or path.suffix != f".{request.match['ext']}":
            return Response(NOT_FOUND, b"not found\n")
        self.stats["clips_served"] += 1
        return Response(200, content_type=CONTENT_TYPES[request.match["ext"]], file=path,
                        headers={"ETag": f'"{request.match["sha"]}"',
                                 "Cache-Control": "public, max-age=31536000, immutable"})


def _handler_class(server: HttpServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        server_version = "gridedge"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, *, head: bool) -> None:
            response = server.dispatch(self.command, self.path, self.client_address[0])
            body = response.body
            size = len(body)
            if response.file is not None:
                try:
                    size = response.file.stat().st_size
                except OSError:
                    response, body, size = Response(NOT_FOUND), b"not found\n", 10
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(size))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if head:
                return
            if response.file is None:
                self.wfile.write(body)
                return
            try:
                with response.file.open("rb") as file:
                    while chunk := file.read(_CHUNK):
                        self.wfile.write(chunk)
            except OSError as err:
                logger.warning("sending %s failed: %s", response.file.name, err)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("HTTP %s " + format, self.client_address[0], *args)

    return _Handler


def _lan_address() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(_LAN_PROBE)
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def create(app: App) -> HttpServer:
    """Component factory: the HTTP server, offered to later components as service "http"."""
    server = HttpServer(app.config.http)
    app.provide("http", server)
    return server
