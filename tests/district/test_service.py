"""`gridedge district run` on the NATS cluster: the view, the page and API, escalation, acks."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from edge.district.config import load_district_config
from edge.district.service import DistrictService
from tests.district.cluster import NatsCluster
from tests.district.conftest import (NEEDS_CLUSTER, Receiver, node_endpoint,
                                     write_district_config)
from tests.edge.mqtt_probe import Probe

# A guard, not a speed limit: the first test on a worker also starts the cluster.
pytestmark = [NEEDS_CLUSTER, pytest.mark.timeout(180)]
HANG_GUARD_S = 30.0


async def until(check: Callable[[], object], timeout: float = HANG_GUARD_S) -> None:
    """Wait until check() is true (a hang guard, not a speed limit)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def _publish_site(probe: Probe, site: str, *, alert_age_s: float = 0.0) -> None:
    """What a site's bridge carries up: availability, a post's state, an open alert."""
    probe.publish(f"gridedge/{site}/daemon/availability", "online", retain=True)
    probe.publish(f"gridedge/{site}/posts/P01/state", json.dumps(
        {"post": "P01", "name": "1号充电桩", "online": True, "latched_ports": [4]}), retain=True)
    probe.publish(f"gridedge/{site}/alerts/12", json.dumps(
        {"id": 12, "kind": "post.trip", "state": "firing", "severity": "critical",
         "first_ts": time.time() - alert_age_s, "title": "1号充电桩4号插座过载断电",
         "message": "1号充电桩4号插座过载, 已断电"}), retain=True)


def test_view_page_and_api_are_rebuilt_by_any_instance(
        nats_cluster: NatsCluster, tmp_path: Path, site_id: str, probes) -> None:
    probe = probes(node_endpoint(nats_cluster, 1), f"gridedge/{site_id}/#")
    _publish_site(probe, site_id)
    config = load_district_config(write_district_config(
        tmp_path, nats_cluster, sites={site_id: "建院1号小区"}))

    async def main() -> None:
        first, second = DistrictService(config), DistrictService(config, settle_s=0.5)
        await first.start()
        await second.start()  # a second instance beside it, on the same node
        try:
            for service in (first, second):
                await until(lambda s=service: s.view.sites.get(site_id) and
                            s.view.sites[site_id].alerts)
            assert first.view.sites[site_id].summary() == second.view.sites[site_id].summary()
            base = f"http://127.0.0.1:{first.http.port}"
            # unsafe: keep cookies of an IP address host (loopback)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(f"{base}/api/sites") as r:
                    assert r.status == 401  # noqa: PLR2004
                headers = {"Authorization": "Bearer district-token"}
                async with http.get(f"{base}/api/sites", headers=headers) as r:
                    data = await r.json()
                site = next(s for s in data["sites"] if s["id"] == site_id)
                assert site["name"] == "建院1号小区"
                assert site["latched_ports"] == 1
                assert [a["id"] for a in site["open_alerts"]] == [12]
                async with http.get(f"{base}/", allow_redirects=False) as r:
                    assert r.status == 302 and r.headers["Location"] == "/login"  # noqa: PLR2004
                async with http.post(f"{base}/login", data={"token": "wrong"}) as r:
                    assert r.status == 403 and "访问令牌不对" in await r.text()  # noqa: PLR2004
                async with http.post(f"{base}/login", data={"token": "district-token"}) as r:
                    page = await r.text()
                assert "中院街道" in page and "建院1号小区" in page
                assert "1号充电桩4号插座过载断电" in page and "未处理" in page
                # The page's announcement form: with the session it needs the page's CSRF field.
                form = {"sites": site_id, "text": "今晚停水", "priority": "routine"}
                async with http.post(f"{base}/api/announce", data=form) as r:
                    assert r.status == 403  # noqa: PLR2004
                csrf = re.search(r'name="csrf" value="([^"]+)"', page)
                assert csrf is not None
                async with http.post(f"{base}/api/announce", data={**form, "csrf": csrf[1]}) as r:
                    assert r.status == 200, await r.text()  # noqa: PLR2004
                    ident = (await r.json())["id"]
                topic = f"gridedge/{site_id}/district/announce"
                assert await asyncio.to_thread(probe.wait_for, lambda m: any(
                    t == topic and json.loads(p)["id"] == ident for t, p, _ in m))
                # The cookie of one instance opens the other (no key file, no local state).
                port2 = second.http.port
                async with http.get(f"http://127.0.0.1:{port2}/api/alerts") as r:
                    assert r.status == 200  # noqa: PLR2004
                    assert [a["id"] for a in await r.json() if a["site"] == site_id] == [12]
        finally:
            await first.stop()
            await second.stop()

    asyncio.run(main())


