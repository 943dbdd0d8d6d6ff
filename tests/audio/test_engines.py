"""Tests of the TTS engines: the wheel's espeak-ng 1.52 Mandarin, Piper where a model exists."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from audio import (
    EngineUnavailableError,
    EspeakEngine,
    PiperEngine,
    SynthesisError,
    list_voices,
    normalize_text,
)
from audio.const import ESPEAK_SAMPLE_RATE


def test_espeak_is_the_wheel_1_52_with_mandarin() -> None:
    """Test that espeak-ng's cmn voice comes from a 1.52+ library and is usable."""
    engine = EspeakEngine()
    assert engine.identity("cmn").startswith("espeak-ng 1.52")
    voices = {v.voice_id: v for v in list_voices([engine])}
    assert voices["cmn"].available, voices["cmn"].reason
    assert "zh" in voices["cmn"].languages
    assert "en-us" in voices


def test_espeak_speaks_mandarin_syllables_not_digits() -> None:
    """Test that four syllables take four syllables' time (1.51 read tone digits in English)."""
    pcm = EspeakEngine().synthesize("你好世界", "cmn")
    assert pcm.sample_rate == ESPEAK_SAMPLE_RATE
    assert pcm.channels == 1
    # 1.51 said "ni three hao three ..." and took well over twice as long.
    assert 0.5 < pcm.duration_s < 2.5


def test_espeak_refuses_unknown_voice() -> None:
    """Test that an unknown voice id gives an error that names it and where to look."""
    with pytest.raises(EngineUnavailableError, match="no voice 'xx-none'.*audio voices"):
        EspeakEngine().synthesize("你好", "xx-none")


def test_piper_without_model_says_why(tmp_path: Path) -> None:
    """Test that a Piper voice whose model file is missing is listed unavailable with the path."""
    engine = PiperEngine(tmp_path / "zh_CN-test.onnx")
    [voice] = engine.voices()
    assert not voice.available
    assert "zh_CN-test.onnx not found" in (voice.reason or "")
    with pytest.raises(EngineUnavailableError, match="not found"):
        engine.synthesize("你好", "zh_CN-test")


def test_piper_with_broken_model_fails_clearly(tmp_path: Path) -> None:
    """Test that a model file that is not a Piper model fails with an error naming the file."""
    model = tmp_path / "zh_CN-broken.onnx"
    model.write_bytes(b"not an onnx model")
    (tmp_path / "zh_CN-broken.onnx.json").write_text(
        json.dumps({"language": {"code": "zh_CN"}, "espeak": {"voice": "cmn"},
                    "audio": {"sample_rate": 22050}}),
        encoding="utf-8",
    )
    engine = PiperEngine(model)
    assert engine.languages("zh_CN-broken") == ("zh_CN", "cmn")
    with pytest.raises(EngineUnavailableError, match=r"piper.*(not installed|zh_CN-broken\.onnx)"):
        engine.synthesize("你好", "zh_CN-broken")


PIPER_MODEL = os.environ.get("GRIDEDGE_PIPER_MODEL")


@pytest.mark.skipif(
    not PIPER_MODEL,
    reason="no Piper voice model here: set GRIDEDGE_PIPER_MODEL to a local .onnx voice "
    "(with its .onnx.json) and install piper-tts to run this test",
)
def test_piper_model_speaks() -> None:
    """Test that a real local Piper voice synthesises non-silent speech."""
    engine = PiperEngine(Path(str(PIPER_MODEL)))
    voice = engine.default_voice
    text = normalize_text("请于12月31日前缴费") if "zh" in engine.languages(voice)[0] else "Hello."
    try:
        pcm = engine.synthesize(text, voice)
    except SynthesisError as err:
        pytest.fail(f"piper failed: {err}")
    assert pcm.duration_s > 0.3
