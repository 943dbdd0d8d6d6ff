"""A real `gridedge run` on a real mosquitto, with console accounts made by `gridedge users`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge.config import load_config
from edge.console.users import Role, Users
from edge.store import Store
from tests.alerts.rig import Receiver, roster_section
from tests.broker.harness import Broker
from tests.browser import wait_listening
from tests.conftest import REPO, gridedge_command, site_config
from tests.processes import start_gridedge, stop_gridedge

HANG_GUARD_S = 90.0  # a guard against a hang, not a speed limit
PASSWORDS = {"admin": "admin-pass-1", "office": "office-pass-1", "wang": "wang-pass-01",
             "chen": "chen-pass-01", "clerk": "clerk-pass-01"}
# wang (grid worker) and chen (cadre) are on the roster: their role comes from config.yaml.
ROLES = {"admin": "admin", "office": "office", "clerk": "office"}
SCHEDULE = """\
announcements:
  早间提醒:
    text: 早上好, 请注意用电安全。
    speakers: [东门]
    at: ["08:00"]
    days: 每天
"""


@dataclass
class Site:
    """The running daemon: where it listens and its files."""

    url: str
    folder: Path
    config: Path
    log: Path

    def read_log(self) -> str:
        """The daemon's output so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], log: Path, cwd: Path) -> subprocess.Popen[str]:
    """A gridedge command in the background, output to ``log``."""
    return start_gridedge(args, log=log, cwd=cwd)


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then wait (kill only if it hangs)."""
    stop_gridedge(process)


def users(config: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    """``gridedge users …`` with the password on standard input."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [*gridedge_command(), "--lang", "zh", "users", "-c", str(config), *args]
    return subprocess.run(command, input=password + "\n",  # noqa: S603
                          capture_output=True, text=True,
                          env=env, timeout=HANG_GUARD_S, check=False)


def write_site(folder: Path, broker: Broker, site_id: str, receiver: Receiver, port: int,
               schedule: str = SCHEDULE) -> Path:
    """config.yaml (HTTP on ``port``, one schedule file) and the schedule, in ``folder``."""
    data = site_config(site_id, broker, folder / "data", alerts=roster_section(receiver))
    data["http"].update(port=port, public_url=f"http://127.0.0.1:{port}")
    data["schedules"] = {"files": ["schedules/announcements.yaml"]}
    (folder / "schedules").mkdir(parents=True, exist_ok=True)
    (folder / "schedules" / "announcements.yaml").write_text(schedule, encoding="utf-8")
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path



def add_accounts(config: Path) -> None:
    """The test accounts, through the accounts API (the command itself is tested on its own:
    one interpreter per account would cost seconds of CPU on a busy machine)."""
    loaded = load_config(config)
    store = Store(loaded.data_dir)
    store.open()
    try:
        accounts = Users(store)
        for name, password in PASSWORDS.items():
            role = Role(ROLES[name]) if name in ROLES else Role(
                loaded.alerts.workers[name].role.value)
            worker = name if name in loaded.alerts.workers else ""
            accounts.add(name, role, password, worker=worker, by="test")
    finally:
        store.close()


@pytest.fixture(scope="session")
def console_site(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[Site]:
    """One daemon for the console's HTTP tests (starting one costs seconds of CPU)."""
    folder = tmp_path_factory.mktemp("console")
    receiver = Receiver()
    port = free_port()
    site_id = "console-" + re.sub(r"\W", "", folder.name)[-12:]
    config = write_site(folder, broker, site_id, receiver, port)
    add_accounts(config)
    log = folder / "daemon.log"
    daemon = start(["run", "-c", str(config)], log, folder)
    try:
        assert wait_listening(port, daemon, HANG_GUARD_S), log.read_text()
        yield Site(f"http://127.0.0.1:{port}", folder, config, log)
    finally:
        stop(daemon)
        receiver.close()
