"""Nothing is lost: kill -9 of a real daemon with 100 alerts pending, and a 30 s broker outage."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.alerts.rig import Receiver, roster_section
from tests.alerts.spool_plugin import SPOOL_ENV
from tests.broker.harness import Broker
from tests.conftest import REPO, gridedge_command
from tests.edge.mqtt_probe import Probe

HANG_GUARD_S = 60.0
OUTAGE_S = 30.0  # the issue's own requirement


def _always_on_roster(receiver: Receiver, **extra: object) -> dict:
    section = roster_section(receiver, **extra)
    return section


def _spool(folder: Path, name: str, count: int, start: int = 0) -> None:
    events = [{"kind": "post.trip", "subject": f"P{1 + i % 10:02d}/{1 + i // 10}",
               "severity": "critical",
               "detail": {"cause": "inverse_time", "measured": 20.0, "limit": 16.0, "unit": "A"}}
              for i in range(start, start + count)]
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(events), encoding="utf-8")
    tmp.rename(folder / f"{name}.json")  # atomic: the plugin never reads half a file


class Daemon:
    """A real `gridedge run` with the spool plugin."""

    def __init__(self, config: Path, spool: Path) -> None:
        self.config, self.spool = config, spool
        self.process: subprocess.Popen[str] | None = None
        self.log = config.parent / "daemon.log"

    def start(self) -> None:
        env = {**os.environ, "GRIDEDGE_ALERTS_TEST_PLUGIN": "tests.alerts.spool_plugin",
               SPOOL_ENV: str(self.spool), "PYTHONPATH": str(REPO)}
        out = self.log.open("a")
        self.process = subprocess.Popen([*gridedge_command(), "--lang", "zh", "run", "-c",  # noqa: S603
                                         str(self.config)], stdout=out, stderr=subprocess.STDOUT,
                                        text=True, env=env, cwd=REPO)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(HANG_GUARD_S)
            self.process = None


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[[Path], Daemon]]:
    made: list[Daemon] = []

    def make(config: Path) -> Daemon:
        spool = tmp_path / "spool"
        spool.mkdir(exist_ok=True)
        d = Daemon(config, spool)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill(signal.SIGTERM)


def _db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "data" / "gridedge.sqlite3", timeout=10)


def _count(config: Path, sql: str) -> int:
    path = config.parent / "data" / "gridedge.sqlite3"
    if not path.exists():
        return -1
    try:
        db = _db(config)
        try:
            return int(db.execute(sql).fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return -1  # not migrated yet


def _wait(check: Callable[[], bool], timeout: float = HANG_GUARD_S) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _summary(config: Path, receiver: Receiver) -> str:
    db = _db(config)
    try:
        rows = db.execute("SELECT channel, purpose, state, COUNT(*) FROM notifications "
                          "GROUP BY 1, 2, 3").fetchall()
        kinds = db.execute("SELECT kind, state, COUNT(*) FROM alerts GROUP BY 1, 2").fetchall()
    finally:
        db.close()
    titles = Counter(p["title"][:12] for p in receiver.posts)
    return f"{rows}\n{kinds}\n{titles}"


def _firing_refs(receiver: Receiver, name: str) -> Counter[tuple[int, int]]:
    return Counter(p["ref"] for p in receiver.to(name)
                   if p["title"].startswith("【紧急】充电过流"))


def test_kill_9_with_100_alerts_pending_loses_nothing(
        broker: Broker, receiver: Receiver, write_config: Callable[..., Path],
        daemon: Callable[[Path], Daemon]) -> None:
    """Test that after kill -9 with 100 alerts undelivered, a restarted daemon delivers all 100,
    and that any duplicate carries the same alert id and sequence number."""
    config = write_config(broker, alerts=roster_section(receiver))
    receiver.status = 503  # the phone service is down: everything stays in the outbox
    d = daemon(config)
    d.start()
    _spool(d.spool, "burst", 100)
    assert _wait(lambda: _count(config, "SELECT COUNT(*) FROM alerts") == 100)
    assert _wait(lambda: receiver.refused > 0)
    d.kill()                                  # kill -9 while all 100 are pending
    assert _count(config, "SELECT COUNT(*) FROM notifications WHERE state = 'sent' "
                  "AND channel != 'mqtt'") == 0
    receiver.status = 200
    d.start()
    wanted = {"wang": 40, "zhao": 60}          # P01-P04 are 第一网格, P05-P10 第二网格
    assert receiver.wait_for(lambda: all(len(_firing_refs(receiver, n)) == c
                                         for n, c in wanted.items()), HANG_GUARD_S), \
        d.log.read_text()
    for name, count in wanted.items():
        refs = _firing_refs(receiver, name)
        # a duplicate delivery would carry the same (alert id, seq): one per alert after dedup
        assert len({alert_id for alert_id, _ in refs}) == count
    got = {a for n in wanted for a, _ in _firing_refs(receiver, n)}
    assert got == set(range(1, 101))
    assert _wait(lambda: _count(config, "SELECT COUNT(*) FROM notifications WHERE state != "
                                "'sent'") == 0)


@pytest.mark.long
def test_broker_outage_of_30_s_during_a_burst_loses_nothing(
        tmp_path: Path, receiver: Receiver, write_config: Callable[..., Path],
        daemon: Callable[[Path], Daemon]) -> None:
    """Test that a burst raised while the broker is stopped for 30 s reaches the phones and, once
    the broker is back, every alert's retained record is on MQTT; the outage itself is one
    'broker unreachable' alert with its all-clear, not many."""
    workdir = tmp_path / "persistent-broker"
    workdir.mkdir()
    b = Broker(workdir, extra_conf=f"persistence true\npersistence_location {workdir}/\n")
    b.start()
    try:
        config = write_config(b, alerts=roster_section(receiver, broker_unreachable_after_s=10))
        site = config.read_text(encoding="utf-8").split("id: ", 1)[1].split("\n", 1)[0].strip()
        d = daemon(config)
        probe = Probe(b, f"gridedge/{site}/daemon/availability")
        d.start()
        assert probe.wait_for(lambda m: probe.last(f"gridedge/{site}/daemon/availability")
                              == "online", HANG_GUARD_S)
        probe.close()
        _spool(d.spool, "burst-1", 50)
        b.stop()
        _spool(d.spool, "burst-2", 50, start=50)       # raised while the broker is gone
        time.sleep(OUTAGE_S)
        b.start()
        assert receiver.wait_for(lambda: len(_firing_refs(receiver, "wang"))
                                 + len(_firing_refs(receiver, "zhao")) == 100, HANG_GUARD_S), \
            _summary(config, receiver)
        broker_alerts = [p for p in receiver.to("wang") + receiver.to("zhao")
                         if "消息服务器" in p["title"]]
        assert receiver.wait_for(lambda: len([p for p in receiver.to("wang")
                                              if "消息服务器" in p["title"]]) == 2,
                                 HANG_GUARD_S)
        assert len({p["ref"][0] for p in broker_alerts}) == 1
        records = Probe(b, f"gridedge/{site}/alerts/+")
        # retained ones from before the outage, live ones still being replayed after it
        assert records.wait_for(lambda m: len({t for t, p, _ in m if p}) >= 100, HANG_GUARD_S), \
            _summary(config, receiver)
        states = {json.loads(p)["id"]: json.loads(p)["state"] for _, p, _ in records.messages if p}
        assert set(range(1, 101)) <= set(states)
        records.close()
    finally:
        b.stop()
