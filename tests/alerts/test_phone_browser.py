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

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerts.rig import Receiver, roster_section
from tests.broker.harness import Broker
from tests.conftest import REPO, gridedge_command, site_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "tests" / "artifacts"
HANG_GUARD_S = 90.0  # a guard against a hang, not a speed limit
ESCALATE_AFTER_MIN = 0.5
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/a/[A-Za-z0-9_.-]+)")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage")
# A mid-range Android phone: 393×851 CSS pixels, Chrome on Android's user agent.
PHONE = {"deviceMetrics": {"width": 393, "height": 851, "pixelRatio": 2.0},
         "userAgent": "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 "
                      "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"}

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromedriver in /usr/bin (apt-get install chromium "
           "chromium-driver; .ci/run does it as root)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium through Debian's chromedriver; Selenium Manager fetches nothing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 - after the skip

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_experimental_option("mobileEmulation", PHONE)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(HANG_GUARD_S)
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


def _wait_listening(port: int, daemon: subprocess.Popen[str]) -> bool:
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline and daemon.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _start(args: list[str], log: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("GRIDEDGE_LINK_KEY", None)
    return subprocess.Popen([*gridedge_command(), "--lang", "zh", *args],  # noqa: S603
                            stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=REPO)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            process.kill()


def _pages(receiver: Receiver, who: str, alert_id: int, kind: str) -> list[dict[str, Any]]:
    marks = {"firing": "【紧急】", "escalation": "转给您", "ack": "【已有人处理】",
             "all_clear": "【已解除】"}
    return [p for p in receiver.to(who) if p["ref"] and p["ref"][0] == alert_id
            and marks[kind] in p["title"] + p["message"]]


def _tap(driver: Any, button_id: str) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - selenium is a test extra
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element(By.ID, button_id)
    old.click()
    WebDriverWait(driver, HANG_GUARD_S).until(expected_conditions.staleness_of(old))


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
        assert _wait_listening(port, daemon), (tmp_path / "daemon.log").read_text()
        browser.get(f"http://127.0.0.1:{port}/a/not-a-real-link-at-all-000")  # warm the browser
        assert "链接已失效" in browser.page_source, (tmp_path / "daemon.log").read_text()
        sim = _start(["simulate", "-c", str(config), "--posts", "P03", "--post-interval", "0.2",
                      "--fault", "P03:4:step:amps=12", "--fault", "P03:5:step:amps=12"],
                     tmp_path / "sim.log")
        assert receiver.wait_for(lambda: len({p["ref"][0] for p in receiver.to("wang")
                                              if p["ref"]}) == 2, HANG_GUARD_S), \
            (tmp_path / "daemon.log").read_text()
        paged_at = time.monotonic()
        ids = sorted({p["ref"][0] for p in receiver.to("wang") if p["ref"]})
        acked, control = ids  # the later-raised alert escalates no earlier than the acked one
        first = _pages(receiver, "wang", acked, "firing")[0]
        link = LINK.search(first["message"])
        assert link, first["message"]
        assert link[1].startswith(f"http://127.0.0.1:{port}/a/")

        browser.get(link[1])
        opened_at = time.monotonic()
        page = browser.find_element(By.TAG_NAME, "body").text
        for words in ("充电过流", "3号充电桩", "3号楼西侧车棚", "已断电", "请您", "刘敏",
                      "确认收到", "已到现场处理"):
            assert words in page, page
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "phone_page.png"
        browser.save_screenshot(str(shot))
        _tap(browser, "ack")
        acked_at = time.monotonic()
        assert "已于" in browser.find_element(By.TAG_NAME, "body").text
        assert receiver.wait_for(lambda: _pages(receiver, "duty", acked, "ack"), HANG_GUARD_S)
        told_at = time.monotonic()

        # The unanswered alert reaches the cadre: the acked one's deadline has passed too.
        assert receiver.wait_for(lambda: _pages(receiver, "chen", control, "escalation"),
                                 HANG_GUARD_S)
        assert _pages(receiver, "chen", acked, "escalation") == []

        _tap(browser, "on_site")
        browser.find_element(By.NAME, "checked").click()
        browser.save_screenshot(str(ARTIFACTS / "phone_page_reset.png"))
        reset_tapped = time.monotonic()
        _tap(browser, "reset")
        assert "警报已解除" in browser.find_element(By.TAG_NAME, "body").text
        assert receiver.wait_for(lambda: _pages(receiver, "wang", acked, "all_clear")
                                 and _pages(receiver, "duty", acked, "all_clear"), HANG_GUARD_S)
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
            _stop(sim)
        _stop(daemon)
    (ARTIFACTS / "phone_e2e.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"\nphone e2e: {json.dumps(figures)}; screenshot {shot}")  # noqa: T201 - the figures
