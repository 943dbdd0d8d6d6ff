"""End to end in a real headless Chromium: the office console on `gridedge run` and `gridedge
simulate` (a post with an overloaded port, the virtual speakers) on a real mosquitto.

One browser session walks through the console as the office would: log in, type a slot with a
full-width colon, see the error at its line, fix it, save, find the new slot in the timetable;
then a grid worker acknowledges the overload alert and resets the latched port (after the
confirmation), a cadre sees no reset button, and at the slot's time the play from the simulated
speaker appears in the proof of play. Screenshots of every page go to ``tests/artifacts/``.

Needs Debian's ``chromium`` and ``chromedriver`` (``.ci/run`` installs them when it is root);
skipped with the reason otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.alerts.rig import Receiver
from tests.broker.harness import Broker
from tests.browser import NEEDS_CHROMIUM, chromium, page_replaced, wait_listening
from tests.conftest import REPO
from tests.console.conftest import (HANG_GUARD_S, PASSWORDS, add_accounts, free_port, start, stop,
                                    write_site)

ARTIFACTS = REPO / "tests" / "artifacts"
SITE_TZ = ZoneInfo("Asia/Shanghai")
MIN_LEAD_S = 40  # the slot must still be ahead when the edit is saved

pytestmark = NEEDS_CHROMIUM


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A desktop-sized headless Chromium with a fresh profile."""
    driver = chromium(tmp_path / "chromium-profile", "--window-size=1280,1000",
                      page_load_timeout_s=HANG_GUARD_S)
    yield driver
    driver.quit()


def _until(driver: Any, condition: Any, *, reload: bool = False,
           guard_s: float = HANG_GUARD_S) -> Any:
    """Wait for ``condition(driver)`` to be truthy, reloading the page between looks if asked."""
    from selenium.common.exceptions import WebDriverException  # noqa: PLC0415 - a test extra

    deadline = time.monotonic() + guard_s
    while True:
        try:
            found = condition(driver)
        except WebDriverException as err:
            if not page_replaced(err):
                raise
            found = None  # the page is being replaced by the next one: look again
        if found:
            return found
        assert time.monotonic() < deadline, _body(driver)[-3000:]
        if reload:
            driver.refresh()
        time.sleep(0.5)


