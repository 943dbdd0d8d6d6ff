"""The district page (Chinese) and JSON API, on the project's HTTP server.

Who may see it: the access token (``http.token`` of district.yaml) as ``Authorization: Bearer``
for scripts, or a login with that token that leaves an encrypted session cookie. The cookie's
key is derived from the token, so there is no key file to keep (the service keeps no state), a
second instance accepts the same cookies, and changing the token logs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from edge.http import PRINCIPAL, Principal, same_secret
from edge.district.service import ANNOUNCE_PRIORITIES

if TYPE_CHECKING:
    from edge.district.service import DistrictService

__all__ = ["register"]

COOKIE = "gridedge_district"
SESSION_MAX_AGE_S = 12 * 3600
TZ = ZoneInfo("Asia/Shanghai")
STATE_NAMES = {"firing": "未处理", "acknowledged": "已确认"}
SEVERITY_NAMES = {"critical": "紧急", "warning": "一般", "info": "提示"}
_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "frame-ancestors 'none'"}
MAX_TEXT = 500


class _Web:
    def __init__(self, service: DistrictService) -> None:
        self.service = service
        token = service.config.http.token
        self.token = token
        key = hashlib.sha256(b"gridedge-district-session\0" + token.encode()).digest()
        self.csrf = hmac.new(key, b"csrf", hashlib.sha256).hexdigest()[:32]
        self.storage = EncryptedCookieStorage(key, cookie_name=COOKIE, max_age=SESSION_MAX_AGE_S,
                                              httponly=True, samesite="Strict", path="/")
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("edge.district", "templates"), autoescape=True,
            undefined=jinja2.StrictUndefined)

    async def authenticate(self, request: web.Request) -> Principal | None:
        """A session cookie of a login with the token (None when there is none)."""
        if not self.token or COOKIE not in request.cookies:
            return None
        session = await self.storage.load_session(request)
        if session.get("district") is not True:
            return None
        return Principal("street_office", "session", frozenset({"district"}))

    def _check_csrf(self, request: web.Request, given: str) -> None:
        principal = request.get(PRINCIPAL)
        if principal is not None and principal.kind == "session" and not same_secret(given,
                                                                                      self.csrf):
            raise web.HTTPForbidden(text="表单已过期或来源不明 (CSRF)，请刷新页面后重试\n")

    # -- pages ----------------------------------------------------------------------------------

    def _page(self, template: str, status: int = 200, **context: Any) -> web.Response:
        html = self.templates.get_template(template).render(
            name=self.service.config.name, csrf=self.csrf, **context)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                            headers=_HEADERS)

    async def login_form(self, _request: web.Request) -> web.Response:
        return self._page("login.html", error="")

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        given = str(form.get("token", ""))[:512]
        if not self.token:
            return self._page("login.html", status=403, error="本服务没有设置访问令牌 "
                              "(district.yaml 的 http.token, 环境变量 "
                              "GRIDEDGE_DISTRICT_HTTP_TOKEN)，页面不开放")
        if not same_secret(given, self.token):
            return self._page("login.html", status=403, error="访问令牌不对")
        response = web.HTTPFound("/")
        session = Session(None, data=None, new=True, max_age=SESSION_MAX_AGE_S)
        session["district"] = True
        await self.storage.save_session(request, response, session)
        raise response

    async def overview(self, request: web.Request) -> web.Response:
        if await self.authenticate(request) is None and not self._bearer(request):
            raise web.HTTPFound("/login")
        sites = []
        for site in self.service.view.summary():
            sites.append({**site, "name": self.service.config.site_name(site["id"])})
        alerts = [{**a, "site_name": self.service.config.site_name(s),
                   "since": _when(a.get("first_ts")),
                   "state_name": STATE_NAMES.get(a.get("state"), a.get("state")),
                   "severity_name": SEVERITY_NAMES.get(a.get("severity"), a.get("severity")),
                   "escalated": (s, a["id"]) in self.service.escalated}
                  for s, a in self.service.view.open_alerts()]
        return self._page("district.html", sites=sites, alerts=alerts,
                          connected=self.service.mqtt.connected)

    def _bearer(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return bool(self.token) and same_secret(given, f"Bearer {self.token}")

    # -- API ------------------------------------------------------------------------------------

    async def api_sites(self, _request: web.Request) -> web.Response:
        view = self.service.view
        return web.json_response({
            "district": self.service.config.name, "connected": self.service.mqtt.connected,
            "sites": [{**s, "name": self.service.config.site_name(s["id"])}
                      for s in view.summary()],
            "rejected": dict(view.rejected)})

    async def api_alerts(self, _request: web.Request) -> web.Response:
        return web.json_response([{**a, "site": s, "escalated": (s, a["id"]) in
                                   self.service.escalated}
                                  for s, a in self.service.view.open_alerts()])

    async def api_announce(self, request: web.Request) -> web.Response:
        data = await _json(request)
        self._check_csrf(request, str(data.get("csrf", "")))
        sites, text = data.get("sites"), data.get("text")
        priority = data.get("priority", "important")
        if (not isinstance(sites, list) or not sites or not all(isinstance(s, str) for s in sites)
                or not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT
                or priority not in ANNOUNCE_PRIORITIES):
            raise web.HTTPBadRequest(text='需要 {"sites": ["小区编号", …], "text": "内容", '
                                     '"priority": "routine|important|emergency"}\n')
        ident = self.service.announce(sites, text.strip(), priority=priority)
        return web.json_response({"id": ident, "sites": sites})

    async def api_ack(self, request: web.Request) -> web.Response:
        data = await _json(request)
        self._check_csrf(request, str(data.get("csrf", "")))
        site, alert, by = data.get("site"), data.get("alert"), data.get("by")
        if not (isinstance(site, str) and isinstance(alert, int) and isinstance(by, str) and by):
            raise web.HTTPBadRequest(text='需要 {"site": "小区编号", "alert": 告警编号, '
                                     '"by": "确认人 (小区值班名单上的编号)"}\n')
        self.service.acknowledge(site, alert, by, str(data.get("note") or ""))
        return web.json_response({"site": site, "alert": alert, "by": by})

    async def healthz(self, _request: web.Request) -> web.Response:
        ok = self.service.mqtt.connected
        return web.json_response({"ok": ok, "sites": len(self.service.view.sites)},
                                 status=200 if ok else 503)


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            data = None
    else:
        data = dict(await request.post())
        if "sites" in data:
            data["sites"] = [s for s in str(data["sites"]).replace("，", ",").split(",") if s]
        if "alert" in data and str(data["alert"]).isdigit():
            data["alert"] = int(data["alert"])
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="请求内容应为 JSON 对象\n")
    return data


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return datetime.fromtimestamp(ts, TZ).strftime("%m-%d %H:%M")


def register(service: DistrictService) -> None:
    """Add the page, the login and the API to the service's HTTP server."""
    pages = _Web(service)
    http = service.http
    http.add_authenticator(pages.authenticate)
    http.add_routes([web.get("/", pages.overview), web.get("/login", pages.login_form),
                     web.post("/login", pages.login), web.get("/healthz", pages.healthz)],
                    public=True)
    http.add_routes([web.get("/api/sites", pages.api_sites),
                     web.get("/api/alerts", pages.api_alerts),
                     web.post("/api/announce", pages.api_announce),
                     web.post("/api/ack", pages.api_ack)])
