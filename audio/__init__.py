"""gridedge audio: Mandarin text or recorded files in, loudness-normalised speaker clips out.

A library: it never imports `edge`, reads no config file and never touches MQTT.
"""

from audio.engines import EspeakEngine, KokoroEngine, PiperEngine, TtsEngine
from audio.errors import (
    AudioError,
    AudioFormatError,
    CacheError,
    ClipDecodeError,
    EncodeError,
    EngineUnavailableError,
    SynthesisError,
    TextError,
)
from audio._cache import write_pins
from audio.models import AudioFormat, Composition, Pcm, RenderedClip, VoiceInfo
from audio.renderer import ClipRenderer
from audio.textnorm import normalize_text
from audio.voices import list_voices

__all__ = [
    "AudioError",
    "AudioFormat",
    "AudioFormatError",
    "CacheError",
    "ClipDecodeError",
    "ClipRenderer",
    "Composition",
    "EncodeError",
    "EngineUnavailableError",
    "EspeakEngine",
    "KokoroEngine",
    "Pcm",
    "PiperEngine",
    "RenderedClip",
    "SynthesisError",
    "TextError",
    "TtsEngine",
    "VoiceInfo",
    "list_voices",
    "normalize_text",
    "write_pins",
]
