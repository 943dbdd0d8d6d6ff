"""A real `gridedge run` whose data directory fills up: it still cuts, pages and starts.

The data directory is on a real tmpfs of a few MiB that a filler file fills to the last byte;
the broker is a real mosquitto and the phones a loopback HTTP receiver (Apprise ``json://``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.alerts.rig import Receiver
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe
from tests.posts.harness import Publisher, now_s, sections, state
from tests.processes import start_gridedge, stop_gridedge
from tests.smallfs import small_fs

HANG_GUARD_S = 120.0  # a guard against a hang, not a speed limit (three daemon starts)


def _start(config: Path, log: Path) -> subprocess.Popen[str]:
    return start_gridedge(["run", "-c", str(config)], log=log)


def _wait(check: Callable[[], bool], timeout: float = HANG_GUARD_S) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _db_rows(path: Path, sql: str) -> list[tuple]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []


def _healthz(log: Path) -> dict:
    """GET /healthz of the running daemon (its port is in its log: the config asks for port 0)."""
    port = re.findall(r"HTTP server on 127\.0\.0\.1:(\d+)", log.read_text())[-1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:  # noqa: S310
            return json.loads(answer.read())
    except urllib.error.HTTPError as err:   # 503 when unhealthy, with the same document
        return json.loads(err.read())


def _cut(probe: Probe, base: str, port: int) -> bool:
    return any(t == f"{base}/cmd" and json.loads(p).get("port") == port
               for t, p, _r in list(probe.messages))


def test_full_data_disk_still_cuts_pages_and_starts(
        tmp_path: Path, broker: Broker, site_id: str, receiver: Receiver,
        write_config: Callable[..., Path]) -> None:
    """Test that with the data directory's filesystem full, an overload is cut, its page and a
    'disk full' page naming the path reach the phone, the daemon restarts on the full disk and
    still protects, and once space returns what happened meanwhile is on disk and survives a
    restart (before: the page was never sent and the daemon refused to start)."""
    with small_fs(tmp_path / "fs", size_mb=16) as fs:
        data_dir = fs.root / "data"
        config = write_config(broker, **sections({"P1": {"name": "1号桩", "location": "车棚"}}),
                              alerts={"workers": {"wang": {
                                  "name": "王芳", "role": "grid_worker",
                                  "channels": [receiver.url("wang")]}}})
        doc = yaml.safe_load(config.read_text(encoding="utf-8"))
        doc["storage"]["data_dir"] = str(data_dir)
        config.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
        db_path = data_dir / "gridedge.sqlite3"
        log = tmp_path / "daemon.log"
        base = f"gridedge/{site_id}/posts/P1"
        probe = Probe(broker, f"gridedge/{site_id}/#")
        pub = Publisher(broker)
        process = _start(config, log)
        try:
            assert probe.wait_for(lambda m: state(probe, f"{base}/state") is not None,
                                  HANG_GUARD_S), log.read_text()
            fs.fill()
            pub.send(f"{base}/telemetry", {"ts": now_s(), "ports": [
                {"port": 3, "current_a": 40.0, "on": True}]})
            assert probe.wait_for(lambda m: _cut(probe, base, 3), HANG_GUARD_S), log.read_text()
            assert receiver.wait_for(lambda: any("充电过流" in p["title"]
                                                 for p in receiver.to("wang")), HANG_GUARD_S), \
                log.read_text()
            assert receiver.wait_for(lambda: any("磁盘已满" in p["title"]
                                                 for p in receiver.to("wang")), HANG_GUARD_S), \
                log.read_text()
            disk_page = next(p for p in receiver.to("wang") if "磁盘已满" in p["title"])
            assert str(data_dir) in disk_page["message"] and "剩余" in disk_page["message"]
            health = _healthz(log)
            assert health["status"] == "fail" and "disk full" in health["checks"]["store"]["detail"]
            assert str(data_dir) in health["checks"]["store"]["detail"]

            # Restart on the still-full disk: it must come up and protect.
            assert stop_gridedge(process, HANG_GUARD_S) == 0
            probe.messages.clear()
            process = _start(config, log)
            assert probe.wait_for(lambda m: state(probe, f"{base}/state") is not None,
                                  HANG_GUARD_S), log.read_text()
            pub.send(f"{base}/telemetry", {"ts": now_s(), "ports": [
                {"port": 2, "current_a": 40.0, "on": True}]})
            assert probe.wait_for(lambda m: _cut(probe, base, 2), HANG_GUARD_S), log.read_text()
            assert receiver.wait_for(lambda: any(
                "充电过流" in p["title"] and "2号口" in p["title"] for p in receiver.to("wang")),
                HANG_GUARD_S), log.read_text()

            # Space returns: what happened meanwhile is written, and survives a restart.
            fs.free()
            assert _wait(lambda: bool(_db_rows(db_path, "SELECT id FROM alerts WHERE kind = "
                                               "'overcurrent' AND port = 2"))), log.read_text()
            # The disk is fine again and no 'disk full' alert is left open. (Whether the
            # restarted daemon raised one of its own depends on timing: its start frees a little
            # space, and a failure shorter than an alert round is retried, not alerted.)
            def disk_full_over() -> bool:
                states = {r[0] for r in _db_rows(db_path, "SELECT state FROM alerts WHERE "
                                                 "kind = 'disk_full'")}
                if states:
                    return states == {"resolved"}
                return bool(_healthz(log)["checks"]["store"]["ok"])

            assert _wait(disk_full_over), log.read_text()
            assert stop_gridedge(process, HANG_GUARD_S) == 0
            probe.messages.clear()
            process = _start(config, log)
            assert probe.wait_for(lambda m: state(probe, f"{base}/state") is not None,
                                  HANG_GUARD_S), log.read_text()
            rows = _db_rows(db_path, "SELECT state FROM alerts WHERE kind = 'overcurrent' AND "
                            "port = 2")
            assert rows == [("firing",)]
            sent = _db_rows(db_path, "SELECT COUNT(*) FROM notifications n JOIN alerts a ON "
                            "a.id = n.alert_id WHERE a.port = 2 AND n.recipient = 'wang' AND "
                            "n.state = 'sent'")
            assert sent[0][0] >= 1
            assert stop_gridedge(process, HANG_GUARD_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
            pub.close()
            probe.close()
        # Other components log their own failed saves (the protection latches, the scheduler's
        # cursor); the store, the event bus and alerting must not have failed anywhere.
        lines = log.read_text().splitlines()
        crashes = [lines[i - 1] for i, line in enumerate(lines) if line.startswith("Traceback")
                   and lines[i - 1].split()[3].startswith(("edge.alerts", "edge.events",
                                                           "edge.store", "edge.app"))]
        assert crashes == [], crashes
