"""The phone page over real HTTP on loopback: one alert per link, forms that cannot be replayed,
forged / foreign / expired / resolved links refused, group-chat links, rate limits."""

from __future__ import annotations

import asyncio
import hmac
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge import http as http_module
from edge.alerts import AlertsComponent, phone_routes
from edge.alerts.const import LINK_KEY_FILE
from edge.app import App
from edge.config import load_config
from edge.profiles import load_registry
from tests.alerts.rig import (
    HANG_GUARD_S,
    ManualClock,
    MonotonicClock,
    Receiver,
    roster_section,
    trip,
)
from tests.broker.harness import Broker

LINK = re.compile(r"(http://[^\s/]+/a/[A-Za-z0-9_.-]+)")
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _call(url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with _OPENER.open(urllib.request.Request(url, data=data), timeout=HANG_GUARD_S) as reply:
            return reply.status, reply.read().decode(), dict(reply.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


class PhoneRig:
    """Store, the aiohttp server, alerts with the phone page (on a hand-moved clock), MQTT."""

    def __init__(self, config_path: Path, clock: ManualClock) -> None:
        self.config = load_config(config_path)
        self.app = App(self.config, load_registry())
        self.clock = clock
        self.http = http_module.create(self.app)
        self.mono = MonotonicClock()
        self.alerts = AlertsComponent(self.app, clock=clock, monotonic=self.mono)
        phone_routes.register(self.app, self.alerts)  # as the component's create() does

    async def __aenter__(self) -> PhoneRig:
        await self.app.store.start()
        await self.http.start()
        await self.alerts.start()
        await self.app.mqtt.start()
        assert await self.app.mqtt.wait_connected(HANG_GUARD_S)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.alerts.stop()
        await self.app.mqtt.stop()
        await self.http.stop()
        await self.app.store.stop()

    async def get(self, url: str) -> tuple[int, str, dict[str, str]]:
        """GET from a client thread (the server runs on this loop)."""
        return await asyncio.to_thread(_call, url)

    async def post(self, url: str, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """POST a form from a client thread."""
        return await asyncio.to_thread(_call, url, form)

    def row(self, alert_id: int) -> Any:
        """The alert as the manager has it."""
        assert self.alerts.manager is not None
        return self.alerts.manager.row(alert_id)


def _forge(token: str) -> str:
    """The token with one character of its signature changed (one that carries MAC bits)."""
    i = len(token) - 5
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


async def _links(receiver: Receiver, who: str, count: int) -> dict[int, str]:
    """alert id → the link of the first page ``who`` got about it."""
    assert await asyncio.to_thread(receiver.wait_for, lambda: len(
        {p["ref"][0] for p in receiver.to(who) if p["ref"]}) >= count)
    found: dict[int, str] = {}
    for page in receiver.to(who):
        match = LINK.search(page["message"])
        if page["ref"] and match and page["ref"][0] not in found:
            found[page["ref"][0]] = match[1]
    return found


@pytest.fixture
def phone_config(broker: Broker, receiver: Receiver, write_config: Callable[..., Path]) -> Path:
    """Four workers, each with a personal channel."""
    return write_config(broker, alerts=roster_section(receiver))


def test_a_link_shows_its_own_alert_and_a_form_acts_once_for_the_paged_worker(
        phone_config: Path, receiver: Receiver, clock: ManualClock) -> None:
    """Test that a page's link opens its alert only, an ack form acknowledges as the worker the
    link was sent to whatever the form says, and a nonce is single-use and bound to its page."""

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            rig.app.events.emit(trip(port=4))
            rig.app.events.emit(trip(port=5))
            links = await _links(receiver, "wang", 2)
            (first, link), (second, other) = sorted(links.items())
            assert link.startswith(f"{rig.http.base_url}/a/")
            status, page, headers = await rig.get(link)
            assert status == 200, page
            assert "4号口" in page and "5号口" not in page
            assert 'id="ack"' in page and 'id="on_site"' in page and 'id="reset"' not in page
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["Cache-Control"] == "no-store"
            nonce = NONCE.search(page)[1]
            other_nonce = NONCE.search((await rig.get(other))[1])[1]
            assert (await rig.post(link, {"action": "ack"}))[0] == 409       # no nonce
            assert (await rig.post(link, {"action": "ack", "nonce": other_nonce}))[0] == 409
            assert rig.row(first)["state"] == "firing"
            status, _body, headers = await rig.post(link, {
                "action": "ack", "nonce": nonce, "who": "duty", "alert": str(second)})
            assert (status, headers["Location"]) == (303, urllib.parse.urlsplit(link).path)
            assert (rig.row(first)["state"], rig.row(first)["acked_by"]) == ("acknowledged",
                                                                             "wang")
            assert rig.row(second)["state"] == "firing"  # nothing in a form names another alert
            assert (await rig.post(link, {"action": "on_site", "nonce": nonce}))[0] == 409
            status, page, _ = await rig.get(link)
            assert "您已于" in page and 'id="ack"' not in page
            for path in ("/a", "/a/", f"/a/{link.rsplit('/', 1)[1]}/x", "/a/list"):
                assert (await rig.get(rig.http.base_url + path))[0] == 404, path

    asyncio.run(scenario())


def test_forged_foreign_expired_and_resolved_links_show_nothing(
        phone_config: Path, receiver: Receiver, clock: ManualClock) -> None:
    """Test that a link with a changed signature, a link spliced from two alerts' links, an
    expired link and the link of a resolved alert all show a bare refusal, never the alert."""

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            rig.app.events.emit(trip(port=4))
            rig.app.events.emit(trip(port=5))
            links = await _links(receiver, "wang", 2)
            (first, link), (second, other) = sorted(links.items())
            assert (await rig.get(link))[0] == 200
            token, other_token = link.rsplit("/", 1)[1], other.rsplit("/", 1)[1]
            forged = _forge(token)
            spliced = other_token.split(".")[0] + "." + token.split(".")[1]
            for bad in (forged, spliced):
                status, page, _ = await rig.get(f"{rig.http.base_url}/a/{bad}")
                assert status == 404 and "链接无效" in page and "3号充电桩" not in page
            key = rig.config.data_dir / LINK_KEY_FILE
            assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
            rig.alerts.manager.resolve(second, "post.reset")
            status, page, _ = await rig.get(other)
            assert status == 410 and "警报已解除" in page and "5号口" not in page
            clock.advance(24 * 3600 + 1)
            status, page, _ = await rig.get(link)
            assert status == 410 and "过期" in page and "4号口" not in page

    asyncio.run(scenario())


def test_group_chat_link_asks_which_paged_person_answers(
        broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that a link sent into a shared chat names no worker: the page asks who answers,
    accepts only someone who was paged, and acknowledges as that person."""
    section = roster_section(receiver, escalation={"critical": {"repeat_every_min": 60, "steps": [
        {"after_min": 0, "notify": ["grid_worker", "duty_officer"]}]}})
    section["workers"]["duty"]["channels"] = [receiver.url("wang")]  # one group chat for both
    config = write_config(broker, alerts=section)

    async def scenario() -> None:
        async with PhoneRig(config, clock) as rig:
            rig.app.events.emit(trip())
            (alert_id, link), = (await _links(receiver, "wang", 1)).items()
            status, page, _ = await rig.get(link)
            assert status == 200 and "您是哪一位" in page
            assert 'value="wang"' in page and 'value="duty"' in page and 'value="chen"' not in page
            for who in ("", "chen"):
                nonce = NONCE.search((await rig.get(link))[1])[1]
                status, page, _ = await rig.post(link, {"action": "ack", "nonce": nonce,
                                                        "who": who})
                assert status == 422 and "请先选择您是谁" in page
            nonce = NONCE.search((await rig.get(link))[1])[1]
            assert (await rig.post(link, {"action": "ack", "nonce": nonce, "who": "duty"}))[0] \
                == 303
            assert rig.row(alert_id)["acked_by"] == "duty"

    asyncio.run(scenario())


def test_refused_links_are_rate_limited_per_client(
        phone_config: Path, receiver: Receiver, clock: ManualClock) -> None:
    """Test that after ten refused links a client gets 429 with Retry-After, even for a good
    link, so that guessing tokens gets nowhere."""

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            rig.app.events.emit(trip())
            (_alert_id, link), = (await _links(receiver, "wang", 1)).items()
            assert (await rig.get(link))[0] == 200
            guesses = [f"{rig.http.base_url}/a/{'A' * 22}.{i:022d}" for i in range(10)]
            assert [(await rig.get(g))[0] for g in guesses] == [404] * 10
            status, page, headers = await rig.get(link)
            assert (status, headers["Retry-After"]) == (429, "60") and "尝试次数过多" in page
            assert rig.alerts.phone.stats["rate_limited"] == 1

    asyncio.run(scenario())


def test_every_client_is_limited_to_thirty_requests_a_minute(
        phone_config: Path, receiver: Receiver, clock: ManualClock) -> None:
    """Test that a client reloading a good link more than 30 times in a burst gets 429."""

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            rig.app.events.emit(trip())
            (_alert_id, link), = (await _links(receiver, "wang", 1)).items()
            statuses = [(await rig.get(link))[0] for _ in range(31)]
            assert statuses == [200] * 30 + [429]

    asyncio.run(scenario())


def test_signatures_and_nonces_are_compared_in_constant_time(
        phone_config: Path, receiver: Receiver, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that checking a forged link and a forged form nonce goes through
    hmac.compare_digest (constant time), never a plain comparison."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            rig.app.events.emit(trip())
            (_alert_id, link), = (await _links(receiver, "wang", 1)).items()
            token = link.rsplit("/", 1)[1]
            forged = _forge(token)
            calls.clear()
            assert (await rig.get(f"{rig.http.base_url}/a/{forged}"))[0] == 404
            assert len(calls) == 1 and calls[0][0] != calls[0][1]
            assert len(calls[0][0]) == len(calls[0][1]) == 16
            page = (await rig.get(link))[1]
            nonce = NONCE.search(page)[1]
            calls.clear()
            forged_nonce = _forge(nonce)
            assert (await rig.post(link, {"action": "ack", "nonce": forged_nonce}))[0] == 409
            assert len(calls) == 2  # noqa: PLR2004 - the link, then the nonce
            assert calls[1][0] != calls[1][1]

    asyncio.run(scenario())


def test_links_outlive_a_restart_and_the_key_can_come_from_the_environment(
        phone_config: Path, receiver: Receiver, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a link sent before a restart still opens its page after it (the key stays in
    the data directory), and that with GRIDEDGE_LINK_KEY set no key file is written."""
    monkeypatch.delenv("GRIDEDGE_LINK_KEY", raising=False)

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            rig.app.events.emit(trip())
            (_alert_id, link), = (await _links(receiver, "wang", 1)).items()
            key_file = rig.config.data_dir / LINK_KEY_FILE
        path = urllib.parse.urlsplit(link).path  # each rig listens on a new free port
        async with PhoneRig(phone_config, clock) as rig:
            status, page, _ = await rig.get(rig.http.base_url + path)
            assert status == 200 and "4号口" in page
        key_file.unlink()
        monkeypatch.setenv("GRIDEDGE_LINK_KEY", "ab" * 32)
        async with PhoneRig(phone_config, clock) as rig:
            assert rig.alerts.phone is not None
            assert (await rig.get(rig.http.base_url + path))[0] == 404  # the old key's link
            assert not key_file.exists()

    asyncio.run(scenario())


def test_a_bad_key_turns_links_off_but_never_a_page(
        phone_config: Path, receiver: Receiver, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Test that a malformed GRIDEDGE_LINK_KEY is logged as an error and pages still go out,
    with the shell command instead of a link."""
    monkeypatch.setenv("GRIDEDGE_LINK_KEY", "not-hex")

    async def scenario() -> None:
        async with PhoneRig(phone_config, clock) as rig:
            assert rig.alerts.phone is None
            rig.app.events.emit(trip())
            assert await asyncio.to_thread(receiver.wait_for, lambda: receiver.to("wang"))
            message = receiver.to("wang")[0]["message"]
            assert "gridedge alerts ack" in message and "/a/" not in message

    asyncio.run(scenario())
    assert any("GRIDEDGE_LINK_KEY must be 64 hex digits" in r.getMessage()
               for r in caplog.records if r.levelname == "ERROR")