def test_unacknowledged_alert_pages_the_street_office_once_across_restarts(
        nats_cluster: NatsCluster, tmp_path: Path, site_id: str, probes) -> None:
    probe = probes(node_endpoint(nats_cluster, 0), f"gridedge/{site_id}/#")
    _publish_site(probe, site_id, alert_age_s=3600)

    async def main() -> None:
        receiver = Receiver()
        await receiver.start()
        config = load_district_config(write_district_config(
            tmp_path, nats_cluster, node=2, channels=[receiver.url], after_min=30,
            sites={site_id: "建院1号小区"}))
        try:
            service = DistrictService(config, settle_s=0.5, tick_s=0.1)
            await service.start()
            try:
                mine = lambda: [b for b in receiver.bodies if site_id in b.get("gridedge_id", "")]  # noqa: E731
                await until(lambda: mine() and (site_id, 12) in service.escalated)
                assert "建院1号小区" in mine()[0]["title"]
                assert "无人确认" in mine()[0]["message"]
            finally:
                await service.stop()
            # The marker is on the broker: a restarted (or second) service does not page again.
            again = DistrictService(config, settle_s=0.5, tick_s=0.1)
            await again.start()
            try:
                await until(lambda: (site_id, 12) in again.escalated)
                for _ in range(10):
                    again.tick()
                    await asyncio.sleep(0.1)
                assert len(mine()) == 1
                # The street office acknowledges: it goes to the site's alert ack topic.
                base = f"http://127.0.0.1:{again.http.port}"
                async with aiohttp.ClientSession() as http:
                    async with http.post(f"{base}/api/ack", json={
                            "site": site_id, "alert": 12, "by": "street_office"},
                            headers={"Authorization": "Bearer district-token"}) as r:
                        assert r.status == 200, await r.text()  # noqa: PLR2004
                await asyncio.to_thread(probe.wait_for, lambda m: any(
                    t == f"gridedge/{site_id}/alerts/12/ack" for t, _, _ in m))
                # The alert resolves at the site: the marker is cleared.
                probe.publish(f"gridedge/{site_id}/alerts/12", "", retain=True)
                await until(lambda: (site_id, 12) not in again.escalated)
                await asyncio.to_thread(probe.wait_for, lambda m: (
                    f"gridedge/{site_id}/district/escalated/12", "", False) in m)
            finally:
                await again.stop()
        finally:
            await receiver.stop()

    asyncio.run(main())


SKEW_S = 3600.0      # one site box an hour slow, another an hour fast
ESCALATE_AFTER_S = 3.0


def test_a_site_clock_an_hour_off_neither_pages_early_nor_holds_the_page_back(
        nats_cluster: NatsCluster, tmp_path: Path, site_id: str, probes) -> None:
    """Test that the street office is paged ESCALATE_AFTER_S after an alert began by the site's
    own clock, whichever way that clock is off: the service learns each site's offset from its
    live state documents (by its alert's first_ts alone, the slow site paged at once and the fast
    one an hour late)."""
    slow, fast = f"{site_id}-slow", f"{site_id}-fast"
    probe = probes(node_endpoint(nats_cluster, 0), "gridedge/#")

    async def main() -> None:
        receiver = Receiver()
        await receiver.start()
        config = load_district_config(write_district_config(
            tmp_path, nats_cluster, node=1, channels=[receiver.url],
            after_min=ESCALATE_AFTER_S / 60, sites={slow: "慢钟小区", fast: "快钟小区"}))
        service = DistrictService(config, settle_s=0.5, tick_s=0.1)
        await service.start()
        try:
            await until(lambda: service.mqtt.connected)
            skews = {slow: -SKEW_S, fast: SKEW_S}  # site clock - true time
            for _ in range(3):  # state documents arriving live, as a site sends them
                for site, skew in skews.items():
                    probe.publish(f"gridedge/{site}/posts/P01/state", json.dumps(
                        {"post": "P01", "online": True, "updated": time.time() + skew}),
                        retain=True)  # as the site publishes them
            await until(lambda: all(site in service.view.sites and service.view.sites[site].posts
                                    for site in skews))
            began = time.time()
            for site, skew in skews.items():
                probe.publish(f"gridedge/{site}/alerts/12", json.dumps(
                    {"id": 12, "kind": "post.trip", "state": "firing", "severity": "critical",
                     "first_ts": began + skew, "title": "1号充电桩4号插座过载断电"}), retain=True)
            paged: dict[str, float] = {}

            def both_paged() -> bool:
                for body in receiver.bodies:
                    for site in skews:
                        if body.get("gridedge_id", "").startswith(f"district-{site}-"):
                            paged.setdefault(site, time.time() - began)
                return len(paged) == len(skews)

            await until(both_paged)
            # Load can only make a page later, never earlier than the alert's age allows.
            assert min(paged.values()) >= ESCALATE_AFTER_S - 0.5, paged
        finally:
            await service.stop()
            await receiver.stop()
            for site in (slow, fast):
                probe.publish(f"gridedge/{site}/alerts/12", "", retain=True)
                probe.publish(f"gridedge/{site}/posts/P01/state", "", retain=True)

    asyncio.run(main())


