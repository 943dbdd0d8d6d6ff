"""Text-to-speech engines behind one interface."""

from audio.engines.base import TtsEngine, speaks_chinese
from audio.engines.espeak import EspeakEngine
from audio.engines.kokoro import KokoroEngine
from audio.engines.piper import PiperEngine

__all__ = ["EspeakEngine", "KokoroEngine", "PiperEngine", "TtsEngine", "speaks_chinese"]
