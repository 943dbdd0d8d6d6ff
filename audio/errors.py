"""Exceptions raised by the audio library.

Hierarchy::

    AudioError                  base of everything raised here
    ├── AudioFormatError        a format or composition the pipeline cannot make (a ValueError)
    ├── TextError               text empty, too long or with nothing to speak (a ValueError)
    ├── EngineUnavailableError  engine or voice unusable here (library, model, version, language)
    ├── SynthesisError          the engine ran but gave no usable speech
    ├── ClipDecodeError         an input file ffmpeg cannot decode, or that is silent
    ├── EncodeError             ffmpeg failed, or the clip missed its loudness or format target
    └── CacheError              the clip cache directory cannot be used
"""

from __future__ import annotations


class AudioError(Exception):
    """Base class of all errors raised by `audio`."""


class AudioFormatError(AudioError, ValueError):
    """A speaker format or a composition has values the pipeline cannot produce."""


class TextError(AudioError, ValueError):
    """Text given for speech is empty, too long, or has nothing to speak."""


class EngineUnavailableError(AudioError):
    """A TTS engine or voice cannot be used on this machine; the message says why."""


class SynthesisError(AudioError):
    """A TTS engine failed or produced silence for a text."""


class ClipDecodeError(AudioError):
    """A recorded, chime, outro or cached file cannot be decoded, or holds only silence."""


class EncodeError(AudioError):
    """ffmpeg could not encode a clip, or the encoded clip missed its target."""


class CacheError(AudioError):
    """The clip cache directory cannot be created or written."""
