"""Nobody can be paged: `check` refuses it with the line and the empty variable; the daemon alerts."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml

from edge.app import App
from edge.config import load_config
from edge.profiles import load_registry
from edge.reachability import reachability_problems
from edge.schedule.calendar import ChinaCalendar
from tests.alerts.rig import Receiver
from tests.broker.harness import Broker
from tests.conftest import REPO, gridedge_command, site_config, write_site

ORIGINAL = (REPO / "config.yaml").read_text(encoding="utf-8")
HANG_GUARD_S = 30.0
PHONE = "json://127.0.0.1:9/phone"


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def _with_alerts(section: str) -> str:
    """The shipped config.yaml with its ``alerts:`` section replaced."""
    start = ORIGINAL.index("alerts:")
    end = ORIGINAL.index("# 串口网关")
    return ORIGINAL[:start] + section + "\n" + ORIGINAL[end:]


def _problems(tmp_path: Path, text: str, today: date) -> list[str]:
    config = load_config(write_site(tmp_path, text))
    return [str(p).replace(str(tmp_path) + os.sep, "")
            for p in reachability_problems(config, ChinaCalendar(None), today)]


def test_shipped_config_without_its_environment_fails_check(tmp_path: Path) -> None:
    """Test that `gridedge check` on the shipped config with a cleared environment exits 2 in
    Chinese at the worker's line, naming the area, the kind of day, the hours and the variable."""
    write_site(tmp_path, ORIGINAL)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    done = subprocess.run([*gridedge_command(), "check", "-c", "config.yaml"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=HANG_GUARD_S,
                          check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    wang = _line_of(ORIGINAL, "GRIDEDGE_ALERT_WANG_FANG")
    expected = (f"config.yaml:{wang}: alerts.workers.wang_fang.channels: 网格 第一网格：工作日（如 ")
    line = next(line for line in done.stderr.splitlines() if line.startswith(expected))
    assert "的 00:00–24:00 没有能收到告警的值班网格员" in line
    assert "调休上班的周末" in line
    assert "环境变量 GRIDEDGE_ALERT_WANG_FANG, GRIDEDGE_ALERT_ZHANG_WEI, " \
           "GRIDEDGE_ALERT_ZHANG_WEI_SMS 没有设置或为空" in line
    duty = _line_of(ORIGINAL, "GRIDEDGE_ALERT_DUTY_ROOM")
    assert f"config.yaml:{duty}: alerts.workers.liu_min.channels: 紧急告警、一般告警上报给值班人员：" \
        in done.stderr
    assert "GRIDEDGE_ALERT_DUTY_ROOM" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.usefixtures("site_environ")
def test_shipped_config_with_its_environment_passes(tmp_path: Path) -> None:
    """Test that the same config passes once every channel variable is set."""
    assert _problems(tmp_path, ORIGINAL, date(2026, 12, 4)) == []


@pytest.mark.usefixtures("clean_environ")
def test_an_adjusted_working_weekend_without_a_worker_is_found(tmp_path: Path) -> None:
    """Test that a roster covering Monday–Friday and rest days leaves the Saturdays and Sundays
    worked in exchange (调休上班) uncovered, and that check says so with the first such day."""
    text = _with_alerts(f"""alerts:
  workers:
    weekdays:
      name: 王芳
      role: grid_worker
      channels: ["{PHONE}"]
      shifts:
        - {{days: [周一, 周二, 周三, 周四, 周五], start: "00:00", end: "00:00"}}
    weekends:
      name: 张伟
      role: grid_worker
      channels: ["{PHONE}"]
      shifts:
        - {{days: [休息日], start: "00:00", end: "00:00"}}
  escalation:
    critical: {{steps: [{{after_min: 0, notify: [grid_worker]}}]}}
    warning: {{steps: [{{after_min: 0, notify: [grid_worker]}}]}}
""")
    problems = _problems(tmp_path, text, date(2026, 1, 1))
    area_line = _line_of(text, "  第一网格:")
    assert problems[0] == (
        f"config.yaml:{area_line}: areas.第一网格: 网格 第一网格：调休上班的周末（如 2026-01-04，"
        "未来一年共 6 天） 的 00:00–24:00 没有能收到告警的值班网格员：没有任何有通知地址的人在这段"
        "时间当班，请增加人员或调整班次")
    assert len(problems) == 2  # the same for 第二网格


@pytest.mark.usefixtures("clean_environ")
def test_hours_no_shift_covers_are_named_per_kind_of_day(tmp_path: Path) -> None:
    """Test that a day-shift-only roster reports the night hours of working days and the whole
    of rest days and holidays."""
    text = _with_alerts(f"""alerts:
  workers:
    day:
      name: 王芳
      role: grid_worker
      channels: ["{PHONE}"]
      shifts:
        - {{days: [工作日], start: "08:00", end: "20:00"}}
    duty:
      name: 刘敏
      role: duty_officer
      channels: ["{PHONE}"]
""")
    problems = [p for p in _problems(tmp_path, text, date(2026, 12, 4)) if "第一网格" in p]
    assert len(problems) == 2
    assert "工作日（如 2026-12-04，未来一年共 " in problems[0]
    assert "的 00:00–08:00, 20:00–24:00 没有能收到告警的值班网格员" in problems[0]
    assert "休息日（如 2026-12-05" in problems[1] and "法定节假日（如 2027-01-01" in problems[1]
    assert "的 00:00–24:00 没有" in problems[1]
    # The default chain also reaches the cadres, and there is none.
    assert any("紧急告警上报给包联干部" in p and "值班名单里没有这个角色的人" in p
               for p in _problems(tmp_path, text, date(2026, 12, 4)))


@pytest.mark.usefixtures("clean_environ")
def test_an_escalation_step_to_a_silent_person_names_the_variable(tmp_path: Path) -> None:
    """Test that a step naming a person whose only channel is an unset ${VAR:-} is refused at
    that person's line with the variable's name."""
    text = _with_alerts(f"""alerts:
  workers:
    wang:
      name: 王芳
      role: grid_worker
      channels: ["{PHONE}"]
    boss:
      name: 陈建国
      role: cadre
      channels: ["${{GRIDEDGE_TEST_BOSS:-}}"]
  escalation:
    critical: {{steps: [{{after_min: 0, notify: [wang]}}, {{after_min: 5, notify: [boss]}}]}}
    warning: {{steps: [{{after_min: 0, notify: [wang]}}]}}
""")
    problems = _problems(tmp_path, text, date(2026, 12, 4))
    line = _line_of(text, "GRIDEDGE_TEST_BOSS")
    assert len(problems) == 1
    assert problems[0].startswith(f"config.yaml:{line}: alerts.workers.boss.channels: "
                                  "紧急告警上报给陈建国：")
    assert "环境变量 GRIDEDGE_TEST_BOSS 没有设置或为空" in problems[0]


def test_daemon_pages_whoever_it_can_that_somebody_cannot_be_paged(
        broker: Broker, tmp_path: Path, site_id: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, clean_environ: None) -> None:
    """Test that the running daemon raises a critical alert on the channel it has, and logs an
    error naming the empty variable, when one escalation target cannot be paged."""
    del clean_environ
    receiver = Receiver()
    alerts = {
        "workers": {
            "wang": {"name": "王芳", "role": "grid_worker", "channels": [receiver.url("wang")]},
            "duty": {"name": "刘敏", "role": "duty_officer", "channels": [receiver.url("duty")]},
            "chen": {"name": "陈建国", "role": "cadre",
                     "channels": ["${GRIDEDGE_TEST_CADRE:-}"]},
        },
    }
    data = site_config(site_id, broker, tmp_path / "data", alerts=alerts)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.delenv("GRIDEDGE_TEST_CADRE", raising=False)
    config = load_config(path)

    async def scenario() -> None:
        stop = asyncio.Event()
        app = App(config, load_registry())
        running = asyncio.ensure_future(app.run(stop))
        try:
            done = await asyncio.to_thread(receiver.wait_for, lambda: any(
                "GRIDEDGE_TEST_CADRE" in p["message"] for p in receiver.to("wang")), HANG_GUARD_S)
            assert done, receiver.posts
        finally:
            stop.set()
            await running

    try:
        with caplog.at_level(logging.ERROR, logger="edge.reachability"):
            asyncio.run(scenario())
    finally:
        receiver.close()
    page = next(p for p in receiver.to("wang") if "GRIDEDGE_TEST_CADRE" in p["message"])
    assert "紧急" in page["title"]
    assert "包联干部" in page["message"]
    assert any("GRIDEDGE_TEST_CADRE" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)


def test_the_daemon_unit_requires_its_environment_file() -> None:
    """Test that the systemd unit of the daemon refuses to start without its environment file
    (a "-" prefix would start it with every phone of the roster empty)."""
    unit = (REPO / "deploy" / "systemd" / "gridedge.service").read_text(encoding="utf-8")
    files = [line.split("=", 1)[1] for line in unit.splitlines()
             if line.startswith("EnvironmentFile=")]
    assert files == ["/etc/gridedge/gridedge.env"]
