"""What staff see for mistakes in config.yaml's audio: section: file, line, the fix, in Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from tests.conftest import REPO, write_site

ORIGINAL = (REPO / "config.yaml").read_text(encoding="utf-8")


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param("    建院: jian4 yuan4", "    建院: jian yuan4",
                     "audio.pronunciations.建院: “jian”没有声调数字：请加上 1-4（轻声写 5），例如 jian4",
                     id="no-tone"),
        pytest.param("    建院: jian4 yuan4", "    建院: jian4",
                     "audio.pronunciations.建院: “建院”有 2 个字，但拼音有 1 个音节；请每个字写一个音节",
                     id="syllable-count"),
        pytest.param("    建院: jian4 yuan4", "    建院: jain4 yuan4",
                     "audio.pronunciations.建院: “jain4”不是带声调数字的拼音音节（例如 jian4）",
                     id="not-pinyin"),
        pytest.param("    建院: jian4 yuan4", "    建院1号: jian4 yuan4 yi1 hao4",
                     "audio.pronunciations.建院1号: “建院1号”只能是汉字词语（1 到 16 个字）",
                     id="not-han"),
        pytest.param("  engine: kokoro", "  engine: espeak",
                     "audio.voice: 声音 zf_xiaobei 属于 kokoro 引擎；使用 espeak 引擎时请删除 voice "
                     "这一行，或从 gridedge audio voices 列出的声音中选择",
                     id="kokoro-voice-for-espeak"),
        pytest.param("  voice: zf_xiaobei", "  voice: zf_xiaobie",
                     "audio.voice: kokoro 没有声音“zf_xiaobie”；您是不是想写“zf_xiaobei”？",
                     id="voice-typo"),
    ],
)
def test_audio_mistakes_name_file_line_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               old: str, new: str, message: str) -> None:
    """Test that a wrong voice or pronunciation gives exit 2 and one Chinese line at its line."""
    assert old in ORIGINAL
    text = ORIGINAL.replace(old, new, 1)
    path = write_site(tmp_path, text)
    code = main(["check", "-c", str(path)])
    err = capsys.readouterr().err.replace(str(path), "config.yaml")
    assert code == 2
    # A kokoro voice left under another engine is reported at the voice line.
    where = "  voice: " if "属于 kokoro" in message else new.strip()
    assert f"config.yaml:{_line_of(text, where)}: {message}" in err.splitlines(), err


def test_site_pronunciations_and_voice_load(tmp_path: Path, site_environ: dict[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Test that the shipped audio: section (kokoro, zf_xiaobei, 建院) is valid."""
    path = write_site(tmp_path, ORIGINAL)
    assert main(["--lang", "en", "check", "-c", str(path)]) == 0, capsys.readouterr().err
