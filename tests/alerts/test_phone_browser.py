"""End to end on a phone: a real overload, the page link at a loopback phone, a real headless Chromium.

`gridedge run` and `gridedge simulate` (a post with two overloaded ports) on a real mosquitto;
Apprise ``json://`` channels post to a loopback receiver standing in for the phones. The
browser opens the link of the first page, taps 确认收到: escalation of that alert stops while
the other, unanswered alert escalates to the cadre. Then 已到现场处理, the safety tick and 复位:
the port is reset and the all-clear reaches everyone who was paged.

Needs Debian's ``chromium`` and ``chromedriver`` (``.ci/run`` installs them when it is root);
skipped with the reason otherwise. A screenshot of the page and the measured times are written
to ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerts.phone_rig import PhoneRig, links_of
from tests.alerts.rig import ManualClock, Receiver, roster_section, trip
from tests.broker.harness import Broker
from tests.browser import NEEDS_CHROMIUM, chromium, page_replaced, wait_listening
from tests.conftest import REPO, site_config
from tests.processes import start_gridedge, stop_gridedge

ARTIFACTS = REPO / "tests" / "artifacts"
HANG_GUARD_S = 90.0  # a guard against a hang, not a speed limit
ESCALATE_AFTER_MIN = 0.5
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/a/[A-Za-z0-9_.-]+)")
# A mid-range Android phone: 393×851 CSS pixels, Chrome on Android's user agent.
PHONE = {"deviceMetrics": {"width": 393, "height": 851, "pixelRatio": 2.0},
         "userAgent": "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 "
                      "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"}

pytestmark = NEEDS_CHROMIUM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chromium(profile: Path, *, javascript: bool = True) -> Any:
    """A phone: mobile emulation, or with scripts off a phone-sized window (chromedriver's
    emulated touch tap hangs when scripts are off)."""
    if javascript:
        return chromium(profile, page_load_timeout_s=HANG_GUARD_S, mobile=PHONE)
    return chromium(profile, "--blink-settings=scriptEnabled=false", "--window-size=393,851",
                    page_load_timeout_s=HANG_GUARD_S)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A phone-sized headless Chromium with a fresh profile."""
    driver = _chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


def _config(tmp_path: Path, broker: Broker, site_id: str, receiver: Receiver, port: int) -> Path:
    alerts = roster_section(receiver, escalation={"critical": {
        "repeat_every_min": 60, "steps": [
            {"after_min": 0, "notify": ["grid_worker", "duty_officer"]},
            {"after_min": ESCALATE_AFTER_MIN, "notify": ["cadre"]}]}})
    alerts["workers"]["wang"]["phone"] = "13800000001"
    data = site_config(site_id, broker, tmp_path / "data", alerts=alerts)
    data["http"].update(port=port, public_url=f"http://127.0.0.1:{port}")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path




def _start(args: list[str], log: Path) -> subprocess.Popen[str]:
    return start_gridedge(args, log=log, unset=["GRIDEDGE_LINK_KEY"])


def _pages(receiver: Receiver, who: str, alert_id: int, kind: str) -> list[dict[str, Any]]:
    marks = {"firing": "【紧急】", "escalation": "转给您", "ack": "【已有人处理】",
             "all_clear": "【已解除】"}
    return [p for p in receiver.to(who) if p["ref"] and p["ref"][0] == alert_id
            and marks[kind] in p["title"] + p["message"]]


def _overloads(receiver: Receiver) -> set[int]:
    return {p["ref"][0] for p in receiver.to("wang") if p["ref"] and "充电过流" in p["title"]}


def _tap(driver: Any, button_id: str) -> None:
    from selenium.common.exceptions import WebDriverException  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - selenium is a test extra
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element(By.ID, button_id)
    old.click()

    def gone(_driver: Any) -> bool:
        try:
            return bool(expected_conditions.staleness_of(old)(_driver))
        except WebDriverException as err:
            if page_replaced(err):
                return True  # the next page is there
            raise

    WebDriverWait(driver, HANG_GUARD_S).until(gone)


