"""The site's clip renderer, built from config.yaml's ``audio:`` section in one place.

The daemon's speaker fleet (and so ``gridedge say``, the scheduler and the demo) and
``gridedge audio render`` all get their renderer from :func:`build_renderer`, so the site's
engine, voice, pronunciations, chime, pre-roll, gap and loudness reach every clip. Rendering runs
in a worker process (:class:`audio.worker.RenderWorker`): the daemon never loads the neural model.
espeak-ng alone is light enough to render in the daemon's own threads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio import AudioFormat, Composition, RenderedClip
from audio.models import GENERATED_CHIME
from audio.worker import EngineSpec, InProcessRenderer, RenderWorker

from edge.config.audio import AudioConfig, TtsEngineName

if TYPE_CHECKING:
    from edge.config import GridedgeConfig

__all__ = ["SiteRenderer", "build_renderer", "engine_spec", "make_renderer", "site_composition"]


def engine_spec(audio: AudioConfig, base_dir: Path | None = None) -> EngineSpec:
    """The worker's engines from the ``audio:`` section (paths resolved against base_dir)."""
    piper = audio.piper_model
    if piper is not None and base_dir is not None and not piper.is_absolute():
        piper = base_dir / piper
    return EngineSpec(engine=audio.engine.value, voice=audio.voice, speed=audio.speed,
                      rate_wpm=audio.rate_wpm, piper_model=piper,
                      pronunciations=tuple(audio.pronunciations.items()))


def site_composition(audio: AudioConfig, repeat: int = 1) -> Composition:
    """Chime, pre-roll, gap and loudness of the site, for a clip said ``repeat`` times."""
    return Composition(chime=GENERATED_CHIME if audio.chime else None,
                       pre_roll_ms=audio.pre_roll_ms, repeat=repeat, gap_ms=audio.gap_ms,
                       target_lufs=audio.target_lufs)


class SiteRenderer:
    """Renders with the site's voice and composition; callers choose only what varies per play.

    A caller's `Composition` contributes its ``repeat`` (and its chime/outro files when it names
    any); everything else comes from config.yaml.
    """

    def __init__(self, audio: AudioConfig, worker: RenderWorker | InProcessRenderer) -> None:
        """Keep the section and the worker; the worker process starts on the first render."""
        self.audio = audio
        self.worker = worker

    def composition(self, asked: Composition | None = None) -> Composition:
        """The site's composition, with the caller's repeat and any chime/outro file it names."""
        site = site_composition(self.audio, asked.repeat if asked else 1)
        if asked is None:
            return site
        changes: dict[str, Any] = {}
        if asked.chime not in (None, GENERATED_CHIME):
            changes["chime"] = asked.chime
        if asked.outro is not None:
            changes["outro"] = asked.outro
        return dataclasses.replace(site, **changes) if changes else site

    def render(self, text: str, *, composition: Composition | None = None,
               fmt: AudioFormat | None = None) -> RenderedClip:
        """Speak text with the site's engine and voice (espeak-ng if that engine cannot load)."""
        return self.worker.render(text, composition=self.composition(composition), fmt=fmt)

    def render_part(self, text: str, *, index: int, repeat: int = 1, lead_ms: int = 0,
                    fmt: AudioFormat | None = None) -> RenderedClip:
        """One part of an announcement played in parts (see :mod:`edge.speakers.parts`).

        The first part opens like any clip (chime, pre-roll); a later part follows the one
        before it on the speaker, so it has neither, only ``lead_ms`` of silence.
        """
        composition = site_composition(self.audio, repeat)
        if index > 0:
            composition = dataclasses.replace(composition, chime=None, pre_roll_ms=lead_ms)
        return self.worker.render(text, composition=composition, fmt=fmt)

    def render_recorded(self, path: Path, composition: Composition | None = None,
                        fmt: AudioFormat | None = None) -> RenderedClip:
        """A recorded clip with the site's chime and loudness."""
        return self.worker.render_recorded(path, self.composition(composition), fmt)

    def close(self) -> None:
        """Stop the worker process."""
        self.worker.close()


def build_renderer(config: GridedgeConfig, *, audio: AudioConfig | None = None,
                   cache_dir: Path | None = None, warm: bool = False) -> SiteRenderer:
    """The one renderer of a site: its ``audio:`` section, its clip cache in the data directory.

    Args:
        config: the loaded site configuration.
        audio: the section to use instead of the site's (``gridedge audio render --engine``).
        cache_dir: a clip cache other than the site's.
        warm: for a neural voice, start the worker and load the model now, in the background,
            so that an emergency soon after start does not wait for it (the daemon does).

    """
    section = audio or config.audio
    renderer = make_renderer(section, cache_dir or config.data_dir / "clips",
                             config.storage.clip_cache_mb * 1024 * 1024,
                             config.resolve(Path(".")))
    if warm and section.engine is TtsEngineName.KOKORO:
        renderer.worker.warm_up_soon()
    return renderer


def make_renderer(audio: AudioConfig, cache_dir: Path, cache_bytes: int,
                  base_dir: Path | None = None) -> SiteRenderer:
    """A renderer from an ``audio:`` section alone (no site file: the built-in defaults).

    Neural engines render in a worker process; espeak-ng alone (a few MB, milliseconds per
    clip) renders in this process, where starting a child would cost more than it saves.
    """
    spec = engine_spec(audio, base_dir)
    if audio.engine is TtsEngineName.ESPEAK:
        return SiteRenderer(audio, InProcessRenderer(cache_dir, cache_bytes, spec))
    return SiteRenderer(audio, RenderWorker(cache_dir, cache_bytes, spec,
                                            idle_s=audio.unload_after_s))