def _body(driver: Any) -> str:
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - selenium is a test extra

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _login(driver: Any, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    driver.get(f"{url}/console/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    driver.find_element(By.ID, "login-button").click()
    _until(driver, lambda d: "退出" in _body(d))


def _logout(driver: Any) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    driver.find_element(By.CSS_SELECTOR, "form.who button").click()
    _until(driver, lambda d: "登录" in _body(d))


def _shot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"console_{name}.png"
    driver.save_screenshot(str(path))
    return path


def _slot() -> datetime:
    now = datetime.now(SITE_TZ)
    slot = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return slot if (slot - now).total_seconds() >= MIN_LEAD_S else slot + timedelta(minutes=1)


@pytest.mark.long
@pytest.mark.timeout(300)  # the slot is up to two minutes ahead: a guard, not a speed limit
def test_office_console_end_to_end(tmp_path: Path, broker: Broker, site_id: str,
                                   browser: Any) -> None:
    """Test that staff fix a checker error at its line, the saved slot shows in the timetable
    and plays on a simulated speaker, a worker acks an alert and resets a latched port, and a
    cadre cannot reset."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    receiver = Receiver()
    port = free_port()
    config = write_site(tmp_path, broker, site_id, receiver, port)
    add_accounts(config)
    url = f"http://127.0.0.1:{port}"
    daemon = start(["run", "-c", str(config)], tmp_path / "daemon.log", tmp_path)
    sim = None
    shots: list[Path] = []
    try:
        assert wait_listening(port, daemon, HANG_GUARD_S), (tmp_path / "daemon.log").read_text()
        sim = start(["simulate", "-c", str(config), "--posts", "P03", "--post-interval", "0.5",
                     "--fault", "P03:4:step:amps=12"], tmp_path / "sim.log", tmp_path)

        # 1. The office edits the schedule: a full-width colon is refused at its line.
        _login(browser, url, "office")
        browser.get(f"{url}/console/edit?file=schedules/announcements.yaml")
        slot = _slot()
        hhmm = slot.strftime("%H:%M")
        text = browser.find_element(By.ID, "text")
        addition = (f"\n  控制台测试广播:\n    text: 这是控制台加的测试广播。\n"
                    f"    speakers: [东门]\n    at: [\"{hhmm.replace(':', '：')}\"]\n"
                    f"    days: 每天\n    priority: emergency\n")
        browser.execute_script("arguments[0].value += arguments[1];", text, addition)
        browser.find_element(By.ID, "save").click()
        _until(browser, lambda d: d.find_elements(By.ID, "problems"))
        problems = browser.find_element(By.ID, "problems").text
        assert "第 11 行" in problems and "全角" in problems, problems
        assert browser.find_elements(By.ID, "line-11"), "the gutter marks line 11"
        shots.append(_shot(browser, "editor_error"))
        assert "控制台测试广播" not in (tmp_path / "schedules" / "announcements.yaml").read_text(
            encoding="utf-8")

        fixed = browser.find_element(By.ID, "text").get_attribute("value").replace("：", ":")
        area = browser.find_element(By.ID, "text")
        browser.execute_script("arguments[0].value = arguments[1];", area, fixed)
        browser.find_element(By.ID, "note").send_keys("加一条测试广播")
        browser.find_element(By.ID, "save").click()
        _until(browser, lambda d: d.find_elements(By.ID, "saved"))
        assert "已保存" in browser.find_element(By.ID, "saved").text
        shots.append(_shot(browser, "editor_saved"))

        # 2. The timetable shows the new slot (once the daemon reloaded the file).
        browser.get(f"{url}/console/timetable")
        _until(browser, lambda d: f"{hhmm} 控制台测试广播" in _body(d), reload=True)
        shots.append(_shot(browser, "timetable"))
        _logout(browser)

        # 3. A cadre sees the latched port but has no reset button.
        _login(browser, url, "chen")
        _until(browser, lambda d: d.find_elements(By.ID, "port-P03-4")
               and "已锁定" in d.find_element(By.ID, "port-P03-4").text, reload=True)
        assert not browser.find_elements(By.ID, "reset-P03-4")
        _logout(browser)

        # 4. The grid worker acknowledges the alert and resets the port after confirming.
        _login(browser, url, "wang")
        ack = _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "button[id^=ack-]"),
                     reload=True)[0]
        shots.append(_shot(browser, "overview"))
        alert_id = ack.get_attribute("id").removeprefix("ack-")
        ack.click()
        _until(browser, lambda d: f"告警 #{alert_id} 已确认" in _body(d))
        browser.find_element(By.ID, "confirm-P03-4").click()
        browser.find_element(By.ID, "reset-P03-4").click()
        dialog = browser.switch_to.alert
        assert "复位" in dialog.text
        dialog.accept()
        _until(browser, lambda d: "P03 4 号口已复位（操作人 wang）" in _body(d))
        shots.append(_shot(browser, "overview_after_reset"))
        _logout(browser)

        # 5. At its time, the play from the simulated speaker is in the proof of play.
        _login(browser, url, "office")
        browser.get(f"{url}/console/plays?date={slot.date().isoformat()}")
        # The guard counts from the slot, which may still be a minute or more ahead here.
        until_slot_s = max(0.0, (slot - datetime.now(SITE_TZ)).total_seconds())
        _until(browser, lambda d: re.search(r"控制台测试广播\s+紧急\s+已播放", _body(d)),
               reload=True, guard_s=until_slot_s + HANG_GUARD_S)
        shots.append(_shot(browser, "plays"))
        browser.get(f"{url}/console/say")
        shots.append(_shot(browser, "say"))
        browser.set_window_size(393, 851)  # a phone's width: nothing may need a wider screen
        browser.get(f"{url}/console/")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 393 + 1, width  # noqa: PLR2004 - one pixel of rounding
        shots.append(_shot(browser, "overview_phone"))
    finally:
        if sim is not None:
            stop(sim)
        stop(daemon)
        receiver.close()
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8", errors="replace")
    assert "console.port_reset" in log and "console.alert_acknowledged" in log
    print("\nconsole screenshots: " + ", ".join(str(s) for s in shots))  # noqa: T201
