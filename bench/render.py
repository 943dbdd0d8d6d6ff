"""Benchmark: time to a finished speaker clip vs the bare engine, and a cache hit.

Run: .venv/bin/python bench/render.py [--runs N]

For a 60- and a 300-character policy text it measures, in one process:
  * bare engine: espeak-ng synthesising the (normalised) text and writing a WAV file;
  * bare engine + one bare ffmpeg encode of that WAV to the same MP3 format (the baseline the
    finished clip is held to: goal <= 1.3x);
  * cold render: ClipRenderer.render() into an empty cache (normalise, synthesise, compose,
    measure loudness, limit, encode MP3 for the tasmota-i2s profile, decode-verify, commit);
  * cache hit: the same render() again.
Figures are medians over --runs runs; the ratios cold/bare are the pipeline's overhead.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audio import AudioFormat, ClipRenderer, Composition, EspeakEngine, normalize_text  # noqa: E402
from audio._ffmpeg import ffmpeg_exe  # noqa: E402

TEXT_60 = (
    "各位居民请注意：请于2025年12月31日前缴纳物业费，电费2.9元/度。"
    "电动自行车请到充电棚充电，严禁进楼入户，谢谢！"
)
TEXT_300 = (
    "各位居民请注意：为保障小区消防安全，根据《电动自行车安全技术规范》和本市有关规定，"
    "自2025年12月1日起，严禁电动自行车进入楼道、电梯间和居民家中停放或充电。"
    "小区东门和北门的充电棚已开放，共有120个充电端口，每天6:00-23:00可用，"
    "充电价格为每度电0.9元，单个端口功率不超过7kW。充满后请及时挪车，方便他人使用。"
    "充电时请勿使用私拉电线或飞线充电，发现电池鼓包、异味或冒烟，请立即停止使用并远离车辆。"
    "如发现火情，请立即拨打119，并通知物业值班室，电话0571-88886666。"
    "物业将每周2次对楼道进行巡查，对违规停放的车辆先行劝导，屡次违规的将依规处理。"
    "感谢各位居民的理解支持与配合。"
)
TASMOTA_I2S = AudioFormat("mp3", 16_000, 1, 48)


def median_s(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of fn over runs calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(label: str, text: str, runs: int, workdir: Path) -> None:
    """Measure one text and print one line per figure."""
    engine = EspeakEngine()
    spoken = normalize_text(text)

    def bare() -> None:
        pcm = engine.synthesize(spoken, engine.default_voice)
        with wave.open(str(workdir / "bare.wav"), "wb") as wav:
            wav.setnchannels(pcm.channels)
            wav.setsampwidth(2)
            wav.setframerate(pcm.sample_rate)
            wav.writeframes(pcm.data)

    def encode() -> None:
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-v", "error", "-nostdin",
             "-i", str(workdir / "bare.wav"),
             "-ar", str(TASMOTA_I2S.sample_rate), "-ac", "1", "-c:a", "libmp3lame",
             "-b:a", f"{TASMOTA_I2S.bitrate_kbps}k", "-y", str(workdir / "bare.mp3")], check=True)

    counter = iter(range(10**6))
    composition = Composition(chime="generated")

    def cold() -> None:
        renderer = ClipRenderer(workdir / f"cold-{next(counter)}", 1 << 30, [engine])
        renderer.render(text, fmt=TASMOTA_I2S, composition=composition)

    warm = ClipRenderer(workdir / "warm", 1 << 30, [engine])
    clip = warm.render(text, fmt=TASMOTA_I2S, composition=composition)

    bare()  # loads libespeak-ng and the cmn dictionary outside the timings
    t_norm = median_s(lambda: normalize_text(text), runs)
    t_bare = median_s(bare, runs)
    t_encode = median_s(encode, runs)
    t_cold = median_s(cold, runs)
    t_hit = median_s(lambda: warm.render(text, fmt=TASMOTA_I2S, composition=composition), runs)
    audio_s = engine.synthesize(spoken, engine.default_voice).duration_s
    print(f"{label}: {len(text)} characters, speech {audio_s:.1f} s, clip {clip.duration_s:.1f} s "
          f"({clip.path.stat().st_size // 1024} KiB mp3 16 kHz 48 kbit/s, chime)")
    print(f"  normalise text            {t_norm * 1e3:8.2f} ms")
    print(f"  bare engine -> WAV        {t_bare * 1e3:8.1f} ms")
    print(f"  bare engine + one encode  {(t_bare + t_encode) * 1e3:8.1f} ms")
    print(f"  finished clip (cold)      {t_cold * 1e3:8.1f} ms   = {t_cold / t_bare:5.1f}x bare, "
          f"{t_cold / (t_bare + t_encode):4.2f}x bare + encode")
    print(f"  cache hit                 {t_hit * 1e3:8.2f} ms")


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-") as tmp:
        for label, text in (("60-char text", TEXT_60), ("300-char text", TEXT_300)):
            bench(label, text, args.runs, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
