"""Schedule files: every mistake staff make gets file:line, the fix, and a did-you-mean."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from edge.config import ConfigError
from edge.i18n import set_language
from tests.schedule.helpers import load, site


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path so files are shown as staff name them."""
    monkeypatch.chdir(tmp_path)
    set_language("en")


def problems(tmp_path: Path, text: str) -> list[str]:
    """Every problem line staff would see for this schedule text."""
    with pytest.raises(ConfigError) as info:
        load(site(tmp_path, text))
    return [str(p) for p in info.value.problems]


def write_wav(path: Path, seconds: float) -> None:
    """A real 8 kHz mono WAV with a tone."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = int(8000 * seconds)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8)))
                                 for i in range(frames)))


GOOD = """\
announcements:
  反诈:
    text: 反诈提醒
    speakers: [东门]
    at: "08:30"
"""


def test_valid_file_loads(tmp_path: Path) -> None:
    """Test that a valid file loads with canonical speaker ids and its times."""
    schedule = load(site(tmp_path, GOOD))
    (ann,) = schedule.announcements
    assert ann.speakers == ("east_gate",)
    assert [t.strftime("%H:%M") for t in ann.times] == ["08:30"]


def test_overlapping_times_on_one_speaker(tmp_path: Path) -> None:
    """Test that two announcements playing at once on one speaker are reported at the later one."""
    text = """\
    announcements:
      医保:
        text: 居民朋友们请注意，二零二七年度城乡居民医疗保险正在缴费，请及时办理，谢谢配合。
        speakers: all
        at: "08:30"
      反诈:
        text: 反诈提醒
        speakers: [南门, 东门]
        at: "08:30"
    """
    assert problems(tmp_path, text) == [
        ("announcements.yaml:9: announcements.反诈: '反诈' at 08:30 overlaps '医保' (line 2) at "
         "08:30 on 东门 (from 2026-11-28): '医保' starts at 08:30 and plays about 8 s, until "
         "08:30:08; a speaker plays one clip at a time: move one of them")]


def test_overlap_is_reported_at_the_announcement_written_later(tmp_path: Path) -> None:
    """Test that an overlap caused by a newly added announcement (written below, playing
    earlier in the day) is reported at the new one's line, naming both."""
    long_text = "请各位居民注意用电安全，不要在楼道里给电动自行车充电。" * 12
    text = f"""\
    announcements:
      防火:
        text: 防火提醒
        speakers: [东门]
        at: "08:31"
      新增:
        text: {long_text}
        speakers: [东门]
        at: "08:30"
    """
    (found,) = problems(tmp_path, text)
    assert found.startswith("announcements.yaml:9: announcements.新增: '新增' at 08:30 overlaps "
                            "'防火' (line 2) at 08:31 on 东门 (from 2026-11-28): '新增' starts "
                            "at 08:30 and plays about ")


def test_every_shorter_than_the_clip(tmp_path: Path, ) -> None:
    """Test that an 'every' interval shorter than the announcement is reported."""
    wav = tmp_path / "long.wav"
    write_wav(wav, 90.0)
    text = """\
    announcements:
      录音:
        clip: long.wav
        every: 1m
        window: "09:00 ~ 09:05"
    """
    assert problems(tmp_path, text) == [
        ("announcements.yaml:4: announcements.录音: the slots at 09:00 and 09:01 overlap on 东门: "
        "this announcement plays about 90 s; leave more time between slots or shorten it")]


@pytest.mark.parametrize(("text", "expected"), [
    ("announcements:\n  a:\n    text: '  '\n    at: '08:30'\n",
     ("announcements.yaml:3: announcements.a.text: the text is empty; write what the speakers "
     "should say")),
    ("announcements:\n  a:\n    clip: missing.mp3\n    at: '08:30'\n",
     ("announcements.yaml:3: announcements.a.clip: clip file not found: missing.mp3 (paths are "
     "taken from the folder of this schedule file)")),
    (("announcements:\n  a:\n    text: x\n    at: '08:30'\n    from: 2026-12-10\n"
     "    until: 2026-12-01\n"),
     ("announcements.yaml:6: announcements.a.until: 'until' (2026-12-01) is before 'from' "
     "(2026-12-10); the announcement would never play")),
    ("announcements:\n  a:\n    text: x\n    at: ['08:30', '22:00']\n",
     ("announcements.yaml:4: announcements.a.at: 22:00 is inside the site's quiet hours "
     "(21:30–07:00), when only emergency announcements play; choose another time or set "
     "'priority: emergency'")),
    ("announcements:\n  a:\n    text: x\n    at: '25:00'\n",
     ("announcements.yaml:4: announcements.a.at: hours go from 00 to 23 (midnight is 00:00) "
     "(got 25:00)")),
    ("announcements:\n  a:\n    text: x\n    at: 8.30\n",
     ("announcements.yaml:4: announcements.a.at: a time is written as HH:MM with a colon, "
     "e.g. 08:30 (got 8.30)")),
    ("announcements:\n  a:\n    text: x\n    at: '08:30'\n    speakers: [东们]\n",
     ("announcements.yaml:5: announcements.a.speakers[0]: there is no speaker '东们'; did you "
     "mean '东门'? (got 东们)")),
    ("announcements:\n  a:\n    text: x\n    at: '08:30'\n    days: [工作曰]\n",
     ("announcements.yaml:5: announcements.a.days[0]: unknown kind of day '工作曰'; did you "
     "mean '工作日'?")),
    ("announcements:\n  a:\n    text: x\n    at: '08:30'\n    dayz: 每天\n",
     "announcements.yaml:5: announcements.a.dayz: unknown setting 'dayz'; did you mean 'days'?"),
    ("announcements:\n  a:\n    text: x\n    every: 2h\n",
     ("announcements.yaml:4: announcements.a.every: 'every' needs a 'window' (e.g. window: "
     "'09:00 ~ 17:00') so it does not repeat all day and night")),
    ("announcements:\n  a:\n    text: x\n\tat: '08:30'\n",
     ("announcements.yaml:4: a tab is used for indentation; YAML needs spaces: replace the tab "
     "with spaces (2 per level)")),
    ("announcements:\n  a:\n    text： x\n    at: '08:30'\n",
     ("announcements.yaml:3: a full-width colon '：' (Chinese input) follows 'text'; type a "
     "half-width ':' and a space instead")),
])
def test_mistake_is_reported_with_line_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    """Test that each typical mistake gives exactly the message and line staff need."""
    assert problems(tmp_path, text) == [expected]


