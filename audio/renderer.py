"""ClipRenderer: text or a recorded file in, a cached, loudness-normalised speaker clip out."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from audio import _compose, _ffmpeg
from audio._cache import ClipCache, cache_key, file_sha256
from audio.const import (
    CACHE_SCHEMA,
    ENCODER_OVERSHOOT_DB,
    LIMITER_HEADROOM_DB,
    MAX_LOUDNESS_PASSES,
    SILENCE_LUFS,
)
from audio.engines.base import TtsEngine, speaks_chinese
from audio.engines.espeak import EspeakEngine
from audio.errors import (
    AudioError,
    ClipDecodeError,
    EncodeError,
    EngineUnavailableError,
    SynthesisError,
    TextError,
)
from audio.models import GENERATED_CHIME, AudioFormat, Composition, RenderedClip
from audio.textnorm import normalize_text

logger = logging.getLogger(__name__)

_CJK_RE = re.compile(r"[\u4e00-\u9fff]")
_PEAK_STEP_DB = 0.3  # extra margin when a pass overshoots the true-peak ceiling
# A limited clip this far under target gets more gain and another pass; closer, the make-up
# gain after the limiter covers it (a boost this small stays inside the limiter's headroom).
_LOUDNESS_STEP_LU = 0.2
# The limiter eats part of any added gain: add more than the shortfall, so passes converge fast.
_GAIN_OVERSHOOT = 1.5


class ClipRenderer:
    """Renders clips into a content-addressed cache; safe to call from several threads.

    Args:
        cache_dir: where clips are kept (created on first render).
        max_cache_bytes: size bound of the cache; least recently used clips go first.
        engines: TTS engines, the first being the default and the others its fallbacks, in
            order, when it cannot load; espeak-ng (`cmn`) when omitted.

    """

    def __init__(
        self, cache_dir: Path, max_cache_bytes: int, engines: Sequence[TtsEngine] | None = None
    ) -> None:
        """Store the settings; nothing is loaded until the first render."""
        self._cache = ClipCache(Path(cache_dir), max_cache_bytes)
        self._engines = list(engines) if engines else [EspeakEngine()]
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_guard = threading.Lock()
        self._fallback_reported: set[str] = set()

    @property
    def engines(self) -> list[TtsEngine]:
        """The engines, default first."""
        return list(self._engines)

    def engine(self, name: str | None = None) -> TtsEngine:
        """The engine called `name`, or the default one.

        Raises:
            EngineUnavailableError: no engine has that name.

        """
        if name is None:
            return self._engines[0]
        for engine in self._engines:
            if engine.name == name:
                return engine
        known = ", ".join(e.name for e in self._engines)
        msg = f"no TTS engine called {name!r} is configured (configured: {known})"
        raise EngineUnavailableError(msg)

    def render(
        self,
        text: str,
        *,
        engine: str | None = None,
        voice: str | None = None,
        composition: Composition | None = None,
        fmt: AudioFormat | None = None,
        normalize: bool = True,
    ) -> RenderedClip:
        """Speak text into a finished speaker clip, or return the cached one.

        Args:
            text: what staff wrote.
            engine: engine name; the default engine when None.
            voice: voice id; the engine's default voice when None.
            composition: chime, repeats, loudness; `Composition()` when None.
            fmt: the speaker's file format; `AudioFormat()` (MP3 22.05 kHz mono 64k) when None.
            normalize: rewrite numbers, dates, units into spoken Chinese first.

        Raises:
            TextError: nothing to speak. EngineUnavailableError: engine/voice unusable here,
            or the voice does not speak Chinese and the text is Chinese. SynthesisError,
            ClipDecodeError, EncodeError, CacheError: a step failed (the message says which).

        """
        composition = composition or Composition()
        fmt = fmt or AudioFormat()
        spoken = normalize_text(text) if normalize else text.strip()
        if not spoken:
            msg = "text has nothing to speak"
            raise TextError(msg)
        if engine is not None:
            return self._speak(self.engine(engine), voice, spoken, composition, fmt)
        # The default engine, then each fallback: a neural model that cannot load here must not
        # silence the speakers; espeak-ng (built in) speaks instead, and the reason is logged.
        for i, tts in enumerate(self._engines):
            try:
                return self._speak(tts, voice if i == 0 else None, spoken, composition, fmt)
            except EngineUnavailableError as err:
                if i == len(self._engines) - 1:
                    raise
                self._report_fallback(tts, self._engines[i + 1], err)
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _report_fallback(self, failed: TtsEngine, fallback: TtsEngine, err: Exception) -> None:
        reason = str(err)
        if reason not in self._fallback_reported:
            self._fallback_reported.add(reason)
            logger.error("%s cannot speak here (%s); %s speaks instead", failed.name, reason,
                         fallback.name)

    def _speak(self, tts: TtsEngine, voice: str | None, spoken: str, composition: Composition,
               fmt: AudioFormat) -> RenderedClip:
        voice_id = voice or tts.default_voice
        languages = tts.languages(voice_id)
        if _CJK_RE.search(spoken) and not speaks_chinese(languages):
            msg = (
                f"voice {voice_id!r} of {tts.name} speaks {', '.join(languages) or 'no language'}"
                ", not Chinese; choose a Chinese voice (`gridedge audio voices`)"
            )
            raise EngineUnavailableError(msg)
        params = {
            "schema": CACHE_SCHEMA,
            "kind": "tts",
            "engine": tts.identity(voice_id),
            "text": spoken,
            "composition": _composition_params(composition),
            "format": asdict(fmt),
        }

        def make() -> _compose.Segment:
            pcm = tts.synthesize(spoken, voice_id)
            return _compose.segment_from_pcm(pcm, fmt.channels)

        return self._render(params, make, composition, fmt, SynthesisError)

    def render_recorded(
        self, path: Path, composition: Composition | None = None, fmt: AudioFormat | None = None
    ) -> RenderedClip:
        """Turn a recorded WAV/MP3 file into a speaker clip with the same composition steps.

        Raises:
            ClipDecodeError: the file is missing, undecodable or silent. EncodeError,
            CacheError: a later step failed.

        """
        composition = composition or Composition()
        fmt = fmt or AudioFormat()
        path = Path(path)
        params = {
            "schema": CACHE_SCHEMA,
            "kind": "recorded",
            "source_sha256": _source_digest(path, "recorded clip"),
            "composition": _composition_params(composition),
            "format": asdict(fmt),
        }

        def make() -> _compose.Segment:
            return _compose.file_segment(path, fmt.sample_rate, fmt.channels)

        return self._render(params, make, composition, fmt, ClipDecodeError)

    def _render(
        self,
        params: dict[str, Any],
        make: Any,  # noqa: ANN401 - Callable[[], AudioSegment]; pydub is untyped
        composition: Composition,
        fmt: AudioFormat,
        silent_error: type[AudioError],
    ) -> RenderedClip:
        key = cache_key(params)
        with self._lock_for(key):
            cached = self._cache.lookup(key, fmt.suffix)
            if cached is not None:
                logger.debug("clip cache hit %s", key[:12])
                return cached
            clip = _compose.compose(make(), composition)
            tmp = self._cache.temp_path(fmt.suffix)
            try:
                duration = _encode_to_target(clip, composition, fmt, tmp, silent_error)
                result = self._cache.commit(key, fmt.suffix, tmp, duration, params)
            finally:
                self._cache.discard(tmp)
            logger.info(
                "rendered clip %s: %.1f s, %s %d Hz", key[:12], duration, fmt.codec, fmt.sample_rate
            )
            return result

    def _lock_for(self, key: str) -> threading.Lock:
        # One render per key at a time; different clips render in parallel.
        with self._key_locks_guard:
            return self._key_locks.setdefault(key, threading.Lock())


def _encode_to_target(
    clip: _compose.Segment,
    composition: Composition,
    fmt: AudioFormat,
    tmp: Path,
    silent_error: type[AudioError],
) -> float:
    """Bring the clip to its loudness target under its true-peak ceiling, then encode it.

    Loudness, gain, peak limiting and the true-peak check run in this process on the PCM in
    memory (:mod:`audio._loudness`, milliseconds); ffmpeg only resamples and encodes, one
    process. A gain after the limiter is exact, so when limiting took some loudness the gain
    before it is raised and the limiter run again, until the clip lands on target.
    """
    rate, channels = clip.frame_rate, clip.channels
    encoder = _ffmpeg.Encoder(rate, channels, fmt, tmp)
    try:
        pcm = _to_target(clip, composition, silent_error)
    except BaseException:
        encoder.abandon()
        raise
    return encoder.finish(pcm)


def _to_target(clip: _compose.Segment, composition: Composition,
               silent_error: type[AudioError]) -> bytes:
    """The clip's PCM with gain and limiting applied (see `_encode_to_target`)."""
    import numpy as np  # noqa: PLC0415 - numpy only in processes that render

    from audio import _loudness  # noqa: PLC0415

    rate, channels = clip.frame_rate, clip.channels
    samples = _loudness.to_float(clip.raw_data, channels)
    target, ceiling = composition.target_lufs, composition.true_peak_db
    peak_ceiling = ceiling - ENCODER_OVERSHOOT_DB
    limit = ceiling - LIMITER_HEADROOM_DB
    meter = _loudness.LoudnessMeter(samples, rate)
    measured = meter.lufs()
    if measured < SILENCE_LUFS:
        msg = f"the clip is silent ({measured:.1f} LUFS); nothing to play"
        raise silent_error(msg)
    gain_db = target - measured
    for _ in range(MAX_LOUDNESS_PASSES):
        gain = np.float32(10 ** (gain_db / 20))
        curve = _loudness.limit_curve(samples * gain, rate, limit)
        # Not limited, the loudness is exactly the measured one plus the gain.
        loudness = measured + gain_db if curve is None else meter.lufs(curve * gain)
        short = target - loudness
        if short > _LOUDNESS_STEP_LU:  # the limiter took loudness: more gain before it
            gain_db += short * _GAIN_OVERSHOOT
            continue
        # Then a cut (or a hair of boost) onto the target.
        shaped = samples * np.float32(gain * 10 ** (short / 20))
        if curve is not None:
            shaped *= curve[:, None]
        peak = _loudness.true_peak_db(shaped)
        if peak > peak_ceiling:
            limit -= peak - peak_ceiling + _PEAK_STEP_DB
            logger.debug("true peak %.2f dBTP over %.2f: limit lowered to %.2f dBFS", peak,
                         peak_ceiling, limit)
            continue
        return _loudness.to_pcm16(shaped)
    msg = (
        f"could not bring the clip to {target} LUFS with peaks under {ceiling} dBTP "
        f"in {MAX_LOUDNESS_PASSES} passes"
    )
    raise EncodeError(msg)


def _source_digest(path: Path, role: str) -> str:
    try:
        return file_sha256(Path(path))
    except OSError as err:
        msg = f"{role} {path}: cannot read the file: {err.strerror or err}"
        raise ClipDecodeError(msg) from err


def _composition_params(composition: Composition) -> dict[str, Any]:
    params: dict[str, Any] = asdict(composition)
    # Files enter the key by content: a replaced jingle under the same name renders anew.
    if composition.chime not in (None, GENERATED_CHIME):
        params["chime"] = {"sha256": _source_digest(Path(composition.chime), "chime")}
    if composition.outro is not None:
        params["outro"] = {"sha256": _source_digest(Path(composition.outro), "outro")}
    return params
