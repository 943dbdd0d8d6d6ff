"""The interface every text-to-speech engine implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from audio.models import Pcm, VoiceInfo

# Language tags that mean "speaks Chinese" across engines: espeak says cmn/yue, piper zh_CN.
_CHINESE_PREFIXES = ("zh", "cmn", "yue")


def speaks_chinese(languages: tuple[str, ...] | frozenset[str]) -> bool:
    """Tell whether any of the language tags is a Chinese language."""
    return any(lang.lower().replace("_", "-").startswith(_CHINESE_PREFIXES) for lang in languages)


class TtsEngine(ABC):
    """A text-to-speech engine: text in, 16-bit PCM out.

    Engines load lazily: constructing one does no I/O. A failure to load raises
    `EngineUnavailableError` when the engine is first used, with the reason.
    """

    #: engine name as config and the CLI spell it
    name: str

    @property
    @abstractmethod
    def default_voice(self) -> str:
        """Voice used when the caller names none."""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """List the voices this engine offers, each marked available or not (never raises)."""

    @abstractmethod
    def languages(self, voice: str) -> tuple[str, ...]:
        """Language tags the voice speaks.

        Raises:
            EngineUnavailableError: the engine or the voice cannot be used here.

        """

    @abstractmethod
    def identity(self, voice: str) -> str:
        """A string that changes whenever the engine would speak the same text differently.

        It goes into the cache key: engine version, voice, model digest, speech parameters.
        """

    @abstractmethod
    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak already-normalised text.

        Safe to call from several threads (engines serialise internally where they must).

        Raises:
            EngineUnavailableError: the engine or voice cannot be used here.
            SynthesisError: the engine ran and failed, or returned no audio.

        """
