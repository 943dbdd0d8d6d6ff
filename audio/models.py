"""Value types of the audio pipeline: speaker formats, composition, rendered clips, voices, PCM."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from audio.const import (
    CODECS,
    DEFAULT_BITRATE_KBPS,
    DEFAULT_CHANNELS,
    DEFAULT_CODEC,
    DEFAULT_GAP_MS,
    DEFAULT_PRE_ROLL_MS,
    DEFAULT_SAMPLE_RATE,
    DEFAULT_TARGET_LUFS,
    DEFAULT_TRUE_PEAK_DB,
    MAX_CHANNELS,
    MAX_REPEAT,
    MAX_SILENCE_MS,
    MP3_BITRATES_KBPS,
    MP3_LOW_RATE_MAX_KBPS,
    MP3_SAMPLE_RATES,
    SAMPLE_WIDTH_BYTES,
    TARGET_LUFS_RANGE,
    TRUE_PEAK_RANGE,
    WAV_SAMPLE_RATE_RANGE,
)
from audio.errors import AudioFormatError

GENERATED_CHIME = "generated"


@dataclass(frozen=True)
class AudioFormat:
    """The file format a speaker plays.

    Args:
        codec: "mp3" or "wav" (16-bit PCM).
        sample_rate: Hz; for MP3 one of the rates MPEG layer III defines.
        channels: 1 (mono) or 2.
        bitrate_kbps: constant MP3 bitrate; None for WAV.

    """

    codec: str = DEFAULT_CODEC
    sample_rate: int = DEFAULT_SAMPLE_RATE
    channels: int = DEFAULT_CHANNELS
    bitrate_kbps: int | None = DEFAULT_BITRATE_KBPS

    def __post_init__(self) -> None:
        """Reject formats ffmpeg/libmp3lame cannot produce, with the allowed values."""
        if self.codec not in CODECS:
            msg = f"codec must be one of {', '.join(CODECS)} (got {self.codec!r})"
            raise AudioFormatError(msg)
        if self.channels not in range(1, MAX_CHANNELS + 1):
            msg = f"channels must be 1 or 2 (got {self.channels!r})"
            raise AudioFormatError(msg)
        if self.codec == "mp3":
            self._check_mp3()
        else:
            low, high = WAV_SAMPLE_RATE_RANGE
            if not low <= self.sample_rate <= high:
                msg = f"sample_rate for wav must be {low}..{high} Hz (got {self.sample_rate!r})"
                raise AudioFormatError(msg)
            if self.bitrate_kbps is not None:
                # WAV has no bitrate to choose: normalise so equal formats hash equally.
                object.__setattr__(self, "bitrate_kbps", None)

    def _check_mp3(self) -> None:
        if self.sample_rate not in MP3_SAMPLE_RATES:
            rates = ", ".join(str(r) for r in MP3_SAMPLE_RATES)
            msg = f"sample_rate for mp3 must be one of {rates} Hz (got {self.sample_rate!r})"
            raise AudioFormatError(msg)
        if self.bitrate_kbps not in MP3_BITRATES_KBPS:
            rates = ", ".join(str(r) for r in MP3_BITRATES_KBPS)
            msg = f"bitrate_kbps for mp3 must be one of {rates} (got {self.bitrate_kbps!r})"
            raise AudioFormatError(msg)
        if self.sample_rate < 32_000 and self.bitrate_kbps > MP3_LOW_RATE_MAX_KBPS:
            msg = (
                f"bitrate_kbps for mp3 at {self.sample_rate} Hz must be at most "
                f"{MP3_LOW_RATE_MAX_KBPS} (got {self.bitrate_kbps})"
            )
            raise AudioFormatError(msg)

    @property
    def suffix(self) -> str:
        """File suffix for this codec, with the dot."""
        return f".{self.codec}"


@dataclass(frozen=True)
class Composition:
    """How a clip is put together around the speech, and how loud it ends up.

    Args:
        chime: None, "generated" (a two-tone ding-dong) or the path of a sound file played first.
        pre_roll_ms: silence at the very start, so amplifiers that wake on signal lose nothing.
        repeat: how many times the speech is said.
        gap_ms: silence between repeats.
        outro: None or the path of a sound file played last.
        target_lufs: integrated loudness of the finished clip (EBU R128).
        true_peak_db: ceiling for true peaks of the finished clip, in dBTP.

    """

    chime: str | Path | None = None
    pre_roll_ms: int = DEFAULT_PRE_ROLL_MS
    repeat: int = 1
    gap_ms: int = DEFAULT_GAP_MS
    outro: str | Path | None = None
    target_lufs: float = DEFAULT_TARGET_LUFS
    true_peak_db: float = DEFAULT_TRUE_PEAK_DB

    def __post_init__(self) -> None:
        """Reject values that would make an unplayable or absurd clip."""
        if not 1 <= self.repeat <= MAX_REPEAT:
            msg = f"repeat must be 1..{MAX_REPEAT} (got {self.repeat!r})"
            raise AudioFormatError(msg)
        for name in ("pre_roll_ms", "gap_ms"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_SILENCE_MS:
                msg = f"{name} must be 0..{MAX_SILENCE_MS} ms (got {value!r})"
                raise AudioFormatError(msg)
        for name, (low, high) in (
            ("target_lufs", TARGET_LUFS_RANGE),
            ("true_peak_db", TRUE_PEAK_RANGE),
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                msg = f"{name} must be {low}..{high} (got {value!r})"
                raise AudioFormatError(msg)
        if self.true_peak_db <= self.target_lufs:
            msg = (
                f"true_peak_db ({self.true_peak_db}) must be above target_lufs "
                f"({self.target_lufs})"
            )
            raise AudioFormatError(msg)
        if isinstance(self.chime, str) and self.chime != GENERATED_CHIME:
            object.__setattr__(self, "chime", Path(self.chime))
        if isinstance(self.outro, str):
            object.__setattr__(self, "outro", Path(self.outro))


@dataclass(frozen=True)
class RenderedClip:
    """A finished clip in the cache.

    Args:
        path: the clip file; keep it only as long as the cache keeps it (eviction may remove it).
        sha256: hex digest of the file's bytes (the daemon serves the clip under it).
        duration_s: playing time measured by decoding the file.

    """

    path: Path
    sha256: str
    duration_s: float


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine offers, and whether it can be used here."""

    engine: str
    voice_id: str
    name: str
    languages: tuple[str, ...]
    available: bool
    reason: str | None = None


@dataclass(frozen=True)
class Pcm:
    """16-bit signed little-endian PCM as engines return it."""

    data: bytes = field(repr=False)
    sample_rate: int
    channels: int = 1

    @property
    def duration_s(self) -> float:
        """Playing time of the samples."""
        return len(self.data) / (SAMPLE_WIDTH_BYTES * self.channels * self.sample_rate)

