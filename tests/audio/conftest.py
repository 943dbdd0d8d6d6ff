"""Fixtures for audio tests: a renderer on a temp cache, and measurement with ffmpeg itself."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest

from audio import ClipRenderer

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CACHE_BYTES = 64 * 1024 * 1024

# Policy texts as staff write them.
SHORT_TEXT = "各位居民请注意，电动自行车请勿在楼道内充电。"
POLICY_60 = (
    "各位居民请注意：请于2025年12月31日前缴纳物业费，电费2.9元/度。"
    "电动自行车请到小区充电棚充电，严禁进楼入户，谢谢配合！"
)


@dataclass(frozen=True)
class Probe:
    """What ffmpeg (not our code) says about a file."""

    codec: str
    sample_rate: int
    channels: int
    bitrate_kbps: int | None
    duration_s: float
    integrated_lufs: float
    true_peak_db: float
    rms_db: float


def probe(path: Path) -> Probe:
    """Decode a file completely with ffmpeg and measure it (EBU R128 + astats)."""
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-xerror", "-i", str(path), "-af",
         "astats=measure_perchannel=none,ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    err = proc.stderr
    stream = re.search(r"Stream #0:0.*?: Audio: (\w+).*?, (\d+) Hz, (mono|stereo)(.*)", err)
    assert stream, err
    bitrate = re.search(r"(\d+) kb/s", stream.group(4))
    rate = int(stream.group(2))
    samples = int(re.findall(r"Number of samples: (\d+)", err)[-1])
    return Probe(
        codec=stream.group(1),
        sample_rate=rate,
        channels=1 if stream.group(3) == "mono" else 2,
        bitrate_kbps=int(bitrate.group(1)) if bitrate else None,
        duration_s=samples / rate,
        integrated_lufs=float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1]),
        true_peak_db=float(re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", err)[-1]),
        rms_db=float(re.findall(r"RMS level dB: (-?[\d.]+|-inf)", err)[-1]),
    )


def make_sound(path: Path, source: str, seconds: float, extra: tuple[str, ...] = ()) -> Path:
    """Write a sound file with ffmpeg's lavfi sources (e.g. "sine=frequency=440")."""
    subprocess.run(
        [FFMPEG, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", f"{source}:duration={seconds}"
         if source.startswith("sine") else source, "-t", str(seconds), *extra, "-y", str(path)],
        check=True,
    )
    return path


@pytest.fixture
def renderer(tmp_path: Path) -> ClipRenderer:
    """A renderer with its own empty cache, using the default espeak-ng engine."""
    return ClipRenderer(tmp_path / "cache", CACHE_BYTES)


@pytest.fixture(scope="module")
def shared_renderer(tmp_path_factory: pytest.TempPathFactory) -> ClipRenderer:
    """A renderer whose cache is shared by the tests of one module (for clips they reuse)."""
    return ClipRenderer(tmp_path_factory.mktemp("shared-cache"), CACHE_BYTES)
