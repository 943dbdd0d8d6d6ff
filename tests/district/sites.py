"""Whole sites for the district tests: a site mosquitto bridged to the cluster with the generated
block, the real daemon (`gridedge run`) and its virtual posts and speakers (`gridedge simulate`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import yaml

from edge.config import load_config
from edge.district.uplink import uplink_config
from edge.sim.broker import stop_process
from edge.store import DB_NAME
from tests.broker.harness import Broker
from tests.conftest import gridedge_command, site_config, write_site

__all__ = ["STREET_OFFICE", "Site"]

# The worker the street office acknowledges as: on every site's roster (docs/deploy.md).
STREET_OFFICE = "street_office"


def small_site(site_id: str, broker: Broker, folder: Path, upstreams: list[str]) -> dict:
    """The shipped site cut down to one gate speaker and one post, with a district uplink."""
    data = site_config(site_id, broker, folder / "data")
    data["speakers"] = {"defaults": {"profile": "gridedge-speaker", "volume": 70},
                        "devices": {"east_gate": {"name": "东门", "location": "东门岗亭"}}}
    data["posts"] = {"defaults": {"profile": "gridedge-post", "ports": 4, "offline_after_s": 60},
                     "devices": {"P01": {"name": "1号充电桩", "location": "1号楼车棚"}}}
    data["areas"] = {"第一网格": {"location": "1号楼", "posts": ["P01"], "speakers": ["东门"]},
                     "第二网格": {"location": "2号楼", "posts": [], "speakers": []}}
    data["alerts"]["workers"][STREET_OFFICE] = {"name": "街道值班室", "role": "cadre",
                                                "channels": []}
    data["district"] = {"upstreams": upstreams, "retry_s": 1, "keepalive_s": 5}
    return data


class Site:
    """One community: its broker, daemon and simulator, all real processes."""

    def __init__(self, site_id: str, folder: Path, upstreams: list[str]) -> None:
        self.id = site_id
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.broker = Broker(folder)
        text = yaml.safe_dump(small_site(site_id, self.broker, folder, upstreams),
                              allow_unicode=True, sort_keys=False)
        self.config_path = write_site(folder, text)
        self.config = load_config(self.config_path)
        self.broker.extra_conf = "\n" + uplink_config(self.config, environ={})
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self, *, posts: bool = True) -> None:
        """Broker first, then the daemon and the simulator (of the speakers only, unless
        ``posts``: a site whose posts the test does not use costs less to start)."""
        self.broker.start()
        simulate = ["simulate", "--post-interval", "0.5", *([] if posts else ["--only",
                                                                                "speakers"])]
        for command, log in ((["run"], "daemon.log"), (simulate, "simulate.log")):
            out = (self.folder / log).open("wb")
            self._processes.append(subprocess.Popen(  # noqa: S603
                [*gridedge_command(), "--lang", "en", *command, "-c", str(self.config_path)],
                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)))
            out.close()

    def terminate(self) -> None:
        """Ask the daemon to stop without waiting (stop() waits); the simulator is killed: it is
        not under test, and its will says offline as a clean stop would."""
        daemon, *simulators = self._processes
        daemon.terminate()
        for process in simulators:
            process.kill()

    def stop(self) -> None:
        """Everything, in reverse."""
        for process in reversed(self._processes):
            stop_process(process)
        self._processes.clear()
        self.broker.stop()

    def log(self, name: str = "daemon.log") -> str:
        """A process's output so far."""
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def plays(self, key: str) -> list[tuple[str, str]]:
        """(speaker, state) of every proof-of-play row of ``key``."""
        db_path = self.config.data_dir / DB_NAME
        if not db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            try:
                return db.execute("SELECT speaker, state FROM plays WHERE key = ?",
                                  (key,)).fetchall()
            except sqlite3.OperationalError:  # not created yet
                return []
