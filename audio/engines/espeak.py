"""espeak-ng engine: libespeak-ng 1.52 from the espeakng-loader wheel, driven through its C API."""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass, field

from audio.const import (
    ESPEAK_AUDIO_OUTPUT_SYNCHRONOUS,
    ESPEAK_CHARS_UTF8,
    ESPEAK_DEFAULT_RATE_WPM,
    ESPEAK_DEFAULT_VOICE,
    ESPEAK_INITIALIZE_DONT_EXIT,
    ESPEAK_MIN_VERSION,
    ESPEAK_PARAM_RATE,
    ESPEAK_PARAM_VOLUME,
    ESPEAK_POS_CHARACTER,
    ESPEAK_VOLUME,
)
from audio.engines.base import TtsEngine, speaks_chinese
from audio.errors import EngineUnavailableError, SynthesisError
from audio.models import Pcm, VoiceInfo

logger = logging.getLogger(__name__)

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _EspeakVoice(ctypes.Structure):
    # espeak_VOICE from speak_lib.h; `languages` is a run of (priority byte, NUL-ended tag) pairs.
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


@dataclass
class _Runtime:
    """The one libespeak-ng of this process, its state, and the buffer its callback fills."""

    lib: ctypes.CDLL
    version: str
    sample_rate: int
    voices: dict[str, tuple[str, tuple[str, ...]]]  # voice id -> (name, languages)
    callback: object = None  # kept referenced: libespeak-ng holds the raw function pointer
    buffer: bytearray = field(default_factory=bytearray)
    current_voice: str | None = None
    current_rate: int | None = None


# libespeak-ng keeps global state and is not thread-safe: one runtime and one lock per process.
_LOCK = threading.Lock()
_runtime: _Runtime | None = None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _load_runtime() -> _Runtime:
    """Load and initialise libespeak-ng once; caller holds _LOCK."""
    global _runtime  # noqa: PLW0603 - one engine per process, by the library's design
    if _runtime is not None:
        return _runtime
    try:
        import espeakng_loader  # noqa: PLC0415 - optional at import time, reported at use

        lib_path = espeakng_loader.get_library_path()
        data_path = espeakng_loader.get_data_path()
        # Only the wheel's library: system libespeak-ng 1.51 reads Mandarin tone digits in English.
        lib = ctypes.CDLL(lib_path)
    except (ImportError, OSError, RuntimeError) as err:
        msg = f"espeak-ng: cannot load libespeak-ng from the espeakng-loader wheel: {err}"
        raise EngineUnavailableError(msg) from err
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))

    sample_rate = lib.espeak_Initialize(
        ESPEAK_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), ESPEAK_INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        msg = f"espeak-ng: espeak_Initialize failed (data {data_path}, code {sample_rate})"
        raise EngineUnavailableError(msg)
    version = (lib.espeak_Info(None) or b"?").decode("ascii", "replace")
    runtime = _Runtime(lib, version, sample_rate, _list_voices(lib))

    def on_samples(wav: ctypes.Array[ctypes.c_short], count: int, _events: int) -> int:
        if count > 0:
            runtime.buffer.extend(ctypes.string_at(wav, count * 2))
        return 0  # 0 = go on synthesising

    runtime.callback = _SYNTH_CALLBACK(on_samples)
    lib.espeak_SetSynthCallback(runtime.callback)
    lib.espeak_SetParameter(ESPEAK_PARAM_VOLUME, ESPEAK_VOLUME, 0)
    logger.info(
        "espeak-ng %s loaded: %d voices, %d Hz", version, len(runtime.voices), sample_rate
    )
    _runtime = runtime
    return runtime


def _list_voices(lib: ctypes.CDLL) -> dict[str, tuple[str, tuple[str, ...]]]:
    voices: dict[str, tuple[str, tuple[str, ...]]] = {}
    array = lib.espeak_ListVoices(None)
    i = 0
    while array[i]:
        voice = array[i].contents
        i += 1
        if not voice.identifier:
            continue
        voice_id = voice.identifier.decode("utf-8", "replace").rsplit("/", 1)[-1].lower()
        voices[voice_id] = (
            (voice.name or b"").decode("utf-8", "replace"),
            _parse_languages(voice.languages),
        )
    return voices


def _parse_languages(pointer: int | None) -> tuple[str, ...]:
    tags: list[str] = []
    if not pointer:
        return ()
    offset = 0
    while ctypes.string_at(pointer + offset, 1) != b"\x00":  # priority byte 0 ends the list
        tag = ctypes.string_at(pointer + offset + 1)
        tags.append(tag.decode("ascii", "replace"))
        offset += len(tag) + 2
    return tuple(tags)


class EspeakEngine(TtsEngine):
    """espeak-ng with its Mandarin voice `cmn` as the default.

    Every instance shares the process's single libespeak-ng; calls are serialised by a lock.

    Args:
        default_voice: voice id as `gridedge audio voices` lists it (e.g. "cmn", "yue").
        rate_wpm: speaking rate in words per minute (espeak's own default is 175).

    """

    name = "espeak"

    def __init__(
        self, default_voice: str = ESPEAK_DEFAULT_VOICE, rate_wpm: int = ESPEAK_DEFAULT_RATE_WPM
    ) -> None:
        """Store the settings; the library loads on first use."""
        self._default_voice = default_voice.lower()
        self._rate_wpm = rate_wpm

    @property
    def default_voice(self) -> str:
        """Voice used when the caller names none."""
        return self._default_voice

    def voices(self) -> list[VoiceInfo]:
        """List every espeak-ng voice; Mandarin ones are unavailable below version 1.52."""
        try:
            with _LOCK:
                runtime = _load_runtime()
        except EngineUnavailableError as err:
            return [VoiceInfo(self.name, self._default_voice, "", (), False, str(err))]
        result = []
        for voice_id, (name, languages) in sorted(runtime.voices.items()):
            reason = self._refusal(runtime, voice_id, languages)
            result.append(VoiceInfo(self.name, voice_id, name, languages, reason is None, reason))
        return result

    def languages(self, voice: str) -> tuple[str, ...]:
        """Language tags of an espeak voice."""
        with _LOCK:
            runtime = _load_runtime()
            return self._checked(runtime, voice)

    def identity(self, voice: str) -> str:
        """Engine version, voice and speaking rate."""
        with _LOCK:
            runtime = _load_runtime()
        return f"espeak-ng {runtime.version}; voice {voice.lower()}; rate {self._rate_wpm}"

    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak text with one espeak voice, as 16-bit mono PCM at the library's rate."""
        encoded = text.encode("utf-8") + b"\x00"
        with _LOCK:
            runtime = _load_runtime()
            self._checked(runtime, voice)
            lib = runtime.lib
            if runtime.current_voice != voice.lower():
                code = lib.espeak_SetVoiceByName(voice.lower().encode("ascii"))
                if code != 0:
                    msg = f"espeak-ng: cannot select voice {voice!r} (error {code})"
                    raise EngineUnavailableError(msg)
                runtime.current_voice = voice.lower()
                runtime.current_rate = None  # selecting a voice resets its parameters
            if runtime.current_rate != self._rate_wpm:
                lib.espeak_SetParameter(ESPEAK_PARAM_RATE, self._rate_wpm, 0)
                lib.espeak_SetParameter(ESPEAK_PARAM_VOLUME, ESPEAK_VOLUME, 0)
                runtime.current_rate = self._rate_wpm
            runtime.buffer.clear()
            code = lib.espeak_Synth(
                encoded, len(encoded), 0, ESPEAK_POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
            )
            data = bytes(runtime.buffer)
            runtime.buffer.clear()
        if code != 0:
            msg = f"espeak-ng: espeak_Synth failed with error {code} for voice {voice!r}"
            raise SynthesisError(msg)
        if not any(data):
            msg = f"espeak-ng: voice {voice!r} produced no audio for {text[:40]!r}"
            raise SynthesisError(msg)
        return Pcm(data, runtime.sample_rate, 1)

    @staticmethod
    def _refusal(runtime: _Runtime, voice_id: str, languages: tuple[str, ...]) -> str | None:
        if speaks_chinese(languages) and _version_tuple(runtime.version) < ESPEAK_MIN_VERSION:
            need = ".".join(str(p) for p in ESPEAK_MIN_VERSION)
            return (
                f"libespeak-ng {runtime.version} speaks Mandarin wrongly (reads tone digits "
                f"in English); voice {voice_id} needs {need} or later"
            )
        return None

    def _checked(self, runtime: _Runtime, voice: str) -> tuple[str, ...]:
        entry = runtime.voices.get(voice.lower())
        if entry is None:
            msg = f"espeak-ng has no voice {voice!r}; `gridedge audio voices` lists them"
            raise EngineUnavailableError(msg)
        reason = self._refusal(runtime, voice.lower(), entry[1])
        if reason is not None:
            raise EngineUnavailableError(reason)
        return entry[1]

