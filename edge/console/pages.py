"""Console pages on the daemon's live state: login, overview (with server-sent events), alerts,
staff resets of latched ports, and "say now"."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp_session import get_session, new_session

from edge.alerts.message import KIND_TITLE
from edge.console.const import LIVE_EVERY_S, LIVE_MAX_S, PREFIX
from edge.console.web import ACCOUNT, ConsoleWeb
from edge.http.auth import require_role
from edge.i18n import _

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["routes"]

logger = logging.getLogger(__name__)

PRIORITY_NAMES = {"routine": "普通", "important": "重要", "emergency": "紧急"}
STATE_NAMES = {"firing": "未处理", "acknowledged": "已确认", "resolved": "已解除"}
SEVERITY_NAMES = {"critical": "紧急", "warning": "一般", "info": "提示"}


def routes(console: ConsoleWeb) -> list[web.RouteDef]:
    """The routes of this module, relative to /console."""
    pages = _Pages(console)
    return [web.get("/login", pages.login_form), web.post("/login", pages.login),
            web.post("/logout", pages.logout), web.get("/", pages.overview),
            web.get("/live", pages.live), web.post("/alerts/{id:\\d+}/ack", pages.ack),
            web.post("/posts/{post}/{port:\\d+}/reset", pages.reset),
            web.get("/say", pages.say_form), web.post("/say", pages.say)]


class _Pages:
    def __init__(self, console: ConsoleWeb) -> None:
        self.console = console
        self.app: App = console.app

    # -- login ----------------------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        return await self.console.render(request, "login.html", error="", name="")

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name = str(form.get("name", "")).strip()[:64]
        password = str(form.get("password", ""))[:256]
        keys = (f"user:{name}", f"addr:{request.remote}")
        limiter = self.console.limiter
        wait = limiter.wait_s(*keys)
        if wait > 0:
            logger.warning("console login for %r from %s refused: too many wrong passwords",
                           name, request.remote)
            self.console.audit("console.login_throttled", name, request)
            return await self.console.render(
                request, "login.html", status=429, name=name,
                error=f"密码错误次数太多，请 {int(wait) + 1} 秒后再试。")
        account = await asyncio.to_thread(self.console.users.authenticate, name, password)
        if account is None:
            limiter.failed(*keys)
            self.console.audit("console.login_failed", name, request)
            return await self.console.render(request, "login.html", status=401, name=name,
                                             error="用户名或密码不对。")
        limiter.succeeded(keys[0])
        session = await new_session(request)  # a fresh session: no fixation of an old one
        session["user"] = account.name
        session["pw_version"] = account.pw_version
        request[ACCOUNT] = account
        self.console.audit("console.login", account.name, request)
        raise web.HTTPSeeOther(f"{PREFIX}/")

    async def logout(self, request: web.Request) -> web.Response:
        self.console.audit("console.logout", request[ACCOUNT].name, request)
        (await get_session(request)).invalidate()
        raise web.HTTPSeeOther(f"{PREFIX}/login")

    # -- overview -------------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        snapshot = await asyncio.to_thread(self.snapshot)
        flash = request.query.get("msg", "")[:200]
        return await self.console.render(request, "overview.html", live=snapshot, flash=flash,
                                         severity_names=SEVERITY_NAMES, state_names=STATE_NAMES,
                                         priority_names=PRIORITY_NAMES)

    def snapshot(self) -> dict[str, Any]:
        """Posts, alerts and speakers as the daemon sees them now (JSON types only)."""
        from edge.posts.state import build_state  # noqa: PLC0415 - only with the posts component

        posts_service: Any = self.app.service("posts")
        posts = []
        if posts_service is not None:
            for monitor in list(posts_service.monitors.values()):
                state = build_state(monitor)
                ports = [{"port": int(p), **v} for p, v in sorted(state["ports"].items(),
                                                                   key=lambda kv: int(kv[0]))]
                posts.append({"id": state["post"], "name": state["name"] or state["post"],
                              "location": state["location"], "online": state["online"],
                              "latched": state["latched_ports"], "ports": ports})
        alerts = [dict(r) for r in self.app.store.query(
            "SELECT id, kind, severity, state, subject, post, port, speaker, first_ts, "
            "acked_by, detail FROM alerts WHERE state != 'resolved' ORDER BY id DESC")]
        for alert in alerts:
            alert.pop("detail", None)
            kind = alert["kind"]
            alert["name"] = _(KIND_TITLE[kind]) if kind in KIND_TITLE else kind
            where = alert["subject"] or alert["post"] or alert["speaker"]
            alert["where"] = self._where(where)
        fleet: Any = self.app.service("speakers")
        speakers = []
        for sid, device in self.app.config.speakers.devices.items():
            channel = fleet.channels.get(sid) if fleet is not None else None
            active = getattr(channel, "active", None)
            speakers.append({"id": sid, "name": device.name or sid,
                             "online": bool(getattr(channel, "online", False)),
                             "playing": getattr(active, "announcement", "") if active else "",
                             "queued": len(getattr(channel, "queue", ()) or ())})
        return {"ts": time.time(), "posts": posts, "alerts": alerts, "speakers": speakers}

    def _where(self, subject: str) -> str:
        """A post or speaker id (``P03/4``, ``east_gate``) as staff call it (3号充电桩 4 号口)."""
        post, _sep, port = subject.partition("/")
        device = self.app.config.posts.devices.get(post) or \
            self.app.config.speakers.devices.get(post)
        name = (device.name if device is not None and device.name else post) or ""
        return f"{name} {port} 号口" if port else name

    async def live(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the snapshot every second until the browser leaves."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        ends = time.monotonic() + LIVE_MAX_S
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while time.monotonic() < ends:
                data = await asyncio.to_thread(self.snapshot)
                await response.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
                await asyncio.sleep(LIVE_EVERY_S)
        return response

    # -- acting ---------------------------------------------------------------------------------

    async def ack(self, request: web.Request) -> web.Response:
        require_role(request, "ack")
        account = request[ACCOUNT]
        alert_id = int(request.match_info["id"])
        alerts: Any = self.app.service("alerts")
        if not account.worker:
            raise _back("您的账号没有对应值班名单里的人员，不能以个人名义确认告警。")
        if alerts is None or alerts.manager is None:
            raise _back("告警功能没有启用。")
        try:
            alerts.manager.acknowledge(alert_id, account.worker, "网页控制台")
        except Exception as err:  # noqa: BLE001 - the manager's refusals are shown, not raised
            logger.info("console ack of alert #%d by %s refused: %s", alert_id, account.name, err)
            raise _back(f"告警 #{alert_id} 无法确认：已解除或不存在。") from None
        self.console.audit("console.alert_acknowledged", str(alert_id), request,
                           worker=account.worker)
        raise _back(f"告警 #{alert_id} 已确认，由 {account.name} 处理。")

    async def reset(self, request: web.Request) -> web.Response:
        require_role(request, "reset")
        form = await request.post()
        post, port = request.match_info["post"], int(request.match_info["port"])
        if form.get("confirm") != "yes":
            raise _back("复位前请勾选“我已到现场确认安全”。")
        posts: Any = self.app.service("posts")
        if posts is None:
            raise _back("充电桩监测没有启用。")
        by = request[ACCOUNT].worker or request[ACCOUNT].name
        result = posts.reset(post, port, by, f"console-{int(time.time() * 1000)}")
        self.console.audit("console.port_reset", f"{post}/{port}", request, ok=result["ok"],
                           error=result.get("error", ""))
        if not result["ok"]:
            reasons = {"unknown_post": "没有这个充电桩", "unknown_port": "没有这个端口",
                       "not_latched": "这个端口没有锁定", "no_worker": "缺少操作人"}
            raise _back(f"{post} {port} 号口没有复位：{reasons.get(result['error'], '失败')}。")
        raise _back(f"{post} {port} 号口已复位（操作人 {by}）。")

    # -- say now --------------------------------------------------------------------------------

    async def say_form(self, request: web.Request) -> web.Response:
        require_role(request, "say")
        return await self._say_page(request, error="", done="", text="")

    async def _say_page(self, request: web.Request, *, status: int = 200, **context: Any
                        ) -> web.Response:
        speakers = {sid: s.name or sid for sid, s in self.app.config.speakers.devices.items()
                    if s.enabled}
        return await self.console.render(request, "say.html", status=status, speakers=speakers,
                                         priority_names=PRIORITY_NAMES, **context)

    async def say(self, request: web.Request) -> web.Response:
        from edge.speakers.announce import parse_announce  # noqa: PLC0415 - with the fleet only
        from edge.speakers.errors import AnnounceError  # noqa: PLC0415

        require_role(request, "say")
        form = await request.post()
        text = str(form.get("text", "")).strip()
        chosen = [str(s) for s in form.getall("speakers", [])]
        payload = {"text": text, "speakers": chosen, "priority": str(form.get("priority",
                                                                             "important"))}
        fleet: Any = self.app.service("speakers")
        if not chosen or fleet is None:
            message = "请至少选择一个喇叭。" if fleet is not None else "喇叭功能没有启用。"
            return await self._say_page(request, status=400, error=message, done="", text=text)
        try:
            play = parse_announce(self.app.config, json.dumps(payload).encode(), time.time())
        except AnnounceError as err:
            message = _(err.msgid).format(**err.args_)
            return await self._say_page(request, status=400, error=message, done="", text=text)
        play = dataclasses.replace(play, source="say")
        self.console.audit("console.say", play.key, request, text=text,
                           speakers=list(play.speakers), priority=play.priority.value)
        await fleet.submit(play)
        return await self._say_page(request, error="", text="",
                                    done=f"已发送到 {len(play.speakers)} 个喇叭。")


def _back(message: str) -> web.HTTPSeeOther:
    from urllib.parse import quote  # noqa: PLC0415

    return web.HTTPSeeOther(f"{PREFIX}/?msg={quote(message)}")
