"""Tests of the Kokoro engine: shipped voices, the site's pronunciations, fallback to espeak-ng."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audio import ClipRenderer, EngineUnavailableError, EspeakEngine
from audio._g2p import MandarinG2P
from audio.engines.kokoro import KokoroEngine
from tests.audio.conftest import CACHE_BYTES, SHORT_TEXT, probe


def test_shipped_voices_are_listed_and_usable() -> None:
    """Test that the Mandarin voices ship in the package and are usable with pip install alone."""
    voices = {v.voice_id: v for v in KokoroEngine().voices()}
    assert {"zm_yunjian", "zf_xiaobei"} <= set(voices)
    assert all(v.available for v in voices.values()), voices
    assert KokoroEngine().default_voice == "zf_xiaobei"
    notice = Path(__file__).resolve().parents[2] / "audio" / "kokoro_data" / "NOTICE"
    assert "kokoro-js 1.2.1" in notice.read_text(encoding="utf-8")


def test_vocabulary_has_the_114_symbols_of_kokoro_v1() -> None:
    """Test that the phoneme vocabulary is Kokoro v1.0's: 114 symbols, ids below n_token 178."""
    path = Path(__file__).resolve().parents[2] / "audio" / "kokoro_data" / "vocab.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert len(data["vocab"]) == 114
    assert max(data["vocab"].values()) < data["n_token"] == 178


def test_overrides_change_the_reading_of_a_word() -> None:
    """Test that a site's pinyin for a place name replaces the dictionary's reading."""
    # 单 as a family name is shàn; the dictionary reads dān.
    default = MandarinG2P().phonemes("请单家村的居民注意")
    site = MandarinG2P({"单家村": "shan4 jia1 cun1"}).phonemes("请单家村的居民注意")
    assert "ta→n" in default
    assert "ʂa↘n" in site
    assert site.replace("ʂa↘n", "ta→n").replace(" ", "") == default.replace(" ", "")
    assert MandarinG2P({"单家村": "shan4 jia1 cun1"}).phonemes("建院") == (
        MandarinG2P().phonemes("建院"))


def test_pronunciations_enter_the_identity() -> None:
    """Test that changing a pronunciation renders clips anew (it is part of the cache key)."""
    plain = KokoroEngine().identity("zf_xiaobei")
    assert KokoroEngine(pronunciations={"建院": "jian4 yuan4"}).identity("zf_xiaobei") != plain
    assert KokoroEngine().identity("zm_yunjian") != plain


def test_unknown_voice_names_the_shipped_ones() -> None:
    """Test that an unknown voice says which voices exist."""
    with pytest.raises(EngineUnavailableError, match="zm_yunjian"):
        KokoroEngine().languages("zm_nobody")


def test_broken_model_falls_back_to_espeak(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Test that a model that cannot load leaves a clear error and espeak-ng speaks instead."""
    model = tmp_path / "kokoro.onnx"
    model.write_bytes(b"not an onnx model")
    kokoro = KokoroEngine(model_path=model)
    renderer = ClipRenderer(tmp_path / "cache", CACHE_BYTES, [kokoro, EspeakEngine()])
    clip = renderer.render(SHORT_TEXT)
    assert probe(clip.path).duration_s > 1
    sidecar = json.loads(clip.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["params"]["engine"].startswith("espeak-ng")
    assert any("cannot load the model" in r.getMessage() and "espeak speaks instead"
               in r.getMessage() for r in caplog.records), caplog.text
    [voice] = [v for v in kokoro.voices() if v.voice_id == "zf_xiaobei"]
    assert not voice.available
    assert "kokoro.onnx" in (voice.reason or "")
    with pytest.raises(EngineUnavailableError, match="cannot load the model"):
        renderer.render(SHORT_TEXT, engine="kokoro")
