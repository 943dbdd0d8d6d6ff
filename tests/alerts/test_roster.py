"""Who is on duty: shifts across midnight, Chinese adjusted working Saturdays, config errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from edge.alerts.roster import Roster
from edge.config import ConfigError, load_config
from edge.schedule.calendar import ChinaCalendar
from tests.conftest import REPO

TZ = ZoneInfo("Asia/Shanghai")


def _roster(tmp_path: Path) -> Roster:
    names = ("WANG_FANG", "LI_JUN", "ZHANG_WEI", "ZHANG_WEI_SMS", "DUTY_ROOM", "CHEN_JIANGUO")
    environ = {f"GRIDEDGE_ALERT_{n}": f"json://127.0.0.1:9/{n.lower()}" for n in names}
    config = load_config(REPO / "config.yaml", environ=environ)
    return Roster(config, ChinaCalendar().is_workday)


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=TZ).timestamp()


def test_night_shift_runs_across_midnight(tmp_path: Path) -> None:
    """Test that the 20:00–08:00 night worker is on duty at 03:00 the next morning and not at
    noon, while the day workers are on duty only in daytime on working days."""
    roster = _roster(tmp_path)
    night = _at(2026, 12, 3, 3, 0)   # Thursday 03:00
    assert roster.targets(["grid_worker"], "第一网格", night) == ["zhang_wei"]
    noon = _at(2026, 12, 3, 12, 0)
    assert roster.targets(["grid_worker"], "第一网格", noon) == ["wang_fang"]
    assert roster.targets(["grid_worker"], "第二网格", _at(2026, 12, 3, 7, 59)) == ["zhang_wei"]
    assert roster.targets(["grid_worker"], "第二网格", _at(2026, 12, 3, 8, 0)) == ["li_jun"]


def test_adjusted_working_saturday_uses_the_weekday_roster(tmp_path: Path) -> None:
    """Test that on Saturday 2026-02-14, an official working day (调休), the weekday grid worker
    is on duty, while on an ordinary Saturday the rest-day worker is."""
    roster = _roster(tmp_path)
    assert roster.targets(["grid_worker"], "第一网格", _at(2026, 2, 14, 10, 0)) == ["wang_fang"]
    assert roster.targets(["grid_worker"], "第一网格", _at(2026, 3, 7, 10, 0)) == ["zhang_wei"]


def _write(tmp_path: Path, alerts: dict) -> Path:
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["alerts"] = alerts
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_roster_mistakes_are_reported_with_file_line_and_did_you_mean(tmp_path: Path) -> None:
    """Test that a misspelt grid area and an unknown escalation target are each reported at
    their line with a suggestion, and a time written 8.30 at its line with the fix."""
    path = _write(tmp_path, {"workers": {
        "wang": {"name": "王芳", "role": "grid_worker", "areas": ["第一网络"],
                 "shifts": [{"days": ["工作日"], "start": "08:30", "end": "20:00"}]}},
        "escalation": {"critical": {"steps": [{"after_min": 0, "notify": ["grid_workr"]}]}}})
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    text = [str(p) for p in err.value.problems]
    lines = path.read_text(encoding="utf-8").splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    assert any(f"config.yaml:{line_of('第一网络')}: alerts.workers.wang.areas[0]: 没有名为“第一网络”的网格"
               "；您是不是想写“第一网格”？" in t for t in text), text
    assert any(f"config.yaml:{line_of('grid_workr')}: alerts.escalation.critical.steps[0]."
               "notify[0]: 没有“grid_workr”这个角色或人员；您是不是想写“grid_worker”？" in t
               for t in text), text
    bad_time = _write(tmp_path, {"workers": {"wang": {
        "name": "王芳", "role": "grid_worker",
        "shifts": [{"days": ["周六"], "start": "8.30", "end": "20:00"}]}}})
    with pytest.raises(ConfigError) as err:
        load_config(bad_time, environ={})
    lines = bad_time.read_text(encoding="utf-8").splitlines()
    assert [str(p).split(": ", 1)[0].rsplit(":", 1)[1] for p in err.value.problems] == [
        str(line_of("8.30"))]
    assert "08:30" in str(err.value.problems[0])
