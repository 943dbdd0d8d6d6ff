"""Text-to-speech engines behind one interface."""

from audio.engines.base import TtsEngine, speaks_chinese
from audio.engines.espeak import EspeakEngine
from audio.engines.piper import PiperEngine

__all__ = ["EspeakEngine", "PiperEngine", "TtsEngine", "speaks_chinese"]
