"""Listing the voices every engine offers, with why a voice cannot be used."""

from __future__ import annotations

from collections.abc import Sequence

from audio.engines.base import TtsEngine
from audio.engines.espeak import EspeakEngine
from audio.models import VoiceInfo


def list_voices(engines: Sequence[TtsEngine] | None = None) -> list[VoiceInfo]:
    """List voices of the given engines (espeak-ng when None), available or not, with reasons.

    Never raises for an engine that cannot load: its entry says why instead.
    """
    result: list[VoiceInfo] = []
    for engine in engines or [EspeakEngine()]:
        result.extend(engine.voices())
    return result
