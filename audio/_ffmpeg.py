"""ffmpeg from the imageio-ffmpeg wheel: decoding, EBU R128 measurement and speaker encoding."""

from __future__ import annotations

import functools
import logging
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from audio.const import FFMPEG_TIMEOUT_S, SAMPLE_WIDTH_BYTES, STDERR_TAIL_CHARS
from audio.errors import AudioError, ClipDecodeError, EncodeError
from audio.models import AudioFormat

logger = logging.getLogger(__name__)

_ALIMITER_MIN_LIMIT = 0.0625  # ffmpeg's lower bound for alimiter's `limit`
# True peak (4x oversampling) is the slow part: only the encode pass measures it.
_LOUDNESS_FILTER = "ebur128=framelog=verbose"
_LOUDNESS_PEAK_FILTER = "ebur128=peak=true:framelog=verbose"
_LUFS_RE = re.compile(r"^\s*I:\s+(-?[\d.]+|-?inf|nan) LUFS", re.MULTILINE)
_PEAK_RE = re.compile(r"^\s*Peak:\s+(-?[\d.]+|-?inf|nan) dBFS", re.MULTILINE)


@dataclass(frozen=True)
class Loudness:
    """What ffmpeg's EBU R128 meter measured."""

    integrated_lufs: float
    true_peak_db: float  # -inf when not measured
    duration_s: float = 0.0


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the imageio-ffmpeg wheel (never a system ffmpeg)."""
    try:
        import imageio_ffmpeg  # noqa: PLC0415 - reported as a clear error at use

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as err:
        msg = f"ffmpeg from the imageio-ffmpeg wheel is not available: {err}"
        raise EncodeError(msg) from err


def _run(
    args: list[str], what: str, error: type[AudioError], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", *args]
    if stdin is not None:
        cmd.remove("-nostdin")
    try:
        proc = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
            cmd, input=stdin, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        msg = f"{what}: ffmpeg took longer than {FFMPEG_TIMEOUT_S:.0f} s"
        raise error(msg) from err
    except OSError as err:
        msg = f"{what}: cannot run ffmpeg: {err}"
        raise error(msg) from err
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL_CHARS:]
        msg = f"{what}: ffmpeg exited with {proc.returncode}: {tail}"
        raise error(msg)
    return proc


def decode_file(path: Path, sample_rate: int, channels: int) -> bytes:
    """Decode any file ffmpeg reads (WAV, MP3, ...) to 16-bit PCM at the given rate and channels.

    Raises:
        ClipDecodeError: the file is missing, unreadable, undecodable or has no audio.

    """
    what = f"decoding {path}"
    if not Path(path).is_file():
        msg = f"{what}: no such file"
        raise ClipDecodeError(msg)
    proc = _run(
        ["-v", "error", "-i", str(path), "-vn", "-f", "s16le", "-acodec", "pcm_s16le",
         "-ar", str(sample_rate), "-ac", str(channels), "-"],
        what, ClipDecodeError,
    )
    if len(proc.stdout) < SAMPLE_WIDTH_BYTES * channels:
        msg = f"{what}: the file holds no audio"
        raise ClipDecodeError(msg)
    return proc.stdout


def measure_pcm(
    pcm: bytes,
    sample_rate: int,
    channels: int,
    gain_db: float | None = None,
    limit_db: float | None = None,
) -> Loudness:
    """Measure integrated loudness of raw 16-bit PCM, optionally after gain and limiter."""
    filters = [*_gain_filters(gain_db, limit_db), _LOUDNESS_FILTER]
    args = ["-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0"]
    proc = _run(
        [*args, "-af", ",".join(filters), "-f", "null", "-"], "measuring", EncodeError, pcm
    )
    return _parse_loudness(proc.stderr.decode("utf-8", "replace"), "measuring")


def encode(  # noqa: PLR0913 - the encode step's parameters, all needed
    pcm: bytes,
    sample_rate: int,
    channels: int,
    fmt: AudioFormat,
    gain_db: float | None,
    limit_db: float | None,
    out_path: Path,
    makeup_db: float = 0.0,
) -> Loudness:
    """Apply gain (and a peak limiter), resample and encode PCM into a speaker file, measuring it.

    One ffmpeg process: the processed signal is split, one branch encoded to the file and the
    other measured (EBU R128 loudness with true peak, sample count), so checking the clip costs
    no second process and no decode.

    Args:
        pcm: 16-bit PCM of the composed clip.
        sample_rate: rate of `pcm`.
        channels: channels of `pcm`.
        fmt: the speaker's format.
        gain_db: gain to reach the loudness target, or None for none.
        limit_db: sample-peak ceiling in dBFS for ffmpeg's lookahead limiter, or None.
        out_path: file to write (overwritten).
        makeup_db: gain after the limiter (a cut to the loudness target).

    Returns:
        Loudness, true peak and length of what went into the encoder.

    Raises:
        EncodeError: ffmpeg failed.

    """
    filters = _gain_filters(gain_db, limit_db)
    if makeup_db:
        filters.append(f"volume={makeup_db:.3f}dB")
    if fmt.sample_rate != sample_rate:
        filters.append(f"aresample={fmt.sample_rate}:resampler=soxr")
    if fmt.channels != channels:
        filters.append(f"aformat=channel_layouts={'mono' if fmt.channels == 1 else 'stereo'}")
    graph = (f"[0:a]{','.join(filters)},asplit=2[enc][chk];"
             f"[chk]{_LOUDNESS_PEAK_FILTER}[measured]")
    codec_args = (
        ["-c:a", "libmp3lame", "-b:a", f"{fmt.bitrate_kbps}k", "-f", "mp3"]
        if fmt.codec == "mp3"
        else ["-c:a", "pcm_s16le", "-f", "wav"]
    )
    what = f"encoding {fmt.codec} {fmt.sample_rate} Hz"
    proc = _run(
        ["-v", "info", "-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels),
         "-i", "pipe:0", "-filter_complex", graph,
         "-map", "[enc]", "-ar", str(fmt.sample_rate), "-ac", str(fmt.channels), *codec_args,
         # bitexact: no encoder version tags, so the same input gives the same bytes
         "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
         "-y", str(out_path),
         "-map", "[measured]", "-f", "null", "-"],
        what, EncodeError, pcm,
    )
    got = _parse_loudness(proc.stderr.decode("utf-8", "replace"), what)
    # Resampling keeps the length: the clip lasts as long as the PCM that went in.
    frames = len(pcm) // (SAMPLE_WIDTH_BYTES * channels)
    return Loudness(got.integrated_lufs, got.true_peak_db, frames / sample_rate)


def _gain_filters(gain_db: float | None, limit_db: float | None) -> list[str]:
    filters = [] if gain_db is None else [f"volume={gain_db:.3f}dB"]
    if limit_db is not None:
        limit = max(_ALIMITER_MIN_LIMIT, 10 ** (limit_db / 20))
        # level=false: alimiter would otherwise turn the whole clip up to the ceiling.
        filters.append(f"alimiter=limit={limit:.5f}:level=false:latency=true:attack=5:release=50")
    return filters or ["anull"]


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else -math.inf


def _parse_loudness(stderr: str, what: str) -> Loudness:
    lufs, peak = _LUFS_RE.findall(stderr), _PEAK_RE.findall(stderr)
    if not lufs:
        tail = stderr.strip()[-STDERR_TAIL_CHARS:]
        msg = f"{what}: ffmpeg gave no measurement (no audio stream?): {tail}"
        raise EncodeError(msg)
    return Loudness(_float(lufs[-1]), _float(peak[-1]) if peak else -math.inf)
