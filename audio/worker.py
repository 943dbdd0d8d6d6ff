"""Rendering in a child process: the caller never loads a neural model, and gets its memory back.

A neural voice holds ~600 MB and keeps both cores busy while it speaks. `RenderWorker` runs a
`ClipRenderer` in one child process (started with ``spawn``: never a fork of a threaded daemon)
at a lower CPU priority, so the caller's own latency does not move while a clip renders. The
child is started on demand, exits after an idle period (its memory goes back to the system), is
started again if it dies (a render it was doing is retried once), and exits if its parent dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from audio.const import (
    ESPEAK_DEFAULT_RATE_WPM,
    ESPEAK_DEFAULT_VOICE,
    KOKORO_DEFAULT_SPEED,
    RENDER_WORKER_IDLE_S,
    RENDER_WORKER_NICE,
    RENDER_WORKER_PARENT_POLL_S,
    RENDER_WORKER_STOP_S,
)
from audio.engines.base import TtsEngine
from audio.engines.espeak import EspeakEngine
from audio.engines.kokoro import KokoroEngine
from audio.engines.piper import PiperEngine
from audio.errors import AudioError
from audio.models import AudioFormat, Composition, RenderedClip, VoiceInfo
from audio.renderer import ClipRenderer

__all__ = [
    "EngineSpec",
    "InProcessRenderer",
    "RenderWorker",
    "RenderWorkerError",
    "WorkerStats",
    "build_engines",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s[render]: %(message)s"


class RenderWorkerError(AudioError):
    """The render worker process died twice on the same clip, or could not start."""


@dataclass(frozen=True)
class EngineSpec:
    """Which engines to build in the worker (picklable: it crosses the process boundary).

    Args:
        engine: "kokoro", "espeak" or "piper": the default engine.
        voice: the default engine's voice; its own default when None.
        speed: Kokoro's speaking speed.
        rate_wpm: espeak-ng's rate in words per minute.
        piper_model: the Piper voice file (engine "piper" only).
        kokoro_model: an ONNX file instead of Kokoro's PyPI packages.
        pronunciations: (word, pinyin with tone numbers) pairs for the neural voice.

    """

    engine: str = "kokoro"
    voice: str | None = None
    speed: float = KOKORO_DEFAULT_SPEED
    rate_wpm: int = ESPEAK_DEFAULT_RATE_WPM
    piper_model: Path | None = None
    kokoro_model: Path | None = None
    pronunciations: tuple[tuple[str, str], ...] = field(default=())


def build_engines(spec: EngineSpec) -> list[TtsEngine]:
    """The default engine first, then espeak-ng as the fallback when the first cannot load."""
    engines: list[TtsEngine] = []
    if spec.engine == "kokoro":
        engines.append(KokoroEngine(spec.voice or KokoroEngine().default_voice, spec.speed,
                                    dict(spec.pronunciations), spec.kokoro_model))
    elif spec.engine == "piper":
        if spec.piper_model is None:
            msg = "engine piper needs a voice model file"
            raise AudioError(msg)
        engines.append(PiperEngine(spec.piper_model))
    espeak_voice = spec.voice if spec.engine == "espeak" and spec.voice else ESPEAK_DEFAULT_VOICE
    engines.append(EspeakEngine(espeak_voice, spec.rate_wpm))
    return engines


@dataclass(frozen=True)
class WorkerStats:
    """The worker process as it reports itself."""

    pid: int
    peak_rss_bytes: int


# -- the child's side ------------------------------------------------------------------------------

_child_renderer: ClipRenderer | None = None


def _child_init(cache_dir: Path, max_bytes: int, spec: EngineSpec, log_level: int,
                parent_pid: int) -> None:
    global _child_renderer  # noqa: PLW0603 - one renderer per worker process
    # Ctrl-C in a terminal reaches the whole process group: the daemon stops its worker itself
    # (close(), or the parent watch below), so the worker must not die mid-render with a
    # KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=_LOG_FORMAT)
    try:
        os.nice(RENDER_WORKER_NICE)  # the daemon's protection work comes first
    except OSError as err:
        logger.warning("render worker: cannot lower its priority: %s", err)
    _child_renderer = ClipRenderer(cache_dir, max_bytes, build_engines(spec))
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="parent-watch").start()


def _watch_parent(parent_pid: int) -> None:
    # Orphaned by a kill -9 of the daemon: leave rather than hold 600 MB for nobody.
    while os.getppid() == parent_pid:
        time.sleep(RENDER_WORKER_PARENT_POLL_S)
    os._exit(0)


def _child() -> ClipRenderer:
    assert _child_renderer is not None, "worker initialiser did not run"
    return _child_renderer


def _child_render(text: str, kwargs: dict[str, Any]) -> RenderedClip:
    return _child().render(text, **kwargs)


def _child_render_recorded(path: Path, composition: Composition | None,
                           fmt: AudioFormat | None) -> RenderedClip:
    return _child().render_recorded(path, composition, fmt)


def _child_warm_up() -> str:
    engine = _child().engine()
    warm = getattr(engine, "warm_up", None)
    if warm is not None:
        try:
            warm()
        except AudioError as err:
            return str(err)
    return ""


def _child_voices() -> list[VoiceInfo]:
    result: list[VoiceInfo] = []
    for engine in _child().engines:
        result.extend(engine.voices())
    return result


def _child_stats() -> WorkerStats:
    # ru_maxrss is in KiB on Linux.
    return WorkerStats(os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


# -- the caller's side ----------------------------------------------------------------------------

class RenderWorker:
    """A `ClipRenderer` in a child process, with the same ``render`` methods (blocking calls).

    Args:
        cache_dir: the clip cache (shared with anything else that renders into it).
        max_cache_bytes: its size bound.
        spec: the engines to build in the child.
        idle_s: the child exits after this long without work; started again on demand.
            0 keeps it (and its model) for as long as this object lives.

    """

    def __init__(self, cache_dir: Path, max_cache_bytes: int, spec: EngineSpec | None = None,
                 idle_s: float = RENDER_WORKER_IDLE_S) -> None:
        """Store the settings; the child starts with the first call (or `warm_up`)."""
        self._cache_dir = Path(cache_dir)
        self._max_bytes = max_cache_bytes
        self.spec = spec or EngineSpec()
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._busy = 0
        self._last_use = time.monotonic()
        self._timer: threading.Timer | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether a child process is up now."""
        with self._lock:
            return self._executor is not None

    def render(self, text: str, **kwargs: Any) -> RenderedClip:  # noqa: ANN401
        """`ClipRenderer.render` in the child; same arguments, same errors."""
        return self._call(_child_render, text, kwargs)

    def render_recorded(self, path: Path, composition: Composition | None = None,
                        fmt: AudioFormat | None = None) -> RenderedClip:
        """`ClipRenderer.render_recorded` in the child."""
        return self._call(_child_render_recorded, Path(path), composition, fmt)

    def voices(self) -> list[VoiceInfo]:
        """Voices of the child's engines, available or not."""
        return self._call(_child_voices)

    def warm_up(self) -> str:
        """Start the child and load its default engine; returns why it cannot load, or ""."""
        return self._call(_child_warm_up)

    def warm_up_soon(self) -> None:
        """`warm_up` in the background (for a daemon that wants its first clip fast)."""
        threading.Thread(target=self._warm_quietly, daemon=True, name="render-warm").start()

    def stats(self) -> WorkerStats:
        """Pid and peak RSS of the child (started if it is not running)."""
        return self._call(_child_stats)

    def close(self) -> None:
        """Stop the child now: a render or model load in progress is abandoned, not awaited."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            if self._timer is not None:
                self._timer.cancel()
        if executor is None:
            return
        # ProcessPoolExecutor has no public way to end a busy worker before Python 3.14
        # (terminate_workers); a daemon that stops must not wait for a minute-long render.
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(RENDER_WORKER_STOP_S)

    # -- internals ---------------------------------------------------------------------------------

    def _warm_quietly(self) -> None:
        try:
            reason = self.warm_up()
        except AudioError as err:
            reason = "" if self._closed else str(err)
        if reason:
            logger.error("render worker: default voice unusable, espeak-ng will speak: %s", reason)

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:  # noqa: ANN401
        for attempt in (1, 2):
            executor = self._acquire()
            try:
                return executor.submit(fn, *args).result()
            except BrokenProcessPool as err:
                self._discard(executor)
                if attempt == 2:  # noqa: PLR2004
                    msg = "render worker died twice on the same clip"
                    raise RenderWorkerError(msg) from err
                logger.warning("render worker died (%s); starting a new one", err)
            finally:
                self._release()
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _acquire(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                msg = "render worker is closed"
                raise RenderWorkerError(msg)
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_init,
                    initargs=(self._cache_dir, self._max_bytes, self.spec,
                              logging.getLogger().getEffectiveLevel(), os.getpid()))
                logger.info("render worker starting (%s engine)", self.spec.engine)
            self._busy += 1
            return self._executor

    def _release(self) -> None:
        with self._lock:
            self._busy -= 1
            self._last_use = time.monotonic()
            if self._timer is not None:
                self._timer.cancel()
            if self._executor is not None and not self._closed and self._idle_s > 0:
                self._timer = threading.Timer(self._idle_s, self._stop_if_idle)
                self._timer.daemon = True
                self._timer.start()

    def _stop_if_idle(self) -> None:
        with self._lock:
            idle = time.monotonic() - self._last_use
            if self._busy or self._executor is None or idle < self._idle_s * 0.99:
                return
            executor, self._executor = self._executor, None
        logger.info("render worker idle for %.0f s: stopping it to free its memory", idle)
        executor.shutdown(wait=True)

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)


class InProcessRenderer:
    """The same interface as `RenderWorker`, rendering in the calling process.

    For espeak-ng alone: its library adds about 4 MB and speaks 60 characters in ~15 ms, so a
    child process would cost more (a start of ~0.5 s) than it saves.
    """

    running = True

    def __init__(self, cache_dir: Path, max_cache_bytes: int, spec: EngineSpec | None = None,
                 ) -> None:
        """Build the renderer; engines still load on first use."""
        self.spec = spec or EngineSpec(engine="espeak")
        self._renderer = ClipRenderer(cache_dir, max_cache_bytes, build_engines(self.spec))

    def render(self, text: str, **kwargs: Any) -> RenderedClip:  # noqa: ANN401
        """`ClipRenderer.render`."""
        return self._renderer.render(text, **kwargs)

    def render_recorded(self, path: Path, composition: Composition | None = None,
                        fmt: AudioFormat | None = None) -> RenderedClip:
        """`ClipRenderer.render_recorded`."""
        return self._renderer.render_recorded(Path(path), composition, fmt)

    def voices(self) -> list[VoiceInfo]:
        """Voices of the engines."""
        return [v for engine in self._renderer.engines for v in engine.voices()]

    def warm_up(self) -> str:
        """Nothing to warm: espeak-ng loads in milliseconds."""
        return ""

    def warm_up_soon(self) -> None:
        """Nothing to warm."""

    def stats(self) -> WorkerStats:
        """This process."""
        return _child_stats()

    def close(self) -> None:
        """Nothing to stop."""
