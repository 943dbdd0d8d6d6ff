"""What staff see when config.yaml has a typical mistake: one message, file, line, the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from tests.conftest import REPO, write_site

ORIGINAL = (REPO / "config.yaml").read_text(encoding="utf-8")


def _edit(old: str, new: str, text: str = ORIGINAL) -> str:
    assert old in text, f"config.yaml no longer contains {old!r}"
    return text.replace(old, new, 1)


def _line_of(text: str, fragment: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if fragment in line:
            return number
    raise AssertionError(fragment)


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str],
           lang: str = "en") -> tuple[int, list[str]]:
    path = write_site(tmp_path, text)
    code = main(["--lang", lang, "check", "-c", str(path)])
    err = capsys.readouterr().err
    # The last line is the summary ("N problem(s) found"); the rest are the problems.
    return code, [line.replace(str(path), "config.yaml") for line in err.splitlines()[:-1]]


@pytest.mark.usefixtures("site_environ")
def test_shipped_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that the config.yaml of the real site passes `gridedge check` with exit 0."""
    code = main(["--lang", "en", "check", "-c", str(REPO / "config.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "4 speakers, 10 charging posts" in out


CASES = [
    pytest.param(
        "    volume: 70", "\tvolume: 70", "\tvolume: 70",
        ": a tab is used for indentation; YAML needs spaces: replace the tab with spaces "
        "(2 per level)", id="tab"),
    pytest.param(
        "  host: 127.0.0.1", "  host： 127.0.0.1", "host：",
        ": a full-width colon '：' (Chinese input) follows 'host'; type a half-width ':' and a "
        "space instead", id="fullwidth-colon"),
    pytest.param(
        "  port: 1883", "  port: １８８３", "port: １８８３",
        ": mqtt.port: full-width characters typed with a Chinese input method; write 1883 "
        "(got １８８３)", id="fullwidth-digits"),
    pytest.param(
        '    start: "21:30"', "    start: 25:00", "start: 25:00",
        ": site.quiet_hours.start: hours go from 00 to 23 (midnight is 00:00) (got 25:00)",
        id="hour-25"),
    pytest.param(
        '    end: "07:00"', "    end: 8.30", "end: 8.30",
        ": site.quiet_hours.end: a time is written as HH:MM with a colon, e.g. 08:30 (got 8.30)",
        id="dot-time"),
    pytest.param(
        "speakers: [东门, 北门]", "speakers: [东们, 北门]", "speakers: [东们",
        ": areas.第一网格.speakers[0]: there is no speaker '东们'; did you mean '东门'? (got 东们)",
        id="unknown-speaker"),
    pytest.param(
        "posts: [P01, P02, P03, P04]", "posts: [P01, P02, P03, p04]", "p04",
        ": areas.第一网格.posts[3]: there is no charging post 'p04'; did you mean 'P04'? (got p04)",
        id="unknown-post"),
    pytest.param(
        "    P02: {name: 2号充电桩", "    P01: {name: 2号充电桩", "P01: {name: 2号充电桩",
        ": posts.devices.P01: 'P01' is written twice here (first at line {first}); each name must be "
        "unique: remove or rename one of them", id="duplicate-id"),
    pytest.param(
        "      location: 东门岗亭北侧灯杆", "      location: 东门: 岗亭北侧灯杆", "东门: 岗亭",
        ": this text contains ': ', which YAML reads as a new key; put the whole text in quotes: "
        "location: \"东门: 岗亭北侧灯杆\" (got 东门: 岗亭北侧灯杆)", id="unquoted-colon"),
    pytest.param(
        "    offline_after_s: 180", "    offline_after: 180", "offline_after:",
        ": posts.defaults.offline_after: unknown setting 'offline_after'; did you mean "
        "'offline_after_s'?", id="unknown-key"),
    pytest.param(
        "    profile: gridedge-speaker", "    profile: gridedge-speeker", "gridedge-speeker",
        ": speakers.defaults.profile: there is no speaker profile 'gridedge-speeker'; did you mean"
        " 'gridedge-speaker'? (got gridedge-speeker)", id="unknown-profile"),
    pytest.param(
        "    volume: 70", "    volume: 140", "volume: 140",
        ": speakers.defaults.volume: must be at most 100 (got 140)", id="out-of-range"),
]


@pytest.mark.usefixtures("site_environ")
@pytest.mark.parametrize(("old", "new", "where", "expected"), CASES)
def test_typical_mistake_gives_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           old: str, new: str, where: str, expected: str) -> None:
    """Test that each typical staff mistake yields exactly one message naming file, line, fix."""
    text = _edit(old, new)
    if "written twice" in expected:
        # the second P01 is on the line of the former P02
        where_line = _line_of(text, "P01: {name: 2号充电桩")
    else:
        where_line = _line_of(text, where)
    code, problems = _check(tmp_path, text, capsys)
    assert code == 2
    first = _line_of(text, "P01: {name: 1号充电桩")
    assert problems == [f"config.yaml:{where_line}{expected.format(first=first)}"]


@pytest.mark.usefixtures("site_environ")
def test_messages_are_chinese_by_default(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Test that staff get the message in Chinese unless they ask for English."""
    text = _edit('    start: "21:30"', "    start: 25:00")
    path = write_site(tmp_path, text)
    code = main(["check", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    line = _line_of(text, "start: 25:00")
    assert f"config.yaml:{line}: site.quiet_hours.start: 小时只能是 00 到 23（午夜写作 00:00）（实际写的是 25:00）" in err
    assert "发现 1 个问题" in err


@pytest.mark.usefixtures("site_environ")
def test_site_language_setting_switches_to_english(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `site.language: en` makes check speak English without --lang."""
    text = _edit("  language: zh", "  language: en")
    text = _edit("    volume: 70", "    volume: 140", text)
    path = write_site(tmp_path, text)
    assert main(["check", "-c", str(path)]) == 2
    assert "must be at most 100 (got 140)" in capsys.readouterr().err


@pytest.mark.usefixtures("site_environ")
def test_every_problem_is_reported_in_one_run_sorted_by_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that several mistakes are all listed at once, in file order, without a traceback."""
    text = _edit("    volume: 70", "    volume: 140")
    text = _edit("  port: 1883", "  port: 0", text)
    text = _edit('    end: "07:00"', "    end: 7", text)
    text = _edit("speakers: [南门, 西门]", "speakers: [南门, 西们]", text)
    code, problems = _check(tmp_path, text, capsys)
    assert code == 2
    assert len(problems) == 4
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)
    assert not any("Traceback" in p for p in problems)


def test_missing_environment_variable_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               site_environ: None) -> None:
    """Test that a ${NAME} secret that is not set is reported with its line and how to fix it."""
    del site_environ
    text = _edit("${GRIDEDGE_MQTT_PASSWORD:-}", "${GRIDEDGE_MQTT_PASSWORD}")
    code, problems = _check(tmp_path, text, capsys)
    assert code == 2
    line = _line_of(text, "${GRIDEDGE_MQTT_PASSWORD}")
    assert problems == [f"config.yaml:{line}: mqtt.password: the environment variable "
                        "GRIDEDGE_MQTT_PASSWORD is not set; set it for the service, or write "
                        "${GRIDEDGE_MQTT_PASSWORD:-value} to give a default"]


def test_environment_variable_is_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             clean_environ: None) -> None:
    """Test that ${NAME} in config.yaml takes the value from the environment."""
    del clean_environ
    from edge.config import load_config

    monkeypatch.setenv("GRIDEDGE_MQTT_PASSWORD", "s3cret")
    path = write_site(tmp_path, ORIGINAL)
    assert load_config(path).mqtt.password == "s3cret"


@pytest.mark.usefixtures("site_environ")
def test_device_settings_merge_over_defaults(tmp_path: Path) -> None:
    """Test that a speaker's own volume wins over the default, and the others inherit it."""
    from edge.config import load_config

    path = write_site(tmp_path, ORIGINAL)
    config = load_config(path)
    volumes = {sid: s.volume for sid, s in config.speakers.devices.items()}
    assert volumes == {"east_gate": 70, "south_gate": 70, "west_gate": 70, "north_gate": 60}
    assert config.areas["第一网格"].speakers == ["east_gate", "north_gate"]
    assert config.data_dir == tmp_path / "data"


@pytest.mark.usefixtures("site_environ")
def test_missing_required_setting_points_at_its_parent(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a device without a name is reported at the device's line with the key to add."""
    text = _edit("    P05: {name: 5号充电桩, location: 5号楼南侧车棚}",
                 "    P05: {location: 5号楼南侧车棚}")
    code, problems = _check(tmp_path, text, capsys)
    line = _line_of(text, "P05: {location")
    assert code == 2
    assert problems == [f"config.yaml:{line}: posts.devices.P05.name: this setting is required; "
                        "add 'name:'"]


@pytest.mark.usefixtures("site_environ")
def test_bad_device_id_explains_topic_rule(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a Chinese speaker id is refused with a hint to put Chinese under name:."""
    text = _edit("    west_gate:", "    西门口:")
    code, problems = _check(tmp_path, text, capsys)
    assert code == 2
    assert len(problems) == 1
    assert "put a Chinese name under 'name:'" in problems[0]
    assert problems[0].startswith(f"config.yaml:{_line_of(text, '西门口:')}: speakers.devices.西门口")


@pytest.mark.usefixtures("site_environ")
def test_two_devices_with_one_name_are_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Test that two speakers called 东门 are refused at the second one's name."""
    text = _edit("      name: 南门", "      name: 东门")
    text = _edit("speakers: [南门, 西门]", "speakers: [西门]", text)
    code, problems = _check(tmp_path, text, capsys)
    line = [n for n, t in enumerate(text.splitlines(), 1) if t == "      name: 东门"][1]
    assert code == 2
    assert problems == [f"config.yaml:{line}: speakers.devices.south_gate.name: the name '东门' is "
                        "already used by 'east_gate'; give each device its own name"]
