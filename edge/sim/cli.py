"""``gridedge simulate``: virtual devices speaking real device profiles, against a real broker.

Simulators join through :data:`SIMULATOR_MODULES`; each such module has ``add_arguments(parser)``
(its own options, in its own argument group, with option names of its own) and
``async def simulate(config, profiles, args, stop)`` (runs until ``stop`` is set; raises
SimInputError for bad input), and may set ``NAME`` (for ``--only``; default: the module's last
name, e.g. ``posts``). A module not written yet, or without those two functions, is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from types import ModuleType

from edge.cli import print_problems
from edge.config import ConfigError, GridedgeConfig, load_config
from edge.i18n import set_language
from edge.profiles import ProfileRegistry, load_registry
from edge.registry import load_modules
from edge.sim.errors import SimInputError
from edge.sim.posts import positive

__all__ = ["SIMULATOR_MODULES", "add_parser", "cmd_simulate"]

SIMULATOR_MODULES: tuple[str, ...] = (
    "edge.sim.posts",
    "edge.sim.speakers",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def _simulators() -> dict[str, ModuleType]:
    found = {}
    for module in load_modules(SIMULATOR_MODULES):
        found[getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])] = module
    return found


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate`` to the ``gridedge`` command."""
    simulators = _simulators()
    parser = subparsers.add_parser(
        "simulate", help="virtual charging posts and speakers that speak real device profiles",
        description="Run the devices of config.yaml as virtual devices against its MQTT broker.")
    parser.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    parser.add_argument("--only", action="append", choices=sorted(simulators),
                        help="run only this simulator (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed: the same seed gives the same residents and chargers")
    parser.add_argument("--speed", type=positive, default=1.0,
                        help="time compression of charging and usage (60 = an hour a minute); "
                        "faults keep real time")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (default: until Ctrl-C)")
    for module in simulators.values():
        module.add_arguments(parser)
    parser.set_defaults(func=cmd_simulate)


async def _run(args: argparse.Namespace, modules: list[ModuleType], config: GridedgeConfig,
               profiles: ProfileRegistry) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.duration > 0:
        loop.call_later(args.duration, stop.set)
    tasks = [asyncio.ensure_future(m.simulate(config, profiles, args, stop)) for m in modules]
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def cmd_simulate(args: argparse.Namespace) -> int:
    """``gridedge simulate``: until SIGTERM/SIGINT or ``--duration``; exit 2 on bad input."""
    from edge.app import configure_logging  # noqa: PLC0415 - keeps `--help` fast

    modules = [m for name, m in _simulators().items() if not args.only or name in args.only]
    profiles = load_registry()
    try:
        config = load_config(args.config, profiles=profiles)
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    if args.lang is None:
        set_language(config.site.language)
    configure_logging(config, verbose=args.verbose)
    try:
        asyncio.run(_run(args, modules, config, profiles))
    except SimInputError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
