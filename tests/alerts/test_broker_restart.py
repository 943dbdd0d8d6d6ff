"""A real mosquitto stopped and started under a running daemon and simulated posts with wills.

Stopping the broker replays every post's will ("offline"); the posts come straight back when it
returns. Nobody should be paged about the posts, the outage itself is one "broker unreachable"
alert with its all-clear, and the log says "broker down, N notifications waiting" once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.alerts.rig import Receiver
from tests.broker.harness import Broker
from tests.conftest import gridedge_command
from tests.edge.mqtt_probe import Probe
from tests.posts.harness import state

HANG_GUARD_S = 60.0
POSTS = ("P01", "P04", "P05", "P06")
OUTAGE_AFTER_S = 5


def _wait(check: Callable[[], bool], timeout: float = HANG_GUARD_S) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _pending(db_path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT COUNT(*) FROM notifications WHERE state = 'pending'")
                       .fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return -1


def test_broker_restart_with_wills_pages_nobody_about_the_posts(
        own_broker: Broker, tmp_path: Path, receiver: Receiver, site_id: str,
        write_config: Callable[..., Path]) -> None:
    """Test that stopping mosquitto (which replays the posts' wills) for longer than the
    broker-unreachable threshold and starting it again gives exactly one 'broker unreachable'
    page and its all-clear, no 'post offline' page, and one 'broker down' log line (before:
    every will paged and 'not delivered … retrying' was logged per message)."""
    if own_broker.kind != "mosquitto":
        pytest.skip("needs a real mosquitto that replays wills on shutdown")
    devices = {f"P{n:02d}": {"name": f"{n}号充电桩"} for n in range(1, 11)}
    config = write_config(own_broker, posts={
        "defaults": {"profile": "gridedge-post", "ports": 10, "offline_after_s": 60},
        "devices": devices},
        alerts={"broker_unreachable_after_s": OUTAGE_AFTER_S, "workers": {"wang": {
            "name": "王芳", "role": "grid_worker", "channels": [receiver.url("wang")]}}})
    log = tmp_path / "daemon.log"
    env = {**os.environ}
    daemon = subprocess.Popen([*gridedge_command(), "--lang", "zh", "run", "-c", str(config)],  # noqa: S603
                              stdout=log.open("a"), stderr=subprocess.STDOUT, text=True, env=env)
    sim = subprocess.Popen([*gridedge_command(), "--lang", "en", "simulate", "-c", str(config),  # noqa: S603
                            "--posts", ",".join(POSTS), "--post-interval", "0.5"],
                           stdout=(tmp_path / "sim.log").open("a"), stderr=subprocess.STDOUT,
                           text=True)
    base = f"gridedge/{site_id}/posts"
    probe = Probe(own_broker, f"{base}/+/state")
    try:
        assert probe.wait_for(lambda m: all((state(probe, f"{base}/{p}/state") or {})
                                            .get("online") is True for p in POSTS),
                              HANG_GUARD_S), log.read_text()
        probe.close()
        own_broker.stop()                     # mosquitto replays each post's will
        assert _wait(lambda: "消息服务器" in "".join(p["title"] for p in receiver.to("wang"))), \
            log.read_text()
        own_broker.start()
        probe = Probe(own_broker, f"{base}/+/state")
        assert receiver.wait_for(lambda: sum("消息服务器" in p["title"]
                                             for p in receiver.to("wang")) == 2, HANG_GUARD_S), \
            log.read_text()
        assert probe.wait_for(lambda m: all((state(probe, f"{base}/{p}/state") or {})
                                            .get("online") is True for p in POSTS),
                              HANG_GUARD_S), log.read_text()
        db_path = config.parent / "data" / "gridedge.sqlite3"
        assert _wait(lambda: _pending(db_path) == 0), log.read_text()
    finally:
        probe.close()
        sim.send_signal(signal.SIGTERM)
        daemon.send_signal(signal.SIGTERM)
        sim.wait(HANG_GUARD_S)
        daemon.wait(HANG_GUARD_S)
    titles = [p["title"] for p in receiver.to("wang")]
    assert not [t for t in titles if "离线" in t], titles
    broker_pages = [p for p in receiver.to("wang") if "消息服务器" in p["title"]]
    assert len({p["ref"][0] for p in broker_pages}) == 1      # one alert: raised, all-clear
    text = log.read_text()
    assert text.count("broker down,") == 1, text
    assert text.count("not delivered") == 0, text
