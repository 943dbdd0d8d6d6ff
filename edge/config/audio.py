"""``audio:`` — the voice that speaks announcements, how it reads names, how clips are composed."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from audio.const import (
    ESPEAK_DEFAULT_VOICE,
    KOKORO_DEFAULT_VOICE,
    KOKORO_SPEED_RANGE,
    RENDER_WORKER_IDLE_S,
)
from audio.engines.kokoro import KokoroEngine
from audio.pinyin import PinyinError, parse_pinyin
from edge.config.base import StrictModel, closest, fail
from edge.i18n import N_

__all__ = ["AudioConfig", "TtsEngineName"]

_HAN_WORD_RE = re.compile(r"^[\u4e00-\u9fff]{1,16}$")

# Message ids raised from audio.pinyin, listed here so the catalogue carries them.
_PINYIN_MESSAGES = (
    N_("write the pinyin with tone numbers, e.g. jian4 yuan4"),
    N_("'{syllable}' has no tone number: add 1-4 (5 for the neutral tone), e.g. {syllable}4"),
    N_("'{syllable}' is not a pinyin syllable with a tone number (e.g. jian4)"),
)


class TtsEngineName(StrEnum):
    """Text-to-speech engines, spelled as in YAML."""

    KOKORO = "kokoro"
    ESPEAK = "espeak"
    PIPER = "piper"


class AudioConfig(StrictModel):
    """Text-to-speech and clip composition for every announcement."""

    engine: TtsEngineName = Field(
        default=TtsEngineName.KOKORO,
        description="kokoro (natural neural voice, built in), espeak (robotic, built in; also the "
                    "fallback when kokoro cannot load) or piper (needs a voice model)")
    voice: str | None = Field(
        default=None, min_length=1,
        description=f"voice id from `gridedge audio voices`; empty = the engine's default "
                    f"({KOKORO_DEFAULT_VOICE} for kokoro, {ESPEAK_DEFAULT_VOICE} for espeak)")
    speed: float = Field(default=1.0, ge=KOKORO_SPEED_RANGE[0], le=KOKORO_SPEED_RANGE[1],
                         description="kokoro speaking speed, 1.0 = as trained")
    rate_wpm: int = Field(default=160, ge=80, le=400,
                          description="espeak speaking rate, words per minute")
    piper_model: Path | None = Field(default=None, description="Piper voice model (.onnx) file")
    pronunciations: dict[str, str] = Field(
        default_factory=dict,
        description="words the voice reads wrongly → pinyin with tone numbers, one syllable per "
                    "character, e.g. 建院: jian4 yuan4 (kokoro)")
    chime: bool = Field(default=True, description="a short chime before each announcement")
    pre_roll_ms: int = Field(default=300, ge=0, le=5000, description="silence before speech, ms")
    gap_ms: int = Field(default=1000, ge=0, le=10000, description="pause between repeats, ms")
    target_lufs: float = Field(default=-16.0, ge=-30.0, le=-10.0,
                               description="loudness of every clip, LUFS (EBU R128)")
    unload_after_s: int = Field(
        default=int(RENDER_WORKER_IDLE_S), ge=0, le=86_400,
        description="kokoro: seconds without a clip after which the voice (~600 MB) is unloaded; "
                    "the next clip then waits ~3 s for it; 0 = keep it loaded (an emergency "
                    "never waits for it)")

    @model_validator(mode="after")
    def _piper_needs_model(self) -> AudioConfig:
        """The piper engine speaks only with a voice model file."""
        if self.engine is TtsEngineName.PIPER and self.piper_model is None:
            raise fail(N_("engine piper needs piper_model: the path of a .onnx voice file"),
                       at=("piper_model",))
        return self

    @model_validator(mode="after")
    def _kokoro_voice_is_shipped(self) -> AudioConfig:
        """A kokoro voice must be one of the voices shipped with gridedge, and only for kokoro."""
        if self.engine is not TtsEngineName.KOKORO and self.voice in KokoroEngine.voice_ids():
            raise fail(N_("voice {voice} belongs to engine kokoro; with engine {engine} remove "
                          "voice or choose one from `gridedge audio voices`"),
                       at=("voice",), voice=self.voice, engine=self.engine.value)
        if self.engine is TtsEngineName.KOKORO and self.voice is not None:
            known = KokoroEngine.voice_ids()
            if self.voice not in known:
                hint = closest(self.voice, known)
                if hint:
                    raise fail(N_("kokoro has no voice '{voice}'; did you mean '{hint}'?"),
                               at=("voice",), voice=self.voice, hint=hint)
                raise fail(N_("kokoro has no voice '{voice}'; its voices are: {known}"),
                           at=("voice",), voice=self.voice, known=", ".join(known))
        return self

    @model_validator(mode="after")
    def _pronunciations_are_pinyin(self) -> AudioConfig:
        """Each override is a Chinese word and toned pinyin with one syllable per character."""
        for word, pinyin in self.pronunciations.items():
            if not _HAN_WORD_RE.match(word):
                raise fail(N_("'{word}' must be a word of Chinese characters only (1 to 16)"),
                           at=("pronunciations", word), word=word)
            try:
                syllables = parse_pinyin(pinyin)
            except PinyinError as err:
                raise fail(err.msgid, at=("pronunciations", word), **err.args_) from None
            if len(syllables) != len(word):
                raise fail(N_("'{word}' has {chars} characters but the pinyin has {count} "
                              "syllables; write one syllable per character"),
                           at=("pronunciations", word), word=word, chars=len(word),
                           count=len(syllables))
        return self
