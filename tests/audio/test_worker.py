"""Tests of the render worker process: the caller stays light, the child restarts, idles out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from audio import AudioFormat
from audio.const import RENDER_WORKER_NICE
from audio.worker import EngineSpec, RenderWorker
from tests.audio.conftest import CACHE_BYTES, SHORT_TEXT, probe

ESPEAK = EngineSpec(engine="espeak")
WAIT_S = 60.0  # a hang guard, not a speed limit
LONG_TEXT = SHORT_TEXT * 20


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); its state letter says it has ended.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ")[-1].startswith(("Z", "X"))


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_render_happens_in_a_child_process(tmp_path: Path) -> None:
    """Test that clips are made by another process, at a lower priority, and play correctly."""
    worker = RenderWorker(tmp_path / "cache", CACHE_BYTES, ESPEAK)
    try:
        clip = worker.render(SHORT_TEXT, fmt=AudioFormat("mp3", 16_000, 1, 48))
        stats = worker.stats()
        child_nice = os.getpriority(os.PRIO_PROCESS, stats.pid)
    finally:
        worker.close()
    assert stats.pid != os.getpid()
    # The daemon's protection work always wins the CPU over a render.
    assert child_nice >= os.getpriority(os.PRIO_PROCESS, 0) + RENDER_WORKER_NICE
    assert probe(clip.path).sample_rate == 16_000
    assert _gone(stats.pid)  # close() ends the child


@pytest.mark.timeout(600)  # loads the neural model: slow on a busy box
def test_the_caller_never_loads_the_neural_model(tmp_path: Path) -> None:
    """Test that a Kokoro render leaves onnxruntime, numpy and jieba out of the calling process."""
    script = (
        "import sys; from pathlib import Path\n"
        "from audio.worker import RenderWorker, EngineSpec\n"
        f"w = RenderWorker(Path({str(tmp_path / 'cache')!r}), {CACHE_BYTES}, EngineSpec())\n"
        f"clip = w.render({SHORT_TEXT!r})\n"
        "peak = w.stats().peak_rss_bytes\n"
        "w.close()\n"
        "print(sorted(m for m in ('onnxruntime', 'numpy', 'jieba', 'misaki') if m in sys.modules),"
        " peak > 200 * 1024 * 1024, clip.duration_s > 1)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[] True True", out.stderr


def test_a_killed_worker_is_replaced_and_the_clip_still_made(tmp_path: Path) -> None:
    """Test that kill -9 of the worker mid-render costs a retry in a new worker, not the clip."""
    worker = RenderWorker(tmp_path / "cache", CACHE_BYTES, ESPEAK)
    try:
        first_pid = worker.stats().pid
        ticks = _cpu_ticks(first_pid)
        result: dict[str, object] = {}
        thread = threading.Thread(target=lambda: result.update(
            clip=worker.render(LONG_TEXT, fmt=AudioFormat("wav", 22_050, 1, None))))
        thread.start()
        _wait(lambda: _cpu_ticks(first_pid) > ticks, "the worker to start rendering")
        os.kill(first_pid, signal.SIGKILL)
        thread.join(WAIT_S)
        assert "clip" in result
        assert probe(result["clip"].path).duration_s > 5  # type: ignore[union-attr]
        second_pid = worker.stats().pid
        assert second_pid != first_pid
        assert worker.render("第二条", fmt=AudioFormat()).duration_s > 0.3
    finally:
        worker.close()


def test_an_idle_worker_exits_and_starts_again_on_demand(tmp_path: Path) -> None:
    """Test that the child ends after its idle time (memory returned) and comes back when asked."""
    worker = RenderWorker(tmp_path / "cache", CACHE_BYTES, ESPEAK, idle_s=0.5)
    try:
        pid = worker.stats().pid
        _wait(lambda: _gone(pid) and not worker.running, "the idle worker to exit")
        clip = worker.render(SHORT_TEXT)
        assert clip.duration_s > 0.3
        assert worker.stats().pid != pid
    finally:
        worker.close()


def test_worker_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    """Test that a kill -9 of the daemon does not leave the worker (and its memory) behind."""
    script = (
        "import sys; from pathlib import Path\n"
        "from audio.worker import RenderWorker, EngineSpec\n"
        f"w = RenderWorker(Path({str(tmp_path / 'cache')!r}), {CACHE_BYTES}, "
        "EngineSpec(engine='espeak'))\n"
        "print(w.stats().pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(WAIT_S)
        _wait(lambda: _gone(child), "the orphaned worker to exit")
    finally:
        parent.kill()


def test_close_does_not_wait_for_a_render_in_progress(tmp_path: Path) -> None:
    """Test that close() ends a busy worker (a stopping daemon never waits for a long clip)."""
    worker = RenderWorker(tmp_path / "cache", CACHE_BYTES, ESPEAK)
    pid = worker.stats().pid
    ticks = _cpu_ticks(pid)
    errors: list[BaseException] = []

    def render() -> None:
        try:
            worker.render(LONG_TEXT * 4, fmt=AudioFormat("wav", 22_050, 1, None))
        except Exception as err:  # noqa: BLE001 - the abandoned render's error is the point
            errors.append(err)

    thread = threading.Thread(target=render)
    thread.start()
    _wait(lambda: _cpu_ticks(pid) > ticks, "the worker to start rendering")
    worker.close()
    assert _gone(pid)
    thread.join(WAIT_S)
    assert errors, "the abandoned render must fail, not hang or return a clip"


def test_unload_after_zero_keeps_the_voice_loaded(tmp_path: Path) -> None:
    """Test that `audio.unload_after_s: 0` keeps the neural worker up past any idle time.

    A worker set to unload after 1 s runs beside it: once that one has gone, the kept one has
    been idle longer than that, and must still be the same process.
    """
    from edge.config.audio import AudioConfig  # noqa: PLC0415 - the daemon's side of the worker
    from edge.speakers.rendering import make_renderer  # noqa: PLC0415

    kept = make_renderer(AudioConfig(unload_after_s=0), tmp_path / "kept", CACHE_BYTES)
    unloading = make_renderer(AudioConfig(unload_after_s=1), tmp_path / "unloading", CACHE_BYTES)
    try:
        kept_pid = kept.worker.stats().pid
        other_pid = unloading.worker.stats().pid
        _wait(lambda: _gone(other_pid) and not unloading.worker.running,
              "the unloading worker to exit")
        assert kept.worker.running
        assert not _gone(kept_pid)
        assert kept.worker.stats().pid == kept_pid
    finally:
        kept.close()
        unloading.close()
