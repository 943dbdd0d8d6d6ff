"""Clips for the speakers: ``/clips/<sha256>.<mp3|wav>``, only registered ones, only while they still hash right.

Only clips the fleet registered are served, and only after their bytes still hash to their
name, so a truncated or replaced cache file is never played (a zero-length cache file is a
known failure of other home systems). No path from a request is ever joined to a directory: the
route matches a fixed pattern or the answer is 404. Hashing and sending run off the event loop
(a worker thread; ``sendfile``), so a large clip never stalls protection.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Handler

from edge.http.const import CLIP_SEND_TIMEOUT_S, CONTENT_TYPES, HASH_CHUNK_BYTES

__all__ = ["ClipIndex", "clip_handler"]

logger = logging.getLogger(__name__)

NOT_FOUND_TEXT = "not found\n"


class ClipIndex:
    """The clips the fleet may hand out: sha256 → file. Thread-safe (hashing runs in a worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, Path] = {}
        self._verified: dict[str, tuple[int, int]] = {}  # sha → (size, mtime_ns) last checked
        self.served = 0

    def add(self, sha256: str, path: Path) -> None:
        """Make a clip downloadable under its hash."""
        with self._lock:
            if self._paths.get(sha256) != path:
                self._paths[sha256] = path
                self._verified.pop(sha256, None)

    def discard(self, sha256: str) -> None:
        """Stop serving a clip (its file left the cache)."""
        with self._lock:
            self._paths.pop(sha256, None)
            self._verified.pop(sha256, None)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._paths

    def __len__(self) -> int:
        with self._lock:
            return len(self._paths)

    def path(self, sha256: str) -> Path | None:
        """The file of a clip whose bytes still hash to its name, else None (blocking I/O)."""
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
            try:
                with path.open("rb") as file:
                    while chunk := file.read(HASH_CHUNK_BYTES):
                        digest.update(chunk)
            except OSError:
                return None
            if digest.hexdigest() != sha256:
                logger.warning("clip %s no longer matches its hash; not serving it", path)
                return None
            with self._lock:
                self._verified[sha256] = stamp
        return path


class _ClipResponse(web.FileResponse):
    """A file response sent by the handler itself (under a deadline); a second send is a no-op."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return None
        return await super().prepare(request)


def clip_handler(clips: ClipIndex) -> Handler:
    """The aiohttp handler of the clip route (GET and HEAD)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        sha, ext = request.match_info["sha"], request.match_info["ext"]
        if request.query_string:
            raise web.HTTPNotFound(text=NOT_FOUND_TEXT)
        path = await asyncio.to_thread(clips.path, sha)
        if path is None or path.suffix != f".{ext}":
            raise web.HTTPNotFound(text=NOT_FOUND_TEXT)
        response = _ClipResponse(path, headers={
            "Content-Type": CONTENT_TYPES[ext],
            "Cache-Control": "public, max-age=31536000, immutable"})
        clips.served += 1
        try:
            # Sent here rather than after the handler returns, so that the send has a deadline.
            async with asyncio.timeout(CLIP_SEND_TIMEOUT_S):
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            logger.warning("clip %s to %s took longer than %.0f s; connection cut", sha[:12],
                           request.remote, CLIP_SEND_TIMEOUT_S)
            if request.transport is not None:
                request.transport.abort()
        return response

    return serve
