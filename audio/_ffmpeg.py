"""ffmpeg from the imageio-ffmpeg wheel: decoding files and encoding speaker clips."""

from __future__ import annotations

import functools
import logging
import subprocess
from pathlib import Path

from audio.const import FFMPEG_TIMEOUT_S, SAMPLE_WIDTH_BYTES, STDERR_TAIL_CHARS
from audio.errors import AudioError, ClipDecodeError, EncodeError
from audio.models import AudioFormat

logger = logging.getLogger(__name__)


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


class Encoder:
    """One ffmpeg process that resamples and encodes 16-bit PCM into a speaker file.

    Loudness and peaks are already where they belong (the renderer sets them in memory), so it
    does only what a bare encode does. It is started before the PCM is ready: ffmpeg's own
    start-up (a ~70 MB static binary) then runs while the renderer measures and limits.

    Raises:
        EncodeError: ffmpeg cannot start, fails, or takes too long.

    """

    def __init__(self, sample_rate: int, channels: int, fmt: AudioFormat, out_path: Path) -> None:
        """Start ffmpeg, waiting for PCM on its standard input."""
        self.sample_rate, self.channels = sample_rate, channels
        self.what = f"encoding {fmt.codec} {fmt.sample_rate} Hz"
        codec_args = (
            ["-c:a", "libmp3lame", "-b:a", f"{fmt.bitrate_kbps}k", "-f", "mp3"]
            if fmt.codec == "mp3"
            else ["-c:a", "pcm_s16le", "-f", "wav"]
        )
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-v", "error",
               "-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0",
               "-ar", str(fmt.sample_rate), "-ac", str(fmt.channels), *codec_args,
               # bitexact: no encoder version tags, so the same input gives the same bytes
               "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
               "-y", str(out_path)]
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, arguments built here
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as err:
            msg = f"{self.what}: cannot run ffmpeg: {err}"
            raise EncodeError(msg) from err

    def finish(self, pcm: bytes) -> float:
        """Encode the PCM, wait for the file; return the clip's length in seconds."""
        try:
            _, stderr = self._proc.communicate(pcm, timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            self.abandon()
            msg = f"{self.what}: ffmpeg took longer than {FFMPEG_TIMEOUT_S:.0f} s"
            raise EncodeError(msg) from err
        if self._proc.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL_CHARS:]
            msg = f"{self.what}: ffmpeg exited with {self._proc.returncode}: {tail}"
            raise EncodeError(msg)
        # Resampling keeps the length: the clip lasts as long as the PCM that went in.
        return len(pcm) // (SAMPLE_WIDTH_BYTES * self.channels) / self.sample_rate

    def abandon(self) -> None:
        """Stop ffmpeg without a clip (the render failed before the PCM was ready)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()
