"""Console pages over real HTTP on a real daemon: say now into the proof of play and its CSV,
the live stream, the editor's versions with one-click revert, and an edit made stale by another."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.console.conftest import HANG_GUARD_S, Site
from tests.console.test_security import _login

SCHEDULE_FILE = "schedules/announcements.yaml"
# The first test also waits for the shared daemon to start: a guard against a hang on a busy
# machine, not a speed limit.
pytestmark = pytest.mark.timeout(300)


def test_say_now_reaches_the_play_log_and_its_csv(console_site: Site) -> None:
    """Test that "say now" queues the announcement on the chosen speakers, and that the proof of
    play lists it, filtered by speaker, and exports it as CSV with a BOM for Excel."""
    session, token = _login(console_site, "admin")
    text = "请车主注意，三号充电桩暂停使用。"
    reply = session.post(f"{console_site.url}/console/say", timeout=HANG_GUARD_S, data={
        "_csrf": token, "text": text, "speakers": ["east_gate", "south_gate"],
        "priority": "emergency"})
    assert reply.status_code == 200 and "已发送到 2 个喇叭" in reply.text, reply.text  # noqa: PLR2004
    refused = session.post(f"{console_site.url}/console/say", timeout=HANG_GUARD_S, data={
        "_csrf": token, "text": text, "priority": "emergency"})
    assert refused.status_code == 400 and "请至少选择一个喇叭" in refused.text  # noqa: PLR2004
    too_long = session.post(f"{console_site.url}/console/say", timeout=HANG_GUARD_S, data={
        "_csrf": token, "text": "很" * 301, "speakers": ["east_gate"], "priority": "emergency"})
    assert too_long.status_code == 400 and "太长：301 个字" in too_long.text  # noqa: PLR2004

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    page = session.get(f"{console_site.url}/console/plays", timeout=HANG_GUARD_S,
                       params={"date": today, "speaker": "east_gate"})
    assert text[:20] in page.text and "紧急" in page.text
    assert page.text.count(text[:20]) == 1  # the south gate's row is filtered out
    export = session.get(f"{console_site.url}/console/plays.csv", timeout=HANG_GUARD_S,
                         params={"date": today})
    assert export.headers["Content-Type"].startswith("text/csv")
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["计划时间", "喇叭", "广播"]
    ours = [r for r in rows[1:] if r[2].startswith(text[:20])]
    assert sorted(r[1] for r in ours) == ["东门", "南门"]


def test_the_overview_streams_the_daemons_state(console_site: Site) -> None:
    """Test that /console/live sends server-sent events with every post and speaker."""
    session, _token = _login(console_site, "chen")
    data: dict = {}
    with session.get(f"{console_site.url}/console/live", stream=True,
                     timeout=HANG_GUARD_S) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        received = b""
        for chunk in stream.iter_content(chunk_size=None):
            received += chunk
            while b"\n\n" in received:  # one whole event
                event, received = received.split(b"\n\n", 1)
                assert event.startswith(b"data: ")
                data = json.loads(event.removeprefix(b"data: "))
            # The HTTP side listens before every component has started (posts come last):
            # a page opened in the daemon's first second shows no posts yet, the next event does.
            if data.get("posts"):
                break
    assert [p["id"] for p in data["posts"]] == [f"P{n:02d}" for n in range(1, 11)]
    assert {s["name"] for s in data["speakers"]} == {"东门", "南门", "西门", "北门"}


def test_a_version_is_put_back_with_one_click_and_a_stale_edit_is_refused(
        console_site: Site) -> None:
    """Test that reverting writes the old text back as a new version by its author, and that a
    save based on a text someone changed since is refused without writing."""
    session, token = _login(console_site, "office")
    path = console_site.folder / SCHEDULE_FILE
    original = path.read_text(encoding="utf-8")
    page = session.get(f"{console_site.url}/console/edit", params={"file": SCHEDULE_FILE},
                       timeout=HANG_GUARD_S)
    base = re.search(r'name="base" value="([0-9a-f]+)"', page.text)[1]
    changed = original.replace("早上好", "大家早上好")
    saved = session.post(f"{console_site.url}/console/edit", timeout=HANG_GUARD_S, data={
        "_csrf": token, "file": SCHEDULE_FILE, "text": changed, "base": base})
    assert "已保存" in saved.text and path.read_text(encoding="utf-8") == changed
    stale = session.post(f"{console_site.url}/console/edit", timeout=HANG_GUARD_S, data={
        "_csrf": token, "file": SCHEDULE_FILE, "text": original + "\n# mine\n", "base": base})
    assert stale.status_code == 409 and "已被别人修改" in stale.text  # noqa: PLR2004
    assert path.read_text(encoding="utf-8") == changed

    versions = [int(v) for v in re.findall(r"/console/versions/(\d+)\"", saved.text)]
    before = next(v for v in sorted(versions, reverse=True)
                  if session.get(f"{console_site.url}/console/versions/{v}",
                                 timeout=HANG_GUARD_S).text.count("大家早上好") == 0)
    reverted = session.post(f"{console_site.url}/console/versions/{before}/revert",
                            data={"_csrf": token}, timeout=HANG_GUARD_S)
    assert reverted.status_code == 200 and "已保存" in reverted.text  # noqa: PLR2004
    assert "大家早上好" not in path.read_text(encoding="utf-8")
    assert f"恢复到版本 {before}" in reverted.text
    db_path = console_site.folder / "data" / "gridedge.sqlite3"
    assert db_path.exists()


def test_clips_stay_open_without_a_session(console_site: Site) -> None:
    """Test that the clip route answers without a session (404 for an unknown clip, not 401)."""
    reply = requests.get(f"{console_site.url}/clips/{'0' * 64}.mp3", timeout=HANG_GUARD_S)
    assert reply.status_code == 404  # noqa: PLR2004


def test_a_config_yaml_mistake_is_shown_at_its_line_and_not_written(console_site: Site) -> None:
    """Test that config.yaml is checked too: a volume of 140 is refused at its line."""
    session, token = _login(console_site, "admin")
    before = console_site.config.read_text(encoding="utf-8")
    lines = before.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("volume:"))
    lines[at] = lines[at].split(":")[0] + ": 140"
    reply = session.post(f"{console_site.url}/console/edit", timeout=HANG_GUARD_S, data={
        "_csrf": token, "file": "config.yaml", "text": "\n".join(lines) + "\n"})
    assert reply.status_code == 422  # noqa: PLR2004
    assert f'data-line="{at + 1}"' in reply.text and "100" in reply.text
    assert console_site.config.read_text(encoding="utf-8") == before
