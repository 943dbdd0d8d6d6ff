"""The ``gridedge`` command. Exit codes: 0 ok, 1 runtime failure, 2 invalid config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.app import App, configure_logging
from edge.config import ConfigError, GridedgeConfig, load_config, read_yaml
from edge.i18n import LANGUAGES, _, set_language
from edge.profiles import ProfileRegistry, load_registry
from edge.registry import load_modules

__all__ = ["main", "print_problems", "quiet_broker_log"]

logger = logging.getLogger("edge.cli")

# Modules that add subcommands; each has ``add_parser(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "edge.cli_audio",
    "edge.posts.cli",
    "edge.sim.cli",
    "edge.schedule.cli",
    "edge.speakers.cli",
    "edge.alerts.cli",
    "edge.bridge.cli",
    "edge.console.cli",
    "edge.district.cli",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the process's)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_FAILED
    _choose_language(args)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # `gridedge posts status | head`: the reader has what it wanted. Point stdout at
        # /dev/null so that the interpreter's own flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_OK
    if argv is None:
        sys.exit(code)
    return code


def quiet_broker_log() -> None:
    """For a command that talks to the daemon over MQTT and reports a broker it cannot reach in
    its own words: the client's "retrying" log line (for the daemon's log) would only confuse."""
    logging.getLogger("edge.mqtt").setLevel(logging.CRITICAL)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridedge", description="gridedge: community edge "
                                     "controller for announcements and charging-post protection")
    parser.add_argument("--lang", choices=LANGUAGES, help="language of messages (default: the "
                        "site's, else zh)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(metavar="COMMAND")

    check = sub.add_parser("check", help="validate config, profiles and schedules")
    check.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    check.set_defaults(func=cmd_check)

    run = sub.add_parser("run", help="run the edge daemon")
    run.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="embedded broker + daemon + simulators, printing events")
    demo.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    demo.add_argument("--duration", type=float, default=0.0,
                      help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--no-tty", action="store_true", help="plain event log, no live view")
    demo.set_defaults(func=cmd_demo)

    for module in load_modules(COMMAND_MODULES):
        module.add_parser(sub)
    return parser


def _choose_language(args: argparse.Namespace) -> None:
    """--lang, else the site's language (read leniently: the file may be invalid), else zh."""
    lang = args.lang
    config_path = getattr(args, "config", None)
    if lang is None and config_path is not None:
        try:
            site = read_yaml(Path(config_path)).data.get("site", {})
            candidate = site.get("language") if isinstance(site, dict) else None
            lang = candidate if candidate in LANGUAGES else None
        except (ConfigError, AttributeError):
            lang = None
    set_language(lang or "zh")


def _load(path: Path) -> tuple[GridedgeConfig, ProfileRegistry]:
    profiles = load_registry()
    return load_config(path, profiles=profiles), profiles


def print_problems(err: ConfigError) -> None:
    """Print every problem of a config, profile or schedule file, then the count, to stderr."""
    for problem in err.problems:
        print(problem, file=sys.stderr)
    print(_("{count} problem(s) found; nothing was started.").format(count=len(err.problems)),
          file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """``gridedge check``: exit 0 when everything is valid, 2 with every problem listed."""
    try:
        config, profiles = _load(args.config)
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    from edge.reachability import reachability_problems  # noqa: PLC0415 - check only
    from edge.schedule.cli import check_schedules  # noqa: PLC0415 - check only

    # Every problem in one run: the schedules' and who can be paged.
    problems = []
    try:
        check_schedules(config)
    except ConfigError as err:
        problems += err.problems
    problems += reachability_problems(config)
    if problems:
        print_problems(ConfigError(problems))
        return EXIT_INVALID
    from edge.config.advice import security_warnings  # noqa: PLC0415 - check only

    for warning in security_warnings(config):
        print(_("warning: {text}").format(text=warning), file=sys.stderr)
    print(_("{file} is valid: site {site}, {speakers} speakers, {posts} charging posts, "
            "{areas} grid areas, {profiles} device profiles.").format(
        file=args.config, site=config.site.name, speakers=len(config.speakers.devices),
        posts=len(config.posts.devices), areas=len(config.areas), profiles=len(profiles)))
    return EXIT_OK


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _run_daemon(config: GridedgeConfig, profiles: ProfileRegistry,
                      duration: float = 0.0) -> None:
    stop = asyncio.Event()
    _install_stop_signals(stop)
    if duration > 0:
        asyncio.get_running_loop().call_later(duration, stop.set)
    await App(config, profiles).run(stop)


def cmd_run(args: argparse.Namespace) -> int:
    """``gridedge run``: the daemon, until SIGTERM or SIGINT."""
    try:
        config, profiles = _load(args.config)
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    if args.lang is None:
        set_language(config.site.language)
    configure_logging(config, verbose=args.verbose)
    try:
        asyncio.run(_run_daemon(config, profiles))
    except Exception:
        logger.exception("the daemon stopped on an unexpected error")
        return EXIT_FAILED
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``gridedge demo``: embedded broker, the daemon and the simulators, printing what happens."""
    from edge.demo import run_demo  # noqa: PLC0415 - keeps `check` fast

    try:
        config, profiles = _load(args.config)
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    configure_logging(config, verbose=args.verbose)
    plain = args.no_tty or not sys.stdout.isatty() or os.environ.get("TERM") == "dumb"
    return run_demo(config, profiles, duration=args.duration, plain=plain, raw=args.verbose)