def test_clip_that_does_not_decode(tmp_path: Path) -> None:
    """Test that a clip file that is not audio is rejected at its line, naming the decoder's reason."""
    (tmp_path / "bad.mp3").write_bytes(b"this is not audio at all" * 50)
    (found,) = problems(tmp_path, "announcements:\n  a:\n    clip: bad.mp3\n    at: '08:30'\n")
    assert found.startswith("announcements.yaml:3: announcements.a.clip: the clip cannot be "
                            "decoded as audio (")
    assert found.endswith("); export it again as MP3 or WAV")


def test_recorded_clip_is_measured(tmp_path: Path) -> None:
    """Test that a real recorded clip loads and its decoded length is used."""
    write_wav(tmp_path / "fire.wav", 2.5)
    schedule = load(site(tmp_path, "announcements:\n  a:\n    clip: fire.wav\n    at: '08:30'\n"))
    assert schedule.announcements[0].duration_s == pytest.approx(2.5, abs=0.05)
    assert schedule.announcements[0].clip == (tmp_path / "fire.wav").resolve()


def test_every_problem_in_one_run_in_chinese(tmp_path: Path) -> None:
    """Test that several mistakes come out together, sorted by line, in Chinese by default."""
    set_language("zh")
    text = ("announcements:\n  a:\n    text: ''\n    at: '08:30'\n  b:\n    text: x\n"
            "    at: '23:00'\n")
    assert problems(tmp_path, text) == [
        "announcements.yaml:3: announcements.a.text: 广播文字是空的；请写上喇叭要播的内容",
        ("announcements.yaml:7: announcements.b.at: 23:00 在小区的静音时段（21:30–07:00）内，这段"
        "时间只播紧急广播；请换一个时间，或写 'priority: emergency'")]


def test_emergency_may_play_in_quiet_hours(tmp_path: Path) -> None:
    """Test that an emergency announcement in quiet hours is accepted."""
    text = "announcements:\n  a:\n    text: x\n    at: '23:00'\n    priority: emergency\n"
    assert len(load(site(tmp_path, text)).announcements) == 1


@pytest.mark.parametrize(("word", "priority"), [("普通", "routine"), ("重要", "important"),
                                                ("紧急", "emergency"), ("Emergency", "emergency")])
def test_priority_in_chinese_words(tmp_path: Path, word: str, priority: str) -> None:
    """Test that staff may write the priority as 普通/重要/紧急, as days: takes 工作日."""
    text = f"announcements:\n  a:\n    text: x\n    at: '08:30'\n    priority: {word}\n"
    assert load(site(tmp_path, text)).announcements[0].priority.value == priority


def test_unknown_priority_is_explained_in_chinese_without_english_words(tmp_path: Path) -> None:
    """Test that a wrong priority gets a Chinese message listing the Chinese words, with no
    English 'or' in it."""
    set_language("zh")
    text = "announcements:\n  a:\n    text: x\n    at: '08:30'\n    priority: 很急\n"
    assert problems(tmp_path, text) == [
        "announcements.yaml:5: announcements.a.priority: 不认识的优先级；请写 普通、重要 或 "
        "紧急（也可以写 routine、important、emergency）（实际写的是 很急）"]


def test_a_choice_list_has_no_english_or(tmp_path: Path) -> None:
    """Test that a wrong choice in config.yaml lists the allowed values without an English 'or'."""
    set_language("zh")
    config_text = (Path(__file__).resolve().parents[2] / "config.yaml").read_text("utf-8")
    config_text = config_text.replace("  silence_mode: hold", "  silence_mode: 保持")
    (tmp_path / "config.yaml").write_text(config_text, encoding="utf-8")
    from edge.config import load_config

    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.yaml")
    (problem,) = info.value.problems
    assert problem.text() == "只能是以下之一：hold, suppress（实际写的是 保持）"