@pytest.mark.long
def test_phone_page_ack_stops_escalation_and_reset_brings_the_all_clear(
        tmp_path: Path, broker: Broker, site_id: str, receiver: Receiver, browser: Any) -> None:
    """Test that the page link of a real overload opens in Chromium, 确认收到 stops escalation of
    that alert (the unanswered one still escalates), and 复位 sends everyone paged the all-clear."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - selenium is a test extra

    port = _free_port()
    config = _config(tmp_path, broker, site_id, receiver, port)
    daemon = _start(["run", "-c", str(config)], tmp_path / "daemon.log")
    sim: subprocess.Popen[str] | None = None
    figures: dict[str, float] = {}
    try:
        assert wait_listening(port, daemon, HANG_GUARD_S), (tmp_path / "daemon.log").read_text()
        browser.get(f"http://127.0.0.1:{port}/a/not-a-real-link-at-all-000")  # warm the browser
        assert "链接已失效" in browser.page_source, (tmp_path / "daemon.log").read_text()
        sim = _start(["simulate", "-c", str(config), "--posts", "P03", "--post-interval", "0.2",
                      "--fault", "P03:4:step:amps=12", "--fault", "P03:5:step:amps=12"],
                     tmp_path / "sim.log")
        assert receiver.wait_for(lambda: len(_overloads(receiver)) == 2, HANG_GUARD_S), \
            (tmp_path / "daemon.log").read_text()
        paged_at = time.monotonic()
        # The later-raised alert escalates no earlier than the one acknowledged.
        acked, control = sorted(_overloads(receiver))
        first = _pages(receiver, "wang", acked, "firing")[0]
        link = LINK.search(first["message"])
        assert link, first["message"]
        assert link[1].startswith(f"http://127.0.0.1:{port}/a/")

        browser.get(link[1])
        opened_at = time.monotonic()
        page = browser.find_element(By.TAG_NAME, "body").text
        for words in ("充电过流", "3号充电桩", "3号楼西侧车棚", "请您", "刘敏", "确认收到",
                      "已到现场处理"):
            assert words in page, page
        # What the daemon did: the cut-off, sent or already confirmed by the readings.
        assert "已自动断开" in page or "已断电" in page, page
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "phone_page.png"
        browser.save_screenshot(str(shot))
        _tap(browser, "ack")
        acked_at = time.monotonic()
        assert "已于" in browser.find_element(By.TAG_NAME, "body").text
        log = tmp_path / "daemon.log"
        assert receiver.wait_for(lambda: _pages(receiver, "duty", acked, "ack"), HANG_GUARD_S), \
            log.read_text()
        told_at = time.monotonic()

        # The unanswered alert reaches the cadre: the acked one's deadline has passed too.
        assert receiver.wait_for(lambda: _pages(receiver, "chen", control, "escalation"),
                                 HANG_GUARD_S), log.read_text()
        assert _pages(receiver, "chen", acked, "escalation") == [], log.read_text()

        _tap(browser, "on_site")
        browser.find_element(By.NAME, "checked").click()
        browser.save_screenshot(str(ARTIFACTS / "phone_page_reset.png"))
        reset_tapped = time.monotonic()
        _tap(browser, "reset")
        assert "警报已解除" in browser.find_element(By.TAG_NAME, "body").text
        assert receiver.wait_for(lambda: _pages(receiver, "wang", acked, "all_clear")
                                 and _pages(receiver, "duty", acked, "all_clear"), HANG_GUARD_S), \
            log.read_text()
        cleared_at = time.monotonic()
        assert _pages(receiver, "chen", acked, "all_clear") == []  # never paged about it
        assert _pages(receiver, "chen", acked, "escalation") == []
        browser.get(link[1])
        assert "链接已失效" in browser.page_source
        figures = {"page_to_open_s": opened_at - paged_at, "page_to_ack_s": acked_at - paged_at,
                   "ack_to_colleague_told_s": told_at - acked_at,
                   "reset_tap_to_all_clear_s": cleared_at - reset_tapped,
                   "link_chars": len(link[1])}
    finally:
        if sim is not None:
            stop_gridedge(sim)
        stop_gridedge(daemon)
    (ARTIFACTS / "phone_e2e.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"\nphone e2e: {json.dumps(figures)}; screenshot {shot}")  # noqa: T201 - the figures


def test_the_page_works_with_javascript_off(
        tmp_path: Path, broker: Broker, receiver: Receiver, clock: ManualClock,
        write_config: Callable[..., Path]) -> None:
    """Test that with JavaScript disabled in Chromium the page still shows the alert and a tap
    on 确认收到 (a plain form POST) acknowledges it."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - selenium is a test extra

    config = write_config(broker, alerts=roster_section(receiver))
    driver = _chromium(tmp_path / "chromium-nojs", javascript=False)

    async def scenario() -> None:
        async with PhoneRig(config, clock) as rig:
            rig.app.events.emit(trip())
            (alert_id, link), = (await links_of(receiver, "wang", 1)).items()
            probe = "data:text/html,<title>off</title><script>document.title='on'</script>"
            await asyncio.to_thread(driver.get, probe)
            assert driver.title == "off"  # scripts really do not run in this browser
            await asyncio.to_thread(driver.get, link)
            body = await asyncio.to_thread(lambda: driver.find_element(By.TAG_NAME, "body").text)
            assert "3号充电桩 4号口" in body and "确认收到" in body
            await asyncio.to_thread(lambda: driver.find_element(By.ID, "ack").click())
            assert await rig.until(lambda: rig.row(alert_id)["state"] == "acknowledged")
            assert rig.row(alert_id)["acked_by"] == "wang"

    try:
        asyncio.run(scenario())
    finally:
        driver.quit()
