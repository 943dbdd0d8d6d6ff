"""Latch saves (issue 11, item 10): ordered by a version per post, off the loop, retried until written.

Against a real SQLite database: on an ordinary directory, on a real small filesystem that fills
up, and under `gridedge run` killed with -9 right after latches, again and again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.posts import persist
from edge.posts.saver import Saver
from edge.store import Store
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe
from tests.posts.harness import Publisher, now_s, sections, state, wait_event
from tests.processes import start_gridedge

HANG_GUARD_S = 30.0


def _snapshot(latched: list[int]) -> dict[str, object]:
    return {"post": "P1", "latched": latched}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data")
    s.open()
    yield s
    s.close()


def test_an_older_snapshot_written_late_never_replaces_a_newer_one(store: Store) -> None:
    """Test that version 2 (latched) survives a late write of version 1 (clear), whatever the thread order."""
    assert persist.save(store, "P1", _snapshot([3]), {}, 2)
    assert not persist.save(store, "P1", _snapshot([]), {}, 1)
    saved = persist.load_all(store)["P1"]
    assert saved.version == 2 and saved.snapshot["latched"] == [3]
    # Many threads writing versions in any order: the highest always wins.
    versions = list(range(3, 203))
    threads = [threading.Thread(target=persist.save, args=(store, "P1", _snapshot([v]), {}, v))
               for v in reversed(versions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = persist.load_all(store)["P1"]
    assert saved.version == 202 and saved.snapshot["latched"] == [202]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (needs the right to mount; skipped with the reason otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass  # ENOSPC: the filesystem is full
    finally:
        os.close(fd)
    return filler


def test_a_save_on_a_full_disk_is_kept_and_written_once_there_is_room(small_fs: Path) -> None:
    """Test that a save failing on a full filesystem keeps the newest snapshot and writes it when space returns."""
    store = Store(small_fs / "data")
    store.open()
    written: list[tuple[str, int]] = []
    saver = Saver(store, lambda post, version: written.append((post, version)))
    saver.start()
    try:
        saver.submit("P1", 1, _snapshot([]), {})
        assert saver.flush(HANG_GUARD_S)
        filler = _fill(small_fs)
        big = {"post": "P1", "latched": [5], "evidence": "x" * 200_000}
        saver.submit("P1", 2, big, {})
        assert not saver.flush(1.0) and saver.failures >= 1  # disk full: still waiting
        saver.submit("P1", 3, dict(big, latched=[5, 6]), {})  # a newer one replaces it in memory
        filler.unlink()
        assert saver.flush(HANG_GUARD_S)
        saved = persist.load_all(store)["P1"]
        assert saved.version == 3 and saved.snapshot["latched"] == [5, 6]
        assert ("P1", 3) in written
    finally:
        saver.stop(HANG_GUARD_S)
        store.close()


def _start(config: Path) -> subprocess.Popen[str]:
    return start_gridedge(["run", "-c", str(config)], lang="en")


def test_kill_9_right_after_each_latch_never_loses_one(broker: Broker, site_id: str,
                                                       write_config: Callable[..., Path]) -> None:
    """Test that killing `gridedge run` with -9 the moment a latch is reported saved, four times over, never loses a latch."""
    config = write_config(broker, **sections({"P1": {"name": "1号桩", "location": "车棚"}}))
    base = f"gridedge/{site_id}/posts/P1"
    probe = Probe(broker, f"gridedge/{site_id}/#")
    pub = Publisher(broker)
    process = _start(config)
    latched: list[int] = []
    try:
        for port in (1, 2, 3, 4):
            assert probe.wait_for(lambda m: state(probe, f"{base}/state") is not None, HANG_GUARD_S)
            # Load on the other ports keeps elements timing, so periodic saves run beside the urgent one.
            pub.send(f"{base}/telemetry", {"ts": now_s(), "ports": [
                {"port": p, "current_a": 2.1, "on": True} for p in (1, 2, 3, 4) if p not in latched and p != port]})
            pub.send(f"{base}/telemetry", {"ts": now_s(), "ports": [{"port": port, "current_a": 40.0, "on": True}]})
            wait_event(probe, "post.trip", f"P1/{port}", HANG_GUARD_S)
            latched.append(port)

            want = sorted(latched)

            def saved(_m: object, want: list[int] = want) -> bool:
                doc = state(probe, f"{base}/state") or {}
                return doc.get("latched_ports") == want and doc.get("saved") is True

            assert probe.wait_for(saved, HANG_GUARD_S), state(probe, f"{base}/state")
            process.send_signal(signal.SIGKILL)
            process.wait(HANG_GUARD_S)
            pub.send(f"{base}/state", b"", retain=True)
            probe.messages.clear()
            process = _start(config)
            assert probe.wait_for(lambda m: (state(probe, f"{base}/state") or {}).get("latched_ports")
                                  is not None, HANG_GUARD_S)
            assert state(probe, f"{base}/state")["latched_ports"] == sorted(latched)
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        process.kill()
        pub.close()
        probe.close()
    output = process.stdout.read() if process.stdout else ""
    assert "Traceback" not in output
