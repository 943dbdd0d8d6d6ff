"""The HTTP server alone: routes components add, body limits and timeouts, signed links."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from edge.config import HttpConfig
from edge.http import HttpServer, LinkError, LinkSigner, Principal, principal, require_role
from edge.http.const import BODY_TIMEOUT_S, MAX_BODY_BYTES

TOKEN = "server-test-token"
HANG_GUARD_S = 60.0


async def _exchange(port: int, raw: bytes, *, close_write: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        if close_write:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), HANG_GUARD_S)
    finally:
        writer.close()


def _request(method: str, path: str, body: bytes = b"", token: str | None = TOKEN,
             length: int | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: box", "Connection: close"]
    if token is not None:
        head.append(f"Authorization: Bearer {token}")
    if body or length is not None:
        head.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def test_components_add_open_and_closed_routes_and_subapps() -> None:
    """Test that added routes are closed unless public, sub-apps mount, and late adds are refused."""
    async def echo(request: web.Request) -> web.Response:
        found = principal(request)
        return web.Response(text=found.name if found else "anonymous")

    async def machine_only(request: web.Request) -> web.Response:
        return web.Response(text=require_role(request, "machine").kind)

    async def staff_only(request: web.Request) -> web.Response:
        return web.Response(text=require_role(request, "staff").name)

    async def session(request: web.Request) -> Principal | None:
        return Principal("wang", "session", frozenset({"staff"})) if \
            request.cookies.get("s") == "ok" else None

    async def scenario() -> None:
        server = HttpServer(HttpConfig(bind="127.0.0.1", port=0, token=TOKEN))
        server.add_routes([web.get("/open", echo)], public=True)
        server.add_routes([web.get("/closed", echo), web.get("/machine", machine_only),
                           web.get("/staff", staff_only)])
        sub = web.Application()
        sub.add_routes([web.get("/{token}", echo)])
        server.add_subapp("/a", sub, public=True)
        console = web.Application()
        console.add_routes([web.get("/home", echo)])
        server.add_subapp("/console", console)
        server.add_authenticator(session)
        await server.start()
        try:
            with pytest.raises(RuntimeError, match="create"):
                server.add_routes([web.get("/late", echo)], public=True)
            port = server.port
            assert _status(await _exchange(port, _request("GET", "/open", token=None))) == 200
            assert (await _exchange(port, _request("GET", "/open", token=None))).endswith(
                b"anonymous")
            assert _status(await _exchange(port, _request("GET", "/a/xyz", token=None))) == 200
            for path in ("/closed", "/console/home", "/machine", "/staff"):
                assert _status(await _exchange(port, _request("GET", path, token=None))) == 401
                assert _status(await _exchange(port, _request("GET", path, token="no"))) == 403
            assert (await _exchange(port, _request("GET", "/closed"))).endswith(b"token")
            assert (await _exchange(port, _request("GET", "/machine"))).endswith(b"token")
            assert _status(await _exchange(port, _request("GET", "/staff"))) == 403
            cookie = (b"GET /staff HTTP/1.1\r\nHost: box\r\nConnection: close\r\n"
                      b"Cookie: s=ok\r\n\r\n")
            assert (await _exchange(port, cookie)).endswith(b"wang")
            assert _status(await _exchange(port, cookie.replace(b"/staff", b"/machine"))) == 403
            assert _status(await _exchange(port, _request("GET", "/nowhere"))) == 404
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_bodies_are_bounded_in_size_and_time() -> None:
    """Test that an oversized body is refused (413) and a stalled one is cut (408), others still served."""
    async def upload(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    async def scenario() -> None:
        server = HttpServer(HttpConfig(bind="127.0.0.1", port=0, token=TOKEN))
        server.add_routes([web.post("/upload", upload)])
        await server.start()
        try:
            port = server.port
            ok = await _exchange(port, _request("POST", "/upload", b"x" * 1000))
            assert (_status(ok), ok.endswith(b"1000")) == (200, True)
            big = await _exchange(port, _request("POST", "/upload", b"x" * (MAX_BODY_BYTES + 1)))
            assert _status(big) == 413
            # Unauthenticated bodies are never read at all.
            anonymous = _request("POST", "/upload", b"x", token=None)
            assert _status(await _exchange(port, anonymous)) == 401
            loop = asyncio.get_running_loop()
            started = loop.time()
            stalled = asyncio.create_task(_exchange(port, _request("POST", "/upload", b"x" * 10,
                                                                   length=100)))
            # While that body stalls, other requests are answered.
            ok = await _exchange(port, _request("POST", "/upload", b"y" * 5))
            assert (_status(ok), stalled.done()) == (200, False)
            assert _status(await stalled) == 408
            assert loop.time() - started >= BODY_TIMEOUT_S * 0.9
            assert server.stats["body_timeouts"] == 1
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_signed_links_carry_their_subject_until_expiry_whatever_the_clock_does() -> None:
    """Test that a link verifies until it expires, a forged or altered one never, with a stepped clock."""
    now = [1_800_000_000.0]
    signer = LinkSigner(b"k" * 32, clock=lambda: now[0])
    token = signer.sign("alert:42:worker:li", max_age_s=3600)
    assert signer.verify(token) == "alert:42:worker:li"
    now[0] -= 7200          # the clock steps back two hours: still valid, not extended forever
    assert signer.verify(token) == "alert:42:worker:li"
    now[0] += 7200 + 3599
    assert signer.verify(token) == "alert:42:worker:li"
    now[0] += 1
    with pytest.raises(LinkError, match="expired"):
        signer.verify(token)
    now[0] -= 10
    body, signature = token.split(".")
    other = "B" if body[-1] == "A" else "A"
    forged = LinkSigner(b"x" * 32, clock=lambda: now[0]).sign("alert:42:worker:li")
    for bad in (forged, f"{body}.{signature[:-2]}AA", f"{body[:-1]}{other}.{signature}", "", ".",
                "abc", "a.b.c", f"{body}.", f".{signature}"):
        with pytest.raises(LinkError):
            signer.verify(bad)
    with pytest.raises(ValueError, match="32 bytes"):
        LinkSigner(b"short")


def test_the_configured_bind_address_is_kept() -> None:
    """Test that the server listens on the configured address only."""
    async def scenario() -> None:
        server = HttpServer(HttpConfig(bind="127.0.0.1", port=0))
        await server.start()
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5):
                pass
            assert server.base_url == f"http://127.0.0.1:{server.port}"
        finally:
            await server.stop()

    asyncio.run(scenario())
