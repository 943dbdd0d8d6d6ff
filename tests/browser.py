"""Headless Debian Chromium for the browser tests, and waiting for a daemon's HTTP port.

Debian's ``chromium`` and ``chromedriver`` are used as installed (``.ci/run`` installs them when
it is root); Selenium is handed the driver's path, so Selenium Manager never downloads anything.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMEDRIVER", "CHROMIUM", "NEEDS_CHROMIUM", "chromium", "page_replaced",
           "wait_listening"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage")

NEEDS_CHROMIUM = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromedriver in /usr/bin (apt-get install chromium "
           "chromium-driver; .ci/run does it as root)")


def chromium(profile: Path, *extra_flags: str, page_load_timeout_s: float,
             mobile: dict[str, Any] | None = None) -> Any:
    """A headless Chromium with a fresh profile, driven through Debian's chromedriver.

    Args:
        profile: an empty folder for the profile.
        extra_flags: more command-line flags (window size, scripts off, ...).
        page_load_timeout_s: a guard against a hang, not a speed limit.
        mobile: chromedriver's mobile emulation settings (device metrics, user agent), if any.
    """
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 - after the skip

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, *extra_flags):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if mobile is not None:
        options.add_experimental_option("mobileEmulation", mobile)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(page_load_timeout_s)
    return driver


def wait_listening(port: int, process: subprocess.Popen[str], guard_s: float) -> bool:
    """True once something accepts connections on loopback ``port``; False if ``process`` ends
    or ``guard_s`` (a guard against a hang) passes first."""
    deadline = time.monotonic() + guard_s
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def page_replaced(err: Exception) -> bool:
    """Whether ``err`` only says that the page being read is being replaced by the next one.

    Besides a missing or stale element, Chromium sometimes reports a node of the page just left
    as "does not belong to the document" (seen under load): a look to repeat, not a failure.
    """
    from selenium.common.exceptions import (  # noqa: PLC0415 - selenium is a test extra
        NoSuchElementException, StaleElementReferenceException, WebDriverException)

    if isinstance(err, NoSuchElementException | StaleElementReferenceException):
        return True
    return isinstance(err, WebDriverException) and "does not belong to the document" in str(err)
