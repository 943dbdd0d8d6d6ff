"""``audio:`` — the voice that speaks announcements and how clips are composed."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from edge.config.base import StrictModel, fail
from edge.i18n import N_

__all__ = ["AudioConfig", "TtsEngineName"]


class TtsEngineName(StrEnum):
    """Text-to-speech engines, spelled as in YAML."""

    ESPEAK = "espeak"
    PIPER = "piper"


class AudioConfig(StrictModel):
    """Text-to-speech and clip composition for every announcement."""

    engine: TtsEngineName = Field(default=TtsEngineName.ESPEAK,
                                  description="espeak (built in) or piper (needs a voice model)")
    voice: str = Field(default="cmn", min_length=1, description="voice id, e.g. cmn for Mandarin")
    rate_wpm: int = Field(default=160, ge=80, le=400, description="speaking rate, words per minute")
    piper_model: Path | None = Field(default=None, description="Piper voice model (.onnx) file")
    chime: bool = Field(default=True, description="a short chime before each announcement")
    pre_roll_ms: int = Field(default=300, ge=0, le=5000, description="silence before speech, ms")
    gap_ms: int = Field(default=1000, ge=0, le=10000, description="pause between repeats, ms")
    target_lufs: float = Field(default=-16.0, ge=-30.0, le=-10.0,
                               description="loudness of every clip, LUFS (EBU R128)")

    @model_validator(mode="after")
    def _piper_needs_model(self) -> AudioConfig:
        """The piper engine speaks only with a voice model file."""
        if self.engine is TtsEngineName.PIPER and self.piper_model is None:
            raise fail(N_("engine piper needs piper_model: the path of a .onnx voice file"),
                       at=("piper_model",))
        return self
