"""The ``gridedge bridge`` command: serial RS-485 posts ↔ MQTT, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from edge.app import configure_logging
from edge.cli import print_problems
from edge.config import ConfigError
from edge.i18n import set_language

if TYPE_CHECKING:
    from edge.bridge.runner import BridgeRunner

__all__ = ["add_parser", "cmd_bridge"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bridge`` to the ``gridedge`` command."""
    bridge = subparsers.add_parser("bridge", help="poll serial RS-485 posts and meters, "
                                   "publish them on MQTT, execute cut-offs")
    bridge.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    bridge.set_defaults(func=cmd_bridge)


async def _run(runner: BridgeRunner) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.run(stop)


def cmd_bridge(args: argparse.Namespace) -> int:
    """``gridedge bridge``: exit 0 after a clean stop, 2 when the config or a map is invalid."""
    # Imported here: every gridedge command (the daemon too) loads this module to list its
    # subcommand, and the bridge's code with pymodbus costs ~11 MiB that only the bridge needs.
    from edge.bridge.runner import BridgeRunner  # noqa: PLC0415
    from edge.bridge.setup import load_bridge  # noqa: PLC0415

    try:
        config, maps = load_bridge(args.config)
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    if args.lang is None:
        set_language(config.site.language)
    configure_logging(config, verbose=args.verbose)
    try:
        asyncio.run(_run(BridgeRunner(config, maps)))
    except Exception:
        logger.exception("the bridge stopped on an unexpected error")
        return EXIT_FAILED
    return EXIT_OK
