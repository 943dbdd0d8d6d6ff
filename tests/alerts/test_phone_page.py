"""The phone page over real HTTP on loopback: one alert per link, forms that cannot be replayed,
forged / foreign / expired / resolved links refused, group-chat links, rate limits."""

from __future__ import annotations

import asyncio
import hmac
import stat
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.alerts.const import LINK_KEY_FILE
from tests.alerts.phone_rig import NONCE, PhoneRig, forge, links_of
from tests.alerts.rig import ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker


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
            links = await links_of(receiver, "wang", 2)
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
            links = await links_of(receiver, "wang", 2)
            (first, link), (second, other) = sorted(links.items())
            assert (await rig.get(link))[0] == 200
            token, other_token = link.rsplit("/", 1)[1], other.rsplit("/", 1)[1]
            forged = forge(token)
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
            (alert_id, link), = (await links_of(receiver, "wang", 1)).items()
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
            (_alert_id, link), = (await links_of(receiver, "wang", 1)).items()
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
            (_alert_id, link), = (await links_of(receiver, "wang", 1)).items()
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
            (_alert_id, link), = (await links_of(receiver, "wang", 1)).items()
            token = link.rsplit("/", 1)[1]
            forged = forge(token)
            calls.clear()
            assert (await rig.get(f"{rig.http.base_url}/a/{forged}"))[0] == 404
            assert len(calls) == 1 and calls[0][0] != calls[0][1]
            assert len(calls[0][0]) == len(calls[0][1]) == 16
            page = (await rig.get(link))[1]
            nonce = NONCE.search(page)[1]
            calls.clear()
            forged_nonce = forge(nonce)
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
            (_alert_id, link), = (await links_of(receiver, "wang", 1)).items()
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
