"""Console pages of the file editor: open, check and save, history with diffs, revert."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from edge.console.const import HISTORY_SHOWN, PREFIX
from edge.console.files import SiteFiles, Version, digest
from edge.console.web import ACCOUNT, ConsoleWeb
from edge.http.auth import require_role

__all__ = ["routes"]

logger = logging.getLogger(__name__)


def routes(console: ConsoleWeb, files: SiteFiles) -> list[web.RouteDef]:
    """The routes of this module, relative to /console."""
    editor = _Editor(console, files)
    return [web.get("/edit", editor.open), web.post("/edit", editor.save),
            web.get("/versions/{id:\\d+}", editor.show_version),
            web.post("/versions/{id:\\d+}/revert", editor.revert)]


class _Editor:
    def __init__(self, console: ConsoleWeb, files: SiteFiles) -> None:
        self.console = console
        self.files = files

    def _file(self, rel: str) -> str:
        return rel if rel in self.files.files else self.files.files[0]

    async def _page(self, request: web.Request, rel: str, *, text: str | None = None,
                    problems: list[Any] | None = None, status: int = 200, done: str = "",
                    error: str = "") -> web.Response:
        current = await asyncio.to_thread(self.files.read, rel)
        versions = await asyncio.to_thread(self.files.versions, rel, HISTORY_SHOWN)
        problems = problems or []
        here = [p for p in problems if p.file == rel]
        elsewhere = [p for p in problems if p.file != rel]
        return await self.console.render(
            request, "edit.html", status=status, files=self.files.files, file=rel,
            text=current if text is None else text, base=digest(current),
            problems=[{"line": p.line, "path": p.path, "text": p.text()} for p in here],
            elsewhere=[str(p) for p in elsewhere],
            error_lines=",".join(str(p.line) for p in here if p.line), versions=versions,
            done=done, error=error, readonly="edit" not in request[ACCOUNT].permissions)

    async def open(self, request: web.Request) -> web.Response:
        rel = self._file(request.query.get("file", ""))
        done = request.query.get("done", "")[:200]
        return await self._page(request, rel, done=done)

    async def save(self, request: web.Request) -> web.Response:
        require_role(request, "edit")
        form = await request.post()
        rel = self._file(str(form.get("file", "")))
        text = str(form.get("text", ""))
        author = request[ACCOUNT].name
        try:
            checked, version = await asyncio.to_thread(
                self.files.save, rel, text, author, base=str(form.get("base", "")) or None,
                note=str(form.get("note", ""))[:200])
        except ValueError as err:
            return await self._page(request, rel, text=text, status=409, error=str(err))
        if version is None:
            self.console.audit("console.file_refused", rel, request,
                               problems=[str(p) for p in checked.problems][:20])
            return await self._page(request, rel, text=text, problems=checked.problems,
                                    status=422, error=f"发现 {len(checked.problems)} 个问题，"
                                    "文件没有保存。请按提示修改后再保存。")
        self.console.audit("console.file_saved", rel, request, version=version.id)
        raise web.HTTPSeeOther(f"{PREFIX}/edit?file={quote(rel)}&done="
                               + quote(_saved_text(rel, version)))

    async def show_version(self, request: web.Request) -> web.Response:
        version = await asyncio.to_thread(self.files.version, int(request.match_info["id"]))
        if version is None:
            raise web.HTTPNotFound(text="没有这个版本\n")
        diff = await asyncio.to_thread(self.files.diff, version)
        return await self.console.render(request, "version.html", version=version, diff=diff)

    async def revert(self, request: web.Request) -> web.Response:
        require_role(request, "edit")
        version = await asyncio.to_thread(self.files.version, int(request.match_info["id"]))
        if version is None or version.file not in self.files.files:
            raise web.HTTPNotFound(text="没有这个版本\n")
        try:
            checked, saved = await asyncio.to_thread(
                self.files.save, version.file, version.content, request[ACCOUNT].name,
                note=f"恢复到版本 {version.id}")
        except ValueError as err:
            return await self._page(request, version.file, status=409, error=str(err))
        if saved is None:
            return await self._page(request, version.file, text=version.content,
                                    problems=checked.problems, status=422,
                                    error="这个旧版本现在通不过检查（例如设备已改名），没有恢复。")
        self.console.audit("console.file_reverted", version.file, request, to=version.id,
                           version=saved.id)
        raise web.HTTPSeeOther(f"{PREFIX}/edit?file={quote(version.file)}&done="
                               + quote(_saved_text(version.file, saved)))


def _saved_text(rel: str, version: Version) -> str:
    if rel.endswith("config.yaml"):
        return f"已保存（版本 {version.id}）。config.yaml 的修改在重启服务后生效。"
    return f"已保存（版本 {version.id}），广播计划几秒内自动生效。"
