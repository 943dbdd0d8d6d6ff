"""Characters of a Chinese input method where YAML needs ASCII: the line they were typed on, the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.cli import main
from tests.conftest import REPO

CONFIG = (REPO / "config.yaml").read_text(encoding="utf-8")
SCHEDULE = (REPO / "schedules" / "announcements.yaml").read_text(encoding="utf-8")
COLON = ("a full-width colon '：' (Chinese input) follows '{key}'; type a half-width ':' and a "
         "space instead")
SPACES = ("this line is indented with full-width spaces (Chinese input); YAML needs half-width "
          "spaces: delete the indentation and type it again with the space bar in English input "
          "mode")
QUOTES = ("Chinese quotation marks (Chinese input) around the value; write it with half-width "
          "quotes, \"{fixed}\", or without quotes (got {got})")


def _edit(text: str, pattern: str, replace: str) -> tuple[str, int]:
    """``text`` with the first line matching ``pattern`` rewritten, and that line's number."""
    match = re.search(pattern, text, re.MULTILINE)
    assert match, pattern
    line = text[: match.start()].count("\n") + 1
    return text[: match.start()] + match.expand(replace) + text[match.end():], line


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str = CONFIG,
           schedule: str = SCHEDULE) -> list[str]:
    (tmp_path / "schedules").mkdir(exist_ok=True)
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "schedules" / "announcements.yaml").write_text(schedule, encoding="utf-8")
    (tmp_path / "schedules" / "holidays.yaml").write_text(
        (REPO / "schedules" / "holidays.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    capsys.readouterr()
    assert main(["--lang", "en", "check", "-c", str(tmp_path / "config.yaml")]) == 2
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    return [line for line in err.splitlines()[:-1] if not line.startswith("note")]


@pytest.mark.usefixtures("site_environ")
@pytest.mark.parametrize(("pattern", "replace", "message"), [
    (r"^(      )volume: 60", r"\1volume：60", COLON.format(key="volume")),
    (r"^(    )offline_after_s: 180", r"\1offline_after_s：180", COLON.format(key="offline_after_s")),
    (r"^(      )volume: 60", "\u3000\u3000\u3000volume: 60", SPACES),
    (r"^(  )port: 1883", "\u3000port: 1883", SPACES),
], ids=["colon-volume", "colon-offline", "fullwidth-spaces", "fullwidth-space-top"])
def test_config_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str,
                     replace: str, message: str) -> None:
    """Test that an IME character in config.yaml is reported at the line where it was typed."""
    config, line = _edit(CONFIG, pattern, replace)
    assert _check(tmp_path, capsys, config=config) == [f"config.yaml:{line}: {message}"]


@pytest.mark.usefixtures("site_environ")
@pytest.mark.parametrize(("pattern", "replace", "message"), [
    (r"^(    )days: ", r"\1days：", COLON.format(key="days")),
    (r"^(    )text: >-", r"\1text：>-", COLON.format(key="text")),
    (r"^(    )speakers: ", r"\1speakers：", COLON.format(key="speakers")),
    (r"^(    )days: ", "\u3000\u3000days: ", SPACES),
], ids=["colon-days", "colon-text", "colon-speakers", "fullwidth-spaces"])
def test_schedule_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str,
                       replace: str, message: str) -> None:
    """Test that an IME character in a schedule file is reported at the line where it was typed."""
    schedule, line = _edit(SCHEDULE, pattern, replace)
    assert _check(tmp_path, capsys, schedule=schedule) == [
        f"schedules/announcements.yaml:{line}: {message}"]


@pytest.mark.usefixtures("site_environ")
def test_chinese_quotes_around_a_time_are_named(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Test that “08:30” (Chinese quotes) is reported as quotes, not as a badly written time."""
    schedule, line = _edit(SCHEDULE, r'^(    )at: "(\d\d:\d\d)"', r"\1at: “\2”")
    found = _check(tmp_path, capsys, schedule=schedule)
    assert len(found) == 1
    assert re.fullmatch(rf"schedules/announcements.yaml:{line}: announcements\.[^:]+\.at: "
                        + re.escape(QUOTES.format(fixed="X", got="Y")).replace("X", r"\d\d:\d\d")
                        .replace("Y", r"“\d\d:\d\d”"), found[0]), found


@pytest.mark.usefixtures("site_environ")
def test_chinese_quotes_in_config_yaml_in_chinese(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Test that Chinese quotes around the quiet-hours start are named, in Chinese."""
    config, line = _edit(CONFIG, r'^(    )start: "21:30"', r"\1start: “21:30”")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    assert main(["check", "-c", str(tmp_path / "config.yaml")]) == 2
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert f"config.yaml:{line}: site.quiet_hours.start: 值两边是中文引号（中文输入法）；请改成半角引号" \
           "\"21:30\"，或者不加引号（实际写的是 “21:30”）" in err
