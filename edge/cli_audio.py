"""The ``gridedge audio`` commands: render a clip by hand, list the voices."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from pydantic import ValidationError

from audio import AudioError, AudioFormat, Composition, VoiceInfo, list_voices
from audio.engines import speaks_chinese
from audio.worker import build_engines
from edge.config import ConfigError, load_config
from edge.config.audio import AudioConfig, TtsEngineName
from edge.i18n import _
from edge.speakers.rendering import SiteRenderer, build_renderer, engine_spec, make_renderer

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

_CLI_CACHE_BYTES = 256 * 1024 * 1024
# Formats for -o without --profile, by file suffix.
_SUFFIX_FORMATS = {".mp3": AudioFormat(), ".wav": AudioFormat("wav", 22_050, 1, None)}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audio render`` and ``audio voices`` to the ``gridedge`` command."""
    audio = subparsers.add_parser("audio", help="make an announcement clip by hand, list voices")
    sub = audio.add_subparsers(dest="audio_command", metavar="SUBCOMMAND", required=True)

    render = sub.add_parser("render", help="speak a text into a clip file")
    render.add_argument("text", help='the announcement, e.g. "请于12月31日前缴纳物业费"')
    render.add_argument("-o", "--output", type=Path, required=True,
                        help="clip file to write (.mp3 or .wav)")
    render.add_argument("--profile", help="speaker profile whose audio format to use, "
                        "e.g. tasmota-i2s (default: from the -o suffix)")
    render.add_argument("--voice", help="voice id from `gridedge audio voices` "
                        "(default: config.yaml's audio.voice, else the engine's own)")
    render.add_argument("--chime", help="'generated', 'none' or a sound file played before the "
                        "speech (default: config.yaml's audio.chime)")
    render.add_argument("--outro", type=Path, help="sound file played after the speech")
    render.add_argument("--repeat", type=int, default=1, help="times the speech is said")
    render.add_argument("--gap-ms", type=int, default=None, help="silence between repeats, ms")
    render.add_argument("--target-lufs", type=float, default=None, help="loudness, LUFS")
    render.add_argument("--recorded", action="store_true",
                        help="TEXT is the path of a recorded WAV/MP3 clip, not words to speak")
    _add_engine_options(render)
    render.set_defaults(func=cmd_audio_render)

    voices = sub.add_parser("voices", help="list the voices and whether each can be used")
    voices.add_argument("--all", action="store_true", help="every language, not only Chinese")
    _add_engine_options(voices)
    voices.set_defaults(func=cmd_audio_voices)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="site config.yaml whose audio: section to use (engine, voice, "
                        "pronunciations, chime, loudness); default: the built-in defaults")
    parser.add_argument("--engine", choices=[e.value for e in TtsEngineName],
                        help="text-to-speech engine (default: config.yaml's audio.engine, kokoro)")
    parser.add_argument("--piper-model", type=Path,
                        help="a local Piper voice (.onnx, with its .onnx.json beside it)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="clip cache (default: the site's data directory with -c, else "
                        "$XDG_CACHE_HOME/gridedge/clips)")


def _site(args: argparse.Namespace) -> tuple[SiteRenderer, AudioConfig] | None:
    """The site's renderer and audio section, with the command line's engine/voice on top."""
    config = None
    if args.config is not None:
        try:
            config = load_config(args.config)
        except ConfigError as err:
            for problem in err.problems:
                print(problem, file=sys.stderr)
            return None
    audio = config.audio if config is not None else AudioConfig()
    changes: dict[str, object] = {}
    if args.piper_model is not None:
        changes.update(engine=TtsEngineName.PIPER, piper_model=args.piper_model, voice=None)
    if args.engine is not None:
        changes.update(engine=TtsEngineName(args.engine), voice=None)
    if getattr(args, "voice", None):
        changes["voice"] = args.voice
    if changes:
        try:
            audio = AudioConfig.model_validate({**audio.model_dump(), **changes})
        except ValidationError as err:
            _error("; ".join(str(e.get("msg", e)) for e in err.errors()))
            return None
    if config is not None:
        return build_renderer(config, audio=audio, cache_dir=args.cache_dir), audio
    return make_renderer(audio, _cache_dir(args), _CLI_CACHE_BYTES), audio


def _cache_dir(args: argparse.Namespace) -> Path:
    if args.cache_dir is not None:
        return Path(args.cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gridedge" / "clips"


def _format(args: argparse.Namespace) -> AudioFormat | None:
    """The speaker format from --profile or the output suffix; None after printing why not."""
    if args.profile is None:
        fmt = _SUFFIX_FORMATS.get(args.output.suffix.lower())
        if fmt is None:
            _error(_("the output file must end in .mp3 or .wav, or give --profile"))
        return fmt
    try:
        from edge.profiles import load_registry  # noqa: PLC0415 - profiles load only when asked

        spec = load_registry().get(args.profile).audio
    except KeyError as err:
        _error(str(err.args[0]) if err.args else str(err))
        return None
    except Exception as err:  # noqa: BLE001 - a broken profile set must not crash the CLI
        _error(_("cannot load the device profiles: {error}").format(error=err))
        return None
    if spec is None:
        _error(_("profile {profile} has no audio format: the speaker speaks text itself")
               .format(profile=args.profile))
        return None
    try:
        return AudioFormat(spec.codec, spec.sample_rate, spec.channels, spec.bitrate_kbps)
    except AudioError as err:
        _error(_("profile {profile}: {error}").format(profile=args.profile, error=err))
        return None


def _composition(args: argparse.Namespace, renderer: SiteRenderer) -> Composition:
    """The site's composition with what the command line sets on top."""
    site = renderer.composition(Composition(repeat=args.repeat))
    chime: str | Path | None = site.chime
    if args.chime is not None:
        chime = None if args.chime == "none" else args.chime
    return Composition(
        chime=chime, pre_roll_ms=site.pre_roll_ms, repeat=args.repeat,
        gap_ms=site.gap_ms if args.gap_ms is None else args.gap_ms, outro=args.outro,
        target_lufs=site.target_lufs if args.target_lufs is None else args.target_lufs,
    )


def cmd_audio_render(args: argparse.Namespace) -> int:
    """Render one clip (in the render worker) and copy it to the output path."""
    fmt = _format(args)
    if fmt is None:
        return EXIT_INVALID
    site = _site(args)
    if site is None:
        return EXIT_INVALID
    renderer, _audio = site
    try:
        composition = _composition(args, renderer)
        if args.recorded:
            clip = renderer.worker.render_recorded(Path(args.text), composition, fmt)
        else:
            clip = renderer.worker.render(args.text, composition=composition, fmt=fmt)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip.path, args.output)
    except ValueError as err:  # AudioFormatError and TextError: wrong input
        _error(str(err))
        return EXIT_INVALID
    except AudioError as err:
        _error(str(err))
        return EXIT_FAILED
    except OSError as err:
        _error(_("cannot write {path}: {error}").format(path=args.output, error=err.strerror))
        return EXIT_FAILED
    finally:
        renderer.close()
    print(_("wrote {path}: {seconds:.1f} s, {codec} {rate} Hz, sha256 {sha}").format(
        path=args.output, seconds=clip.duration_s, codec=fmt.codec, rate=fmt.sample_rate,
        sha=clip.sha256[:16]))
    return EXIT_OK


def cmd_audio_voices(args: argparse.Namespace) -> int:
    """Print one line per voice: engine, id, languages, and why it cannot be used if so."""
    site = _site(args)
    if site is None:
        return EXIT_INVALID
    renderer, audio = site
    renderer.close()
    engines = build_engines(engine_spec(audio))
    default = (engines[0].name, audio.voice or engines[0].default_voice)
    voices = list_voices(engines)
    shown = [v for v in voices if args.all or speaks_chinese(v.languages) or not v.available]
    for voice in shown:
        line = _voice_line(voice)
        if (voice.engine, voice.voice_id) == default:
            line += "  " + _("(default)")
        print(line)
    if not any(v.available for v in shown):
        _error(_("no usable voice: see the reasons above"))
        return EXIT_FAILED
    return EXIT_OK


def _voice_line(voice: VoiceInfo) -> str:
    state = _("ok") if voice.available else _("unavailable: {reason}").format(reason=voice.reason)
    languages = ",".join(voice.languages) or "-"
    return f"{voice.engine:<7} {voice.voice_id:<20} {languages:<24} {voice.name}  [{state}]"


def _error(message: str) -> None:
    print(_("error: {message}").format(message=message), file=sys.stderr)
