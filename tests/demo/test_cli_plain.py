"""Staff commands with the broker down, and piped into `head`: one plain Chinese line, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, gridedge_command

HANG_GUARD_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_broker_config(tmp_path: Path) -> Path:
    """The site's config pointed at a loopback port where no broker listens."""
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["mqtt"] = {"host": "127.0.0.1", "port": _free_port(), "protocol": "3.1.1"}
    data["storage"]["data_dir"] = str(tmp_path / "data")
    data["schedules"] = {"files": []}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [
    ["posts", "status"],
    ["posts", "reset", "P03", "4", "--by", "王芳"],
    ["say", "测试", "--speakers", "东门"],
], ids=["posts-status", "posts-reset", "say"])
def test_broker_down_is_named_plainly(no_broker_config: Path, command: list[str]) -> None:
    """Test that with the broker down the command says so in one Chinese line naming the broker
    (not a missing daemon), without an English 'retrying' log line first."""
    port = yaml.safe_load(no_broker_config.read_text(encoding="utf-8"))["mqtt"]["port"]
    done = subprocess.run([*gridedge_command(), *command, "-c", str(no_broker_config)],
                          capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"连不上 MQTT 服务器 127.0.0.1:{port}。"]


def test_output_cut_short_by_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """Test that a command whose reader went away (`… | head`) ends with exit 0 and no
    BrokenPipe traceback."""
    shutil_site = tmp_path / "site"
    shutil_site.mkdir()
    (shutil_site / "config.yaml").write_text((REPO / "config.yaml").read_text("utf-8"), "utf-8")
    (shutil_site / "schedules").mkdir()
    for name in ("announcements.yaml", "holidays.yaml"):
        (shutil_site / "schedules" / name).write_text(
            (REPO / "schedules" / name).read_text("utf-8"), "utf-8")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: every write is a broken pipe
    try:
        done = subprocess.run([*gridedge_command(), "schedule", "preview", "--week", "-c",
                               str(shutil_site / "config.yaml")], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=HANG_GUARD_S,
                              check=False)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipe" not in done.stderr
    assert done.returncode == 0