def test_announce_command_sends_one_id_to_each_chosen_site(
        nats_cluster: NatsCluster, tmp_path: Path, site_id: str, probes) -> None:
    import subprocess  # noqa: PLC0415

    from tests.conftest import gridedge_command  # noqa: PLC0415

    config = write_district_config(tmp_path, nats_cluster, node=0)
    watch = probes(node_endpoint(nats_cluster, 2), "gridedge/+/district/announce")
    done = subprocess.run([*gridedge_command(), "district", "announce", "-c", str(config),
                           "--sites", f"{site_id}-a，{site_id}-b", "--priority", "routine",
                           "--id", "pension-7", "养老保险认证本月底截止"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "通知 pension-7 已发往 2 个小区" in done.stdout
    assert watch.wait_for(lambda m: {t for t, _, _ in m} >= {
        f"gridedge/{site_id}-a/district/announce", f"gridedge/{site_id}-b/district/announce"})
    sent = {json.loads(p)["id"] for t, p, _ in watch.messages if site_id in t}
    assert sent == {"pension-7"}
    payload = json.loads(next(p for t, p, _ in watch.messages if site_id in t))
    assert payload == {"id": "pension-7", "text": "养老保险认证本月底截止", "speakers": "all",
                       "priority": "routine"}


def test_district_commands_refuse_a_wrong_file_in_chinese(tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415

    from tests.conftest import gridedge_command  # noqa: PLC0415

    bad = tmp_path / "district.yaml"
    bad.write_text("name: 中院街道\nbroker: {port: 99999}\nescalation: {after_min: 0}\n",
                   encoding="utf-8")
    for verb in (["run"], ["announce", "--sites", "a", "text"]):
        done = subprocess.run([*gridedge_command(), "district", *verb, "-c", str(bad)],
                              capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 2  # noqa: PLR2004
        assert "broker.port" in done.stderr and "escalation.after_min" in done.stderr
        assert "个问题" in done.stderr


def test_without_a_token_the_page_stays_closed_and_says_why(nats_cluster: NatsCluster,
                                                           tmp_path: Path) -> None:
    config = load_district_config(write_district_config(tmp_path, nats_cluster, token=""))

    async def main() -> None:
        service = DistrictService(config)
        await service.start()
        try:
            base = f"http://127.0.0.1:{service.http.port}"
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/login", data={"token": ""}) as r:
                    assert r.status == 403  # noqa: PLR2004
                    assert "没有设置访问令牌" in await r.text()
                async with http.get(f"{base}/api/sites",
                                    headers={"Authorization": "Bearer "}) as r:
                    assert r.status in (401, 403)
        finally:
            await service.stop()

    asyncio.run(main())


def test_run_says_so_when_its_http_port_is_taken(nats_cluster: NatsCluster,
                                                 tmp_path: Path) -> None:
    import socket  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    from tests.conftest import gridedge_command  # noqa: PLC0415

    path = write_district_config(tmp_path, nats_cluster)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["http"]["port"] = taken.getsockname()[1]
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        done = subprocess.run([*gridedge_command(), "district", "run", "-c", str(path)],
                              capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 1
    assert "错误: HTTP server cannot listen on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr
