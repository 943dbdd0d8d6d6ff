"""Piper engine: an optional neural voice from a local ONNX model file (piper-tts package)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import threading
import wave
from pathlib import Path
from typing import Any

from audio.engines.base import TtsEngine
from audio.errors import EngineUnavailableError, SynthesisError
from audio.models import Pcm, VoiceInfo

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


class PiperEngine(TtsEngine):
    """A Piper voice loaded from a model file on this machine; nothing is downloaded.

    Args:
        model_path: the voice's `.onnx` file.
        config_path: its JSON config; defaults to `<model_path>.json` as Piper ships them.
        voice_id: name the voice is selected by; defaults to the model file's stem.

    """

    name = "piper"

    def __init__(
        self, model_path: Path, config_path: Path | None = None, voice_id: str | None = None
    ) -> None:
        """Store the paths; the model loads on first synthesis."""
        self._model_path = Path(model_path)
        self._config_path = Path(config_path) if config_path else Path(f"{model_path}.json")
        self._voice_id = voice_id or self._model_path.name.removesuffix(".onnx")
        self._lock = threading.Lock()  # one ONNX session per engine; calls serialised
        self._voice: Any = None
        self._config: dict[str, Any] | None = None
        self._digest: str | None = None

    @property
    def default_voice(self) -> str:
        """The one voice this engine has."""
        return self._voice_id

    def voices(self) -> list[VoiceInfo]:
        """The configured voice, available when its files and the piper-tts package are here."""
        try:
            languages = self._languages_from(self._read_config())
            self._require_package()
        except EngineUnavailableError as err:
            return [VoiceInfo(self.name, self._voice_id, self._voice_id, (), False, str(err))]
        return [VoiceInfo(self.name, self._voice_id, self._voice_id, languages, True)]

    def languages(self, voice: str) -> tuple[str, ...]:
        """Language tags from the voice's config (`language.code`, `espeak.voice`)."""
        self._check_voice(voice)
        return self._languages_from(self._read_config())

    def identity(self, voice: str) -> str:
        """Digest of the model and config files, so a replaced model renders anew."""
        self._check_voice(voice)
        with self._lock:
            if self._digest is None:
                self._read_config()
                digest = hashlib.sha256()
                for path in (self._model_path, self._config_path):
                    with path.open("rb") as file:
                        while chunk := file.read(_HASH_CHUNK):
                            digest.update(chunk)
                self._digest = digest.hexdigest()
        return f"piper; voice {self._voice_id}; model sha256 {self._digest}"

    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak text with the Piper voice, as 16-bit mono PCM at the model's rate."""
        self._check_voice(voice)
        with self._lock:
            piper_voice = self._load()
            buffer = io.BytesIO()
            try:
                with wave.open(buffer, "wb") as wav:
                    if hasattr(piper_voice, "synthesize_wav"):  # piper-tts >= 1.3
                        piper_voice.synthesize_wav(text, wav)
                    else:  # piper-tts 1.2 wrote WAV from synthesize()
                        piper_voice.synthesize(text, wav)
            except Exception as err:  # onnxruntime/phonemizer errors vary by version
                msg = f"piper: voice {self._voice_id} failed on {text[:40]!r}: {err}"
                raise SynthesisError(msg) from err
        buffer.seek(0)
        try:
            with wave.open(buffer, "rb") as wav:
                rate, channels = wav.getframerate(), wav.getnchannels()
                data = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as err:
            msg = f"piper: voice {self._voice_id} produced no audio for {text[:40]!r}"
            raise SynthesisError(msg) from err
        if not any(data):
            msg = f"piper: voice {self._voice_id} produced silence for {text[:40]!r}"
            raise SynthesisError(msg)
        return Pcm(data, rate, channels)

    def _check_voice(self, voice: str) -> None:
        if voice != self._voice_id:
            msg = f"piper has only the voice {self._voice_id!r} here (asked for {voice!r})"
            raise EngineUnavailableError(msg)

    def _read_config(self) -> dict[str, Any]:
        if self._config is not None:
            return self._config
        if not self._model_path.is_file():
            msg = f"piper: voice model file {self._model_path} not found"
            raise EngineUnavailableError(msg)
        try:
            config = json.loads(self._config_path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            msg = f"piper: voice config {self._config_path} not found (it ships beside the model)"
            raise EngineUnavailableError(msg) from err
        except (OSError, ValueError) as err:
            msg = f"piper: voice config {self._config_path} is not readable JSON: {err}"
            raise EngineUnavailableError(msg) from err
        if not isinstance(config, dict):
            msg = f"piper: voice config {self._config_path} is not a JSON object"
            raise EngineUnavailableError(msg)
        self._config = config
        return config

    @staticmethod
    def _languages_from(config: dict[str, Any]) -> tuple[str, ...]:
        tags = []
        language = config.get("language")
        if isinstance(language, dict) and isinstance(language.get("code"), str):
            tags.append(language["code"])
        espeak = config.get("espeak")
        if isinstance(espeak, dict) and isinstance(espeak.get("voice"), str):
            tags.append(espeak["voice"])
        return tuple(dict.fromkeys(tags))

    @staticmethod
    def _require_package() -> None:
        if importlib.util.find_spec("piper") is None:
            msg = "piper: the piper-tts package is not installed (pip install piper-tts)"
            raise EngineUnavailableError(msg)

    def _load(self) -> Any:  # noqa: ANN401 - piper's PiperVoice, untyped
        """Load the ONNX session once; caller holds self._lock."""
        if self._voice is not None:
            return self._voice
        self._read_config()
        self._require_package()
        try:
            from piper.voice import PiperVoice  # noqa: PLC0415 - optional dependency

            self._voice = PiperVoice.load(str(self._model_path), config_path=str(self._config_path))
        except Exception as err:  # onnxruntime raises its own error types
            msg = f"piper: cannot load voice model {self._model_path}: {err}"
            raise EngineUnavailableError(msg) from err
        logger.info("piper voice %s loaded from %s", self._voice_id, self._model_path)
        return self._voice
