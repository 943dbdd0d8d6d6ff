"""Recorded clips staff name in a schedule: does the file exist, does it decode, how long is it."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__all__ = ["ClipCheckError", "clip_duration"]

_RATE = 8000  # Hz: enough to prove decodability and measure length cheaply
_TIMEOUT_S = 60.0


class ClipCheckError(Exception):
    """A clip file is missing or cannot be decoded; ``reason`` is a short English detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clip_duration(path: Path) -> float:
    """Decode ``path`` completely with the audio library's ffmpeg; its playing time in seconds.

    Raises:
        ClipCheckError: the file is missing, or ffmpeg cannot decode audio from it.
    """
    try:
        stat = path.stat()
    except OSError:
        raise ClipCheckError("no such file") from None
    return _duration(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _duration(path: str, _mtime_ns: int, _size: int) -> float:
    # Cached on (path, mtime, size): hot reload re-checks every schedule every edit.
    # The static ffmpeg of the imageio-ffmpeg wheel, the one the audio library drives.
    import imageio_ffmpeg  # type: ignore[import-untyped]

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error",
           "-i", path, "-vn", "-f", "s16le", "-acodec", "pcm_s16le", "-ar", str(_RATE),
           "-ac", "1", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ClipCheckError(f"ffmpeg could not run: {err}") from err
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ClipCheckError(tail[-1] if tail else f"ffmpeg exited with {proc.returncode}")
    if len(proc.stdout) < 2 * _RATE // 10:
        raise ClipCheckError("the file holds no audio")
    return len(proc.stdout) / 2 / _RATE
