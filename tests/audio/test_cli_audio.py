"""Tests of `gridedge audio render` and `gridedge audio voices` as staff run them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from tests.audio.conftest import SHORT_TEXT, probe
from tests.conftest import REPO


def test_render_with_speaker_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `audio render --profile tasmota-i2s` writes the MP3 format that profile plays."""
    out = tmp_path / "out.mp3"
    code = main(["--lang", "en", "audio", "render", SHORT_TEXT, "-o", str(out),
                 "--profile", "tasmota-i2s", "--engine", "espeak",
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    got = probe(out)
    assert (got.codec, got.sample_rate, got.channels, got.bitrate_kbps) == ("mp3", 16_000, 1, 48)
    assert f"wrote {out}" in capsys.readouterr().out


def test_render_wav_from_suffix(tmp_path: Path) -> None:
    """Test that without --profile the -o suffix picks the format (.wav → 16-bit PCM WAV)."""
    out = tmp_path / "out.wav"
    code = main(["audio", "render", "今晚八点停水", "-o", str(out), "--chime", "generated",
                 "--engine", "espeak", "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert probe(out).codec == "pcm_s16le"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.ogg"], "must end in .mp3 or .wav"),
        (["-o", "x.mp3", "--profile", "tasmota-i2"], "did you mean 'tasmota-i2s'"),
        (["-o", "x.mp3", "--repeat", "0"], "repeat must be 1..10"),
    ],
)
def test_render_mistakes_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Test that staff mistakes give exit code 2 and a one-line reason, never a traceback."""
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    code = main(["--lang", "en", "audio", "render", SHORT_TEXT, *args,
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_render_missing_recording_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that a recorded clip that does not exist fails with exit 1 naming the file."""
    code = main(["--lang", "en", "audio", "render", str(tmp_path / "none.mp3"), "--recorded",
                 "--engine", "espeak",
                 "-o", str(tmp_path / "o.mp3"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 1
    assert "none.mp3" in capsys.readouterr().err


def test_voices_lists_mandarin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Test that `audio voices` lists espeak's cmn voice as usable and a missing Piper model why."""
    code = main(["--lang", "en", "audio", "voices", "--piper-model", str(tmp_path / "zh.onnx")])
    out = capsys.readouterr().out
    assert code == 0
    cmn = next(line for line in out.splitlines() if line.split()[:2] == ["espeak", "cmn"])
    assert "[ok]" in cmn
    assert "zh.onnx not found" in out


def test_voices_marks_the_site_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `audio voices -c config.yaml` lists the Kokoro voices and marks the site's own."""
    code = main(["audio", "voices", "-c", str(REPO / "config.yaml")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    default = [line for line in lines if line.endswith("（默认）")]
    assert len(default) == 1
    assert default[0].split()[:2] == ["kokoro", "zf_xiaobei"]
    assert "[正常]" in default[0]
    assert any(line.split()[:2] == ["kokoro", "zm_yunjian"] for line in lines)


def test_render_speaks_with_the_site_voice(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `audio render -c config.yaml` uses the site's engine and voice (Kokoro)."""
    out = tmp_path / "site.wav"
    code = main(["--lang", "en", "audio", "render", SHORT_TEXT, "-o", str(out),
                 "-c", str(REPO / "config.yaml"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0, capsys.readouterr().err
    assert probe(out).sample_rate == 22_050
    [sidecar] = (tmp_path / "cache").glob("*.json")
    assert "voice zf_xiaobei" in sidecar.read_text(encoding="utf-8")
