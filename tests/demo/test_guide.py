"""The staff guide docs/zh/排程编辑指南.md: its examples pass `gridedge check`, its errors are real."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polib
import pytest

from edge.cli import main
from edge.i18n import catalogue_files, set_language
from tests.conftest import REPO

GUIDE = REPO / "docs" / "zh" / "排程编辑指南.md"
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    return [(m[1].strip(), m[2]) for m in _FENCE.finditer(GUIDE.read_text(encoding="utf-8"))]


def _pairs() -> list[tuple[str, str]]:
    """(wrong example, quoted check output), each wrong example followed by its quote."""
    blocks = _blocks()
    return [(body, blocks[i + 1][1]) for i, (info, body) in enumerate(blocks)
            if info == "yaml 错误示例"]


def _check(site: Path, schedule: str, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    (site / "schedules" / "announcements.yaml").write_text(schedule, encoding="utf-8")
    monkeypatch.chdir(site)
    capsys.readouterr()
    try:
        code = main(["--lang", "zh", "check", "-c", "config.yaml"])
    finally:
        set_language("zh")
    return code, capsys.readouterr().err.splitlines()


@pytest.fixture
def site(tmp_path: Path, site_environ: dict[str, str]) -> Path:
    del site_environ  # the roster's phones are set: the guide is about schedules
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    return tmp_path


def test_guide_has_examples_of_each_kind() -> None:
    """Test that the guide shows good examples, wrong examples with quotes, and CLI messages."""
    infos = [info for info, _body in _blocks()]
    assert infos.count("yaml 示例") >= 3
    assert len(_pairs()) >= 6
    assert all(_blocks()[i + 1][0] == "text 检查结果" for i, (info, _b) in enumerate(_blocks())
               if info == "yaml 错误示例")
    assert "text 提示信息" in infos


def test_guide_examples_pass_gridedge_check(site: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Test that every example the guide offers staff passes `gridedge check` with the site's config."""
    examples = [body for info, body in _blocks() if info == "yaml 示例"]
    for body in examples:
        code, err = _check(site, body, monkeypatch, capsys)
        assert code == 0, body + "\n" + "\n".join(err)


def test_guide_wrong_examples_print_exactly_the_quoted_errors(
        site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that each wrong example makes `gridedge check` print exactly what the guide quotes."""
    for body, quoted in _pairs():
        code, err = _check(site, body, monkeypatch, capsys)
        assert code == 2, body
        assert err == quoted.splitlines(), body


def test_guide_quotes_real_command_messages() -> None:
    """Test that every command message the guide quotes is a translation from the catalogue."""
    patterns = [re.sub(r"\\\{\w+\\\}", ".+?", re.escape(e.msgstr))
                for name in catalogue_files("zh")
                for e in polib.pofile(str(REPO / "edge" / "locale" / name)) if e.msgstr]
    one_or_two = re.compile("(?:" + "|".join(patterns) + "){1,2}")
    quoted = next(body for info, body in _blocks() if info == "text 提示信息")
    for line in quoted.splitlines():
        assert one_or_two.fullmatch(line), line
